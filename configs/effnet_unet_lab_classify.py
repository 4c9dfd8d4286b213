"""EfficientNet-Lite0 encoder (ImageNet weights) + U-Net decoder: colour classification + L1.

One network, two predictions: logits over the in-gamut ab bins trained with the rebalanced
soft cross-entropy of Zhang et al. (2016), as configs/unet_lab_classify.py, plus two regressed
ab channels trained with L1. `classify.decode` picks what is evaluated: the annealed mean of
the logits (vivid; `classify.temperature`) or `regression` (the L1 channels: accurate, muted).
Everything else as configs/effnet_unet_lab.py.
Run:
  python -m colorize_jax.tools.ab_prior --config=configs/effnet_unet_lab_classify.py:cpu \\
      --config.data.source=folder:PATH --output=runs/ab_prior.npz
  python -m colorize_jax.main --config=configs/effnet_unet_lab_classify.py:cpu \\
      --config.data.source=folder:PATH --config.classify.prior_path=runs/ab_prior.npz \\
      --workdir=runs/effnet_unet_lab_classify
Presets (":PRESET"): "" / gpu / tpu (256 px, bfloat16), cpu (128 px, float32), demo (offline).
"""

from colorize_jax import presets


def get_config(preset: str = ""):
    config = presets.pretrained_effnet_config(preset)
    config.model.output_activation = "linear"  # logits; objectives/heads.py applies tanh to ab
    config.classify = presets.classify_settings()
    config.losses.classify = 1.0
    config.losses.l1 = 1.0  # the regressed ab channels beside the logits
    config.losses.mse = 0.0
    if preset == "cpu":
        # 262 logits per pixel at 128 px: batch 32 peaks at ~17 GB of host memory, 16 at ~9.
        config.per_device_batch_size = 16
    return config
