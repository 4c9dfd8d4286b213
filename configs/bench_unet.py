"""The speed benchmark's U-Net: the reference network of ../shared/bench/torch_unet_twin.py.

Base width 32, depth 4; per block twice [conv3x3 without bias - BatchNorm - ReLU]; max-pool down;
2x2 stride-2 transposed conv up; 1x1 head; tanh; L1 loss on ab; plain Adam (no weight decay, no
clipping); batch 16 of 64x64, float32, so that it does the same work as the PyTorch twin.
Run:
  python -m colorize_jax.tools.benchmark --config=configs/bench_unet.py \
      --torch_python=TORCH_VENV/bin/python
  python -m colorize_jax.main --config=configs/bench_unet.py --workdir=runs/bench_unet  # trains it
Presets (":PRESET"): "" / cpu / demo (float32, batch 16, as the twin), gpu / tpu (bfloat16
compute with float32 parameters and loss, batch 64 per device).
"""

from colorize_jax import presets


def get_config(preset: str = ""):
    config = presets.base_config()
    config.model = presets.unet_model(base_width=32, depth=4, dtype="float32")
    config.data.image_size = 64
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
        raise ValueError(f"unknown preset {preset!r} of bench_unet: use '', cpu, demo, gpu or tpu")
    return config
