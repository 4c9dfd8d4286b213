"""U-Net predicting UV from Y (BT.601), L1: the reports' YUV setting.

Run:
  python -m colorize_jax.main --config=configs/unet_yuv.py:cpu \
      --config.data.source=folder:PATH --workdir=runs/unet_yuv
Presets: "" / gpu / tpu, cpu, demo.
"""

from colorize_jax import presets


def get_config(preset: str = ""):
    config = presets.base_config()
    config.data.color_space = "yuv"
    return presets.apply_preset(config, preset)
