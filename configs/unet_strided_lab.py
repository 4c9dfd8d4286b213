"""U-Net with strided-convolution down-sampling and bilinear up-sampling, L -> ab, L1.

The reports' variant that replaces max-pooling by stride-2 3x3 convolutions and transposed
convolutions by bilinear resize + 3x3 conv (fewer checkerboard artefacts).
Run:
  python -m colorize_jax.main --config=configs/unet_strided_lab.py:cpu \
      --config.data.source=folder:PATH --workdir=runs/unet_strided_lab
Presets: "" / gpu / tpu, cpu, demo.
"""

from colorize_jax import presets


def get_config(preset: str = ""):
    config = presets.base_config()
    config.model = presets.unet_model(down="strided", up="bilinear")
    return presets.apply_preset(config, preset)
