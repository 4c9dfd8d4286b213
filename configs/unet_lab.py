"""U-Net regression of ab from L with an L1 loss: the baseline every experiment is compared to.

Reproduces the reports' U-Net setting (L -> ab, L1, Adam, random crops and flips).
Run:
  python -m colorize_jax.main --config=configs/unet_lab.py:cpu \
      --config.data.source=folder:PATH --workdir=runs/unet_lab
Presets (":PRESET"): "" / gpu / tpu (256 px, full U-Net, bfloat16), cpu (64 px), demo (offline).
"""

from colorize_jax import presets


def get_config(preset: str = ""):
    config = presets.base_config()
    return presets.apply_preset(config, preset)
