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

import importlib.util
import os


def _sibling(name: str):
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def get_config(preset: str = ""):
    config = _sibling("effnet_unet_lab").get_config(preset)
    pix2pix = _sibling("pix2pix_lab").get_config(preset)
    config.discriminator = pix2pix.discriminator
    config.gan = pix2pix.gan
    for name in ("gan_vanilla", "gan_lsgan", "gan_hinge"):
        config.losses[name] = 0.0
    config.losses.gan_vanilla = 0.01  # against L1 + MSE at 1 each (pix2pix: 1 against 100 L1)
    config.adam_b1 = 0.5  # the usual GAN momentum, for both networks
    if preset == "cpu":
        config.discriminator.model.num_layers = 3  # 70x70 patches: the crops are 128 px here
    return config
