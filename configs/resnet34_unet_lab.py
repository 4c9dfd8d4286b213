"""ResNet-34 encoder (torchvision layout) with a U-Net decoder, L -> ab, L1.

The reports' pretrained-encoder setting. Trains from scratch by default; to start from ImageNet
weights, pass torchvision's resnet34 state dict (.pth, read without torch; or .npz, .safetensors)
as --config.model.init_from=PATH.
Run:
  python -m colorize_jax.main --config=configs/resnet34_unet_lab.py:cpu \
      --config.data.source=folder:PATH --workdir=runs/resnet34_unet_lab
Presets: "" / gpu / tpu, cpu (full-width encoder at 64 px), demo (ResNet-18, width 16).
"""

from colorize_jax import presets


def get_config(preset: str = ""):
    config = presets.base_config()
    config.model = presets.resnet_unet_model(resnet_depth=34)
    return presets.apply_preset(config, preset)
