"""U-Net colour classification over quantized ab, L -> ab bins (Zhang et al. 2016).

Reproduces the recipe of "Colorful Image Colorization" (Zhang, Isola & Efros, ECCV 2016) on this
project's U-Net: the network predicts, per pixel, logits over the in-gamut ab bins of a grid of
10 (262 bins from our colour conversion; the paper lists 313), trained with a cross-entropy
against soft targets (each pixel's 5 nearest bins, Gaussian sigma 5) rebalanced by class rarity
(lambda 0.5, the training set's bin distribution smoothed with sigma 5); evaluation decodes the
annealed mean at temperature T = 0.38. The network is this project's baseline U-Net (as in
unet_lab.py) with a linear output, so the loss is the difference from that baseline, not the
paper's VGG-style network. Without a prior the loss is not rebalanced (a warning says so).

Regression terms are listed at weight 0: `--config.losses.l1=1` adds the U-Net's L1 regression
on two extra tanh channels next to the logits; `--config.classify.decode=mode` (or mean, or
regression) picks another prediction; `--config.classify.temperature=T` anneals differently.
Run:
  python -m colorize_jax.tools.ab_prior --config=configs/unet_lab_classify.py:cpu \
      --config.data.source=folder:PATH --output=runs/ab_prior.npz
  python -m colorize_jax.main --config=configs/unet_lab_classify.py:cpu \
      --config.data.source=folder:PATH --config.classify.prior_path=runs/ab_prior.npz \
      --workdir=runs/unet_lab_classify
Presets (":PRESET"): "" / gpu / tpu (256 px, full U-Net, bfloat16), cpu (64 px), demo (offline).
"""

import ml_collections

from colorize_jax import presets


def get_config(preset: str = ""):
    config = presets.base_config()
    config.model.output_activation = "linear"  # logits; objectives/heads.py applies tanh to ab
    # Weight-0 terms are off; switch with --config.losses.NAME=WEIGHT.
    config.losses = ml_collections.ConfigDict(
        {"classify": 1.0, "l1": 0.0, "mse": 0.0, "huber": 0.0, "colorfulness": 0.0}
    )

    config.classify = presets.classify_settings()
    return presets.apply_preset(config, preset)
