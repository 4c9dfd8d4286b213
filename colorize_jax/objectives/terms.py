"""The loss terms, looked up by name from `config.losses` ({name: weight}).

A term is a pure function over float32 arrays plus a `LossTerm` line in `TERMS` that declares its
kind. The kind says what the term compares, so every term receives what it needs and nothing
else:

  "colour"       (regressed colour, targets): the network's colour channels as the head reads
                 them, against the training targets (both scaled as `colorspace.encode`'s
                 targets). l1, mse, huber, colorfulness.
  "decoded"      (decoded colour, targets): the colour the head decodes (for a classification
                 head the annealed mean of its logits: the prediction that is evaluated).
                 perceptual.
  "logits"       (class logits, targets): a classification head's logits. classify.
  "adversarial"  (discriminator outputs on the decoded colour): the generator's side of a GAN
                 loss; its discriminator side is `LossTerm.gan`. gan_vanilla, gan_lsgan,
                 gan_hinge.

A term that needs more of the step (the colour space, the input lightness, the head) names those
fields of `LossInputs` in `uses`; a term with settings of its own reads them from the config
section named by `settings` (`config.perceptual`), passed as keywords.

Adding a term: write `my_term(predictions, targets)` here and add
`"my_term": LossTerm(my_term, "colour")` to `TERMS`; a config then turns it on with
`config.losses.my_term = 0.1` (or `--config.losses.my_term=0.1`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import optax

from colorize_jax.colour import colorfulness as colorfulness_lib
from colorize_jax.colour import colorspace
from colorize_jax.models import lpips
from colorize_jax.objectives import gan_losses

KINDS = ("colour", "decoded", "logits", "adversarial")
# The fields of `LossInputs` each kind hands its terms, positionally.
KIND_ARGUMENTS = {
    "colour": ("colour", "targets"),
    "decoded": ("decoded", "targets"),
    "logits": ("logits", "targets"),
    "adversarial": ("fake_logits",),
}


@dataclasses.dataclass(frozen=True)
class LossInputs:
    """What one step offers its loss terms (float32; absent parts are None)."""

    inputs: jax.Array  # the network's clean input lightness, as `colorspace.encode` scales it
    targets: jax.Array  # the step's training targets (their chroma gain applied)
    space: str  # the targets' colour space
    colour: jax.Array | None  # the head's regressed colour channels
    decoded: jax.Array | None  # the colour the head decodes from all its outputs
    logits: jax.Array | None  # a classification head's logits over the ab bins
    head: Any  # the `heads.Head` reading the network's outputs
    fake_logits: jax.Array | None = None  # the discriminator's outputs on `decoded`


@dataclasses.dataclass(frozen=True)
class LossTerm:
    """A loss term: its function, its kind, and what else of `LossInputs` it takes."""

    fn: Callable[..., jax.Array]
    kind: str
    uses: tuple[str, ...] = ()  # `LossInputs` fields passed as keywords, e.g. ("space",)
    settings: str | None = None  # config section of its own keyword settings
    check: Callable[[dict[str, Any]], None] | None = None  # validates those settings
    gan: gan_losses.GanLoss | None = None  # an adversarial term's two sides

    def __call__(self, x: LossInputs, **settings: Any) -> jax.Array:
        """The term's value on the parts of `x` its kind and `uses` name."""
        arguments = [getattr(x, field) for field in KIND_ARGUMENTS[self.kind]]
        if any(argument is None for argument in arguments):
            raise ValueError(
                f"a loss term of kind {self.kind!r} needs {', '.join(KIND_ARGUMENTS[self.kind])}, "
                "which this head does not give (build the head and objective together: "
                "components.builder.build)"
            )
        keywords = {field: getattr(x, field) for field in self.uses}
        return self.fn(*arguments, **keywords, **settings)


def l1(predictions: jax.Array, targets: jax.Array) -> jax.Array:
    """Mean absolute error."""
    return jnp.mean(jnp.abs(predictions - targets))


def mse(predictions: jax.Array, targets: jax.Array) -> jax.Array:
    """Mean squared error."""
    return jnp.mean(optax.losses.squared_error(predictions, targets))


def huber(predictions: jax.Array, targets: jax.Array, delta: float = 0.1) -> jax.Array:
    """Mean Huber (smooth-L1) loss: quadratic below `delta` (in target units), linear above."""
    return jnp.mean(optax.losses.huber_loss(predictions, targets, delta=delta))


