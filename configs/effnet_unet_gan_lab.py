"""EfficientNet-Lite0 U-Net (ImageNet encoder) against a conditional PatchGAN, as DeOldify does.

The generator and its regression terms are those of configs/effnet_unet_lab.py (L1 + MSE, the
encoder at a fifth of the decoder's learning rate); a 70x70 PatchGAN (pix2pix's, on L + ab)
adds an adversarial term weighted 0.01, pix2pix's 1 : 100 ratio to its L1. DeOldify's "NoGAN"
schedule trains the generator alone first: `--config.gan.pretrain_generator_steps=K`, then
`--config.gan.pretrain_discriminator_steps=M` for the discriminator alone, then both.
Run:
  python -m colorize_jax.main --config=configs/effnet_unet_gan_lab.py:cpu \\
      --config.data.source=folder:PATH --workdir=runs/effnet_unet_gan_lab \\
      --config.gan.pretrain_generator_steps=1000 --config.gan.pretrain_discriminator_steps=100
Presets (":PRESET"): "" / gpu / tpu (256 px, bfloat16), cpu (128 px), demo (offline).
"""

from colorize_jax import presets


def get_config(preset: str = ""):
    config = presets.pretrained_effnet_config(preset, adversarial=True)
    config.losses.update({"gan_vanilla": 0.0, "gan_lsgan": 0.0, "gan_hinge": 0.0})
    config.losses.gan_vanilla = 0.01  # against L1 + MSE at 1 each (pix2pix: 1 against 100 L1)
    config.optimizer.adam_b1 = 0.5  # the usual GAN momentum, for both networks
    if preset == "cpu":
        config.discriminator.model.num_layers = 3  # 70x70 patches: the crops are 128 px here
    return config
