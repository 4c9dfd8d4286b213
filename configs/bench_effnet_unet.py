"""The speed benchmark's EfficientNet U-Net: the network of torch_effnet_unet_twin.py.

That is ../shared/bench/torch_effnet_unet_twin.py: an EfficientNet-Lite0 encoder (ReLU6, no
squeeze-excitation, BatchNorm eps 1e-3) on the sRGB gray of the input lightness, features at
strides 2-32; a decoder of bilinear upsampling + skip concatenation + [conv3x3 without bias -
BatchNorm - ReLU] x 2 with widths 192, 96, 64, 32, then 32 at full resolution with the input L;
1x1 head with bias; tanh; L1 loss on ab; plain Adam at one learning rate (no weight decay, no
clipping); batch 16 of 128x128, float32: 4,479,202 parameters, the same work as the twin.
Speed does not depend on the weights, so the encoder starts from random ones here.
Run:
  python -m colorize_jax.tools.benchmark --config=configs/bench_effnet_unet.py \\
      --torch_python=TORCH_VENV/bin/python
  python -m colorize_jax.main --config=configs/bench_effnet_unet.py --workdir=runs/bench_eff
Presets (":PRESET"): "" / cpu / demo (float32, batch 16, as the twin), gpu / tpu (bfloat16
compute with float32 parameters and loss, batch 64 per device).
"""

from colorize_jax import presets


def get_config(preset: str = ""):
    config = presets.base_config()
    config.model = presets.effnet_unet_model(init_from="", dtype="float32")
    config.data.image_size = 128
    config.data.source = "demo"  # the pipeline figure reads it; override with a real source
    config.data.num_workers = 2
    config.per_device_batch_size = 16
    config.optimizer.learning_rate = 1e-3  # the twin's Adam rate (the schedule costs nothing)
    config.optimizer.warmup_steps = 1
    config.optimizer.weight_decay = 0.0  # plain Adam
    config.optimizer.grad_clip_norm = 0.0
    if preset in ("gpu", "tpu"):
        config.model.dtype = "bfloat16"  # float32 parameters and loss
        config.per_device_batch_size = 64
    elif preset not in ("", "cpu", "demo"):
        raise ValueError(
            f"unknown preset {preset!r} of bench_effnet_unet: use '', cpu, demo, gpu or tpu"
        )
    return config
