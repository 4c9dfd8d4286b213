"""U-Net predicting RGB from luma (BT.601 Y), L1: the reports' RGB-target setting.

The network sees Y and predicts all three RGB channels; evaluation keeps the ground-truth CIELAB
lightness and takes ab from the prediction, so it compares with the LAB models on one table.
Run:
  python -m colorize_jax.main --config=configs/unet_rgb.py:cpu \
      --config.data.source=folder:PATH --workdir=runs/unet_rgb
Presets: "" / gpu / tpu, cpu, demo.
"""

from colorize_jax import presets


def get_config(preset: str = ""):
    config = presets.base_config()
    config.data.color_space = "rgb"
    return presets.apply_preset(config, preset)
