"""The rows of the quality table (`quality_table`): configs, their overrides and variants.

A row is one config file trained for the table's budget, with `--config.KEY=VALUE` overrides
that make the experiment; its variants re-evaluate the trained checkpoint with other (decode)
settings, each a line of the table.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Row:
    """One table row: a config file and the overrides that make the experiment."""

    name: str
    config: str
    overrides: dict[str, str] = field(default_factory=dict)
    no_colour: bool = False  # evaluate ab = 0 (the gray image) instead of training
    # (label, overrides): re-evaluations of the trained checkpoint with other (decode) settings.
    variants: tuple[tuple[str, dict[str, str]], ...] = ()
    uses_prior: bool = False  # sets config.classify.prior_path to the table's ab prior


TEMPERATURE_SWEEP = tuple(
    (f"T={t}", {"classify.temperature": t}) for t in ("0.1", "0.2", "0.6", "1.0")
) + (("mode", {"classify.decode": "mode"}),)
# The same decodes with the rebalancing divided out of the predicted distribution (heads).
UNBIASED_SWEEP = tuple(
    (f"unbiased T={t}", {"classify.decode_unbiased": "true", "classify.temperature": t})
    for t in ("0.2", "0.38", "0.6", "1.0")
) + tuple(
    (
        f"{'unbiased ' if unbiased else ''}chroma_mean T={t}",
        {
            "classify.decode": "chroma_mean",
            "classify.decode_unbiased": str(unbiased).lower(),
            "classify.temperature": t,
        },
    )
    for unbiased, t in ((False, "1.0"), (True, "1.0"), (True, "0.6"))
)

# A regression's prediction with its chroma multiplied (heads.scale_chroma): the frontier
# between accuracy and colourfulness, on one checkpoint.
CHROMA_GAIN_SWEEP = tuple(
    (f"chroma x{g}", {"decode_chroma_gain": g}) for g in ("1.3", "1.6", "2.0")
)

# imagenette128's photos with the 200 Berkeley segmentation training photos (people, animals,
# landscapes, buildings) drawn as 18% of the examples (data.mixture).
IMAGENETTE_AND_BSDS500 = (
    "folder:../shared/data/imagenette128+folder:../shared/data/outside/bsds500_train@0.18"
)

# Of the perceptual term: its gradient is then about that of L1 + MSE near the truth (2-4x on a
# gray prediction), as measured on imagenette128 at 128 px.
PERCEPTUAL_WEIGHT = "0.01"

ROWS = (
    Row("no colour", "configs/unet_lab.py", no_colour=True),
    Row("unet_lab", "configs/unet_lab.py"),
    Row(
        "unet_lab_classify T=0.38",
        "configs/unet_lab_classify.py",
        variants=TEMPERATURE_SWEEP + UNBIASED_SWEEP,
        uses_prior=True,
    ),
    Row(
        "unet_lab_classify + L1 T=0.38",
        "configs/unet_lab_classify.py",
        {"losses.l1": "1"},
        variants=TEMPERATURE_SWEEP
        + UNBIASED_SWEEP
        + (("regression", {"classify.decode": "regression"}),),
        uses_prior=True,
    ),
    Row("unet_lab (MSE)", "configs/unet_lab.py", {"losses.l1": "0", "losses.mse": "1"}),
    Row("cnn_lab", "configs/cnn_lab.py"),
    Row("unet_rgb", "configs/unet_rgb.py"),
    Row("unet_yuv", "configs/unet_yuv.py"),
    Row("unet_strided_lab", "configs/unet_strided_lab.py"),
    Row("resnet34_unet_lab", "configs/resnet34_unet_lab.py"),
    Row("unet_attention_lab", "configs/unet_attention_lab.py"),
    Row("pix2pix_lab", "configs/pix2pix_lab.py"),
    # The pretrained EfficientNet-Lite0 encoder rows train at 128 px (the cpu preset of
    # effnet_unet_lab.py), so they have their own "no colour" line at that size.
    Row("no colour 128 px", "configs/effnet_unet_lab.py", no_colour=True),
    Row("effnet_unet_lab", "configs/effnet_unet_lab.py", variants=CHROMA_GAIN_SWEEP),
    Row(
        "effnet_unet_lab_classify + L1 T=0.38",
        "configs/effnet_unet_lab_classify.py",
        # Its cpu preset trains batches of 16 (32 needs ~17 GB at 128 px): half the images.
        variants=(
            ("T=0.2", {"classify.temperature": "0.2"}),
            ("unbiased T=0.6", {"classify.decode_unbiased": "true", "classify.temperature": "0.6"}),
            ("regression", {"classify.decode": "regression"}),
        ),
        uses_prior=True,
    ),
    # What the anchors do for saturation: DDColor's targets with chroma x1.2 and its
    # colourfulness loss; BigColor's training photos of colourfulness >= 15 only.
    Row(
        "effnet_unet_lab chroma x1.2",
        "configs/effnet_unet_lab.py",
        {"data.target_chroma_gain": "1.2"},
    ),
    Row(
        "effnet_unet_lab + colourfulness",
        "configs/effnet_unet_lab.py",
        {"losses.colorfulness": "0.5"},
    ),
    Row("effnet_unet_lab CF>=15", "configs/effnet_unet_lab.py", {"data.min_colorfulness": "15"}),
    # DeOldify's NoGAN: the generator alone for half the budget, then against the PatchGAN.
    Row(
        "effnet_unet_gan_lab",
        "configs/effnet_unet_gan_lab.py",
        {"gan.pretrain_generator_steps": "100", "gan.pretrain_discriminator_steps": "10"},
    ),
    # The perceptual loss term (losses.perceptual: VGG16's channel-normalized features of the
    # rebuilt photo, relu1_2..relu5_3) added to the best regression and classification rows.
    Row(
        "effnet_unet_lab + perceptual",
        "configs/effnet_unet_lab.py",
        {"losses.perceptual": PERCEPTUAL_WEIGHT},
    ),
    Row(
        "effnet_unet_lab_classify + L1 + perceptual T=0.38",
        "configs/effnet_unet_lab_classify.py",
        {"losses.perceptual": PERCEPTUAL_WEIGHT},
        variants=(("regression", {"classify.decode": "regression"}),),
        uses_prior=True,
    ),
    # The same term on EfficientNet-Lite0's features (10x cheaper than VGG16's on a CPU).
    Row(
        "effnet_unet_lab + perceptual effnet",
        "configs/effnet_unet_lab.py",
        {"losses.perceptual": PERCEPTUAL_WEIGHT, "perceptual.network": "efficientnet_lite0"},
    ),
    # Generalization beyond the training classes (issue 24): what keeps the encoder's ImageNet
    # knowledge, a larger encoder, more varied photos. No decode variants (scored on outside
    # photos with `--photos=../shared/data/outside/imagenet1k_sample`, 481 at full resolution).
    Row("effnet_unet_lab encoder x0.2", "configs/effnet_unet_lab.py"),
    Row(
        "effnet_unet_lab frozen encoder",
        "configs/effnet_unet_lab.py",
        {"model.frozen_encoder": "true"},
    ),
    Row(
        "effnet_unet_lab encoder x0.1 BN frozen + bsds500",
        "configs/effnet_unet_lab.py",
        {
            "optimizer.encoder_lr_multiplier": "0.1",
            "model.freeze_encoder_batch_norm": "true",
            "data.source": IMAGENETTE_AND_BSDS500,
        },
    ),
    Row(
        "effnet_unet_lab lite2",
        "configs/effnet_unet_lab.py",
        {"model.variant": "lite2", "model.init_from": "efficientnet_lite2"},
    ),
)