def colorfulness(predictions: jax.Array, targets: jax.Array, space: str | None = None) -> jax.Array:
    """DDColor's colourfulness loss: 1 - Hasler & Suesstrunk colourfulness of the prediction.

    Lower for more colourful predictions; the targets are not used. Per image, CF is
    `colour.colorfulness.hasler` (the formula `metrics.colorfulness` reports) on the predicted
    RGB in [0, 1], so the term is 1 - CF_255 / 255, averaged over the images. DDColor
    (basicsr/losses/losses.py, ColorfulnessLoss) computes the same 1 - CF per image on its RGB
    output, with |rg| and |yb| (Hasler's signed channels here), and sums over its batch where
    this averages: DDColor's weight w on batches of N images is w * N here.

    The prediction's RGB is `colorspace.chroma_rgb`: for lab and yuv, whose targets carry no
    lightness, the predicted ab (UV) at a fixed mid lightness L = 50 (Y = 0.5), converted with
    the project's differentiable sRGB conversion and clipped to the gamut; for rgb the predicted
    image itself. The fixed lightness keeps Hasler's definition (one scale for every colour
    space) and its gamut: chroma beyond what sRGB shows at L = 50 is clipped and earns nothing,
    so the term never pushes predictions past the gamut. The gradient is finite everywhere, an
    exactly uniform grey included. `space` None takes 3 channels as rgb and 2 as lab.
    """
    del targets
    if space is None:
        space = "rgb" if predictions.shape[-1] == 3 else "lab"
    rgb = colorspace.chroma_rgb(predictions.astype(jnp.float32), space)
    return jnp.mean(1.0 - colorfulness_lib.hasler(rgb))


def perceptual(
    predictions: jax.Array,
    targets: jax.Array,
    *,
    inputs: jax.Array,
    space: str,
    network: str = "vgg16",
    layers: Sequence[int] = (1, 2, 3, 4, 5),
    layer_weights: Sequence[float] | None = None,
    lpips_heads: bool = False,
) -> jax.Array:
    """Distance between a frozen pretrained network's features of the predicted and true photos.

    Both RGB images are rebuilt on the device from the input lightness `inputs` and the colour
    (`colorspace.decode`; for rgb the prediction's a/b on the true lightness, as evaluated), and
    compared by `lpips.feature_distance`: at each of `layers` (1-based, of the network's five
    feature maps) every feature vector is unit-normalized over its channels, the squared
    difference summed over channels and averaged over positions, then weighted by
    `layer_weights` (1 each when None or empty) and summed; the mean over the images. `network`:
    "vgg16" (relu1_2 .. relu5_3), "alexnet" (relu1..relu5) or "efficientnet_lite0" (its stage
    outputs at strides 2..32), all with ImageNet weights loaded once, frozen and in no train
    state. `lpips_heads` weighs the channels by LPIPS's learned heads (vgg16, alexnet): with all
    five layers the term is then LPIPS itself. 0 at the truth; the gradient reaches the
    prediction only.
    """
    inputs = inputs.astype(jnp.float32)
    truth_rgb = jax.lax.stop_gradient(colorspace.decode(inputs, targets, space))
    pred_rgb = colorspace.decode(
        inputs, predictions, space, truth_rgb=truth_rgb if space == "rgb" else None
    )
    distances = lpips.feature_distance(
        pred_rgb,
        truth_rgb,
        network=network,
        layers=layers,
        layer_weights=layer_weights,
        lpips_heads=lpips_heads,
    )
    return jnp.mean(distances)


def _check_perceptual(settings: dict[str, Any]) -> None:
    lpips.check_settings(**{"network": "vgg16", **settings})


def classify(logits: jax.Array, targets: jax.Array, *, head) -> jax.Array:
    """Zhang et al.'s rebalanced cross-entropy of the head's logits (`heads.Head.classify_loss`)."""
    return head.classify_loss(logits, targets)


TERMS: dict[str, LossTerm] = {
    "l1": LossTerm(l1, "colour"),
    "mse": LossTerm(mse, "colour"),
    "huber": LossTerm(huber, "colour"),
    "colorfulness": LossTerm(colorfulness, "colour", uses=("space",)),
    "perceptual": LossTerm(
        perceptual,
        "decoded",
        uses=("inputs", "space"),
        settings="perceptual",
        check=_check_perceptual,
    ),
    "classify": LossTerm(classify, "logits", uses=("head",)),
    **{
        name: LossTerm(gan.generator, "adversarial", gan=gan)
        for name, gan in gan_losses.GAN_LOSSES.items()
    },
}
