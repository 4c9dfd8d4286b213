"""U-Net with transformer blocks at the bottleneck, L -> ab, L1.

One report put a transformer after a VGG encoder and DeOldify uses self-attention inside its
U-Net; this config adds two pre-LN self-attention + MLP blocks over the bottleneck's positions.
Run:
  python -m colorize_jax.main --config=configs/unet_attention_lab.py:cpu \
      --config.data.source=folder:PATH --workdir=runs/unet_attention_lab
Presets: "" / gpu / tpu, cpu, demo.
"""

from colorize_jax import presets


def get_config(preset: str = ""):
    config = presets.base_config()
    config.model = presets.unet_model(bottleneck_attention_blocks=2, attention_heads=4)
    return presets.apply_preset(config, preset)
