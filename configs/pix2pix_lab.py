"""pix2pix colorization: a U-Net generator trained against a conditional PatchGAN, L -> ab.

Reproduces the adversarial setting of pix2pix (Isola et al. 2017, "Image-to-Image Translation
with Conditional Adversarial Networks"; its reference code's colorization mode), the reports' GAN
setting: the generator minimizes 100 * L1 + the non-saturating GAN loss, a 70x70 PatchGAN with
BatchNorm judges (L, ab) pairs, and both networks train with Adam(lr 2e-4, beta1 0.5), no weight
decay and no clipping; the discriminator updates on the detached prediction before the
generator's update. The generator is this project's baseline U-Net (as in unet_lab.py), so the
adversarial term is the only difference from that baseline; the learning rate follows the
project's warmup + cosine schedule rather than pix2pix's constant-then-linear decay.

Switch the adversarial loss with --config.losses.gan_vanilla=0 --config.losses.gan_hinge=1
(or gan_lsgan); --config.discriminator.model.spectral_norm=True adds spectral normalization;
--config.gan.pretrain_generator_steps=K --config.gan.pretrain_discriminator_steps=M gives
DeOldify's "NoGAN" warm-up (K steps of the generator alone on its regression terms, then M of the
discriminator alone, then both).
Run:
  python -m colorize_jax.main --config=configs/pix2pix_lab.py:cpu \
      --config.data.source=folder:PATH --workdir=runs/pix2pix_lab
Presets: "" / gpu / tpu (256 px, full U-Net and 70x70 PatchGAN), cpu (64 px, 34x34 patches),
demo (offline, a width-16 discriminator).
"""

import ml_collections

from colorize_jax import presets


def get_config(preset: str = ""):
    config = presets.base_config()
    # Weight-0 terms are off; switch with --config.losses.NAME=WEIGHT.
    config.losses = ml_collections.ConfigDict(
        {
            "l1": 100.0,
            "mse": 0.0,
            "huber": 0.0,
            "colorfulness": 0.0,
            "gan_vanilla": 1.0,
            "gan_lsgan": 0.0,
            "gan_hinge": 0.0,
        }
    )

    config.scheme = "adversarial"
    config.discriminator = presets.pix2pix_discriminator()
    config.gan = presets.gan_schedule()

    config = presets.apply_preset(config, preset)
    # pix2pix's optimizer for the generator in every preset (the presets tune it for regression).
    config.optimizer.learning_rate = 2e-4
    config.optimizer.adam_b1 = 0.5
    config.optimizer.weight_decay = 0.0
    config.optimizer.grad_clip_norm = 0.0
    return config
