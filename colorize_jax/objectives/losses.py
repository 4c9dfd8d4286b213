"""Loss terms, looked up by name from `config.losses` ({name: weight}).

Every term is a pure function `term(predictions, targets) -> scalar` over float32 NHWC arrays
(both scaled as `colorspace.encode`'s targets). Adding a term is one function here plus one
entry in `LOSS_TERMS`; a config then enables it with one line, e.g.
`config.losses = {"l1": 1.0, "my_term": 0.1}`. Terms listed with weight 0 are off but can be
switched on from the command line (`--config.losses.mse=1.0`). A term that needs to know the
colour space also takes a `space` keyword and is listed in `SPACE_TERMS`; `weighted_sum` passes
it the space it is given (the train steps always give it).

A term over the whole image rebuilt from the model's input lightness and the colour (so far
`perceptual`) is listed in `INPUT_TERMS`: it takes `inputs=` (the model's clean input, scaled as
`colorspace.encode`'s inputs) and `space=` keywords besides, and `weighted_sum` passes them
(`inputs` is required when such a term is on; the train steps of `train` and `gan` give it).
A term with settings of its own reads them from a config field named after it
(`config.perceptual`); `term_options(config)` collects them as {term: {keyword: value}}, which
the train steps hand to `weighted_sum(..., options=...)` for the term's keywords. With a
classification head (`heads.Head.loss`) the regression terms see the regressed channels, and the
`INPUT_TERMS` see the head's decoded colour (the annealed mean of its logits, say), the
prediction evaluated.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from colorize_jax.colour import colorfulness as colorfulness_lib
from colorize_jax.colour import colorspace
from colorize_jax.models import lpips
from colorize_jax.objectives import adversarial

LossTerm = Callable[[jax.Array, jax.Array], jax.Array]


def l1(predictions: jax.Array, targets: jax.Array) -> jax.Array:
    """Mean absolute error."""
    return jnp.mean(jnp.abs(predictions - targets))


def mse(predictions: jax.Array, targets: jax.Array) -> jax.Array:
    """Mean squared error."""
    return jnp.mean(jnp.square(predictions - targets))


def huber(predictions: jax.Array, targets: jax.Array, delta: float = 0.1) -> jax.Array:
    """Mean Huber (smooth-L1) loss: quadratic below `delta` (in target units), linear above."""
    error = jnp.abs(predictions - targets)
    quadratic = jnp.minimum(error, delta)
    return jnp.mean(0.5 * quadratic**2 + delta * (error - quadratic))


def colorfulness(predictions: jax.Array, targets: jax.Array, space: str | None = None) -> jax.Array:
    """DDColor's colourfulness loss: 1 - Hasler & Suesstrunk colourfulness of the prediction.

    Lower for more colourful predictions; the targets are not used. Per image, CF is
    `colorize_jax.colour.colorfulness.hasler` (the formula `metrics.colorfulness` reports) on the
    predicted RGB in [0, 1], so the term is 1 - CF_255 / 255 (CF_255 the 0..255 metric's
    value), averaged over the images. DDColor (basicsr/losses/losses.py, ColorfulnessLoss)
    computes the same 1 - CF per image on its RGB output in [0, 1], with |rg| and |yb| (a
    popular variant; Hasler's signed channels here), and sums over its batch where this
    averages: DDColor's weight w on batches of N images is w * N here.

    The prediction's RGB is `colorspace.chroma_rgb`: for lab and yuv, whose targets carry no
    lightness, the predicted ab (UV) at a fixed mid lightness L = 50 (Y = 0.5), converted with
    the project's differentiable sRGB conversion and clipped to the gamut; for rgb the predicted
    image itself. Hasler's statistics are thus those of the predicted chroma as a mid-grey-lit
    photo: for yuv exactly the photo's own (R - G and (R + G)/2 - B do not depend on Y, clipping
    aside); for lab close to them, chroma counting as it looks at mid lightness. The fixed
    lightness, rather than an ab-space analogue such as sqrt(var a + var b) + 0.3 |mean ab|,
    keeps Hasler's definition (the number is the metric's, on one scale for every colour space)
    and its gamut: chroma beyond what sRGB can show at L = 50 is clipped and earns nothing, so
    the term never pushes predictions past the gamut. The gradient is finite everywhere, an
    exactly uniform grey included, and pushes any variation of colour apart.

    `space` None takes 3 channels as rgb and 2 as lab (the train steps always pass the space).
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
    "vgg16" (relu1_2, relu2_2, relu3_3, relu4_3, relu5_3), "alexnet" (relu1..relu5) or
    "efficientnet_lite0" (its stage outputs at strides 2..32), all with ImageNet weights that
    are loaded once, frozen and in no train state. `lpips_heads` weighs the channels by LPIPS's
    learned heads (vgg16, alexnet): with all five layers the term is then LPIPS itself.
    0 when the prediction equals the truth; the gradient reaches the prediction only.
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


LOSS_TERMS: dict[str, LossTerm] = {
    "l1": l1,
    "mse": mse,
    "huber": huber,
    "colorfulness": colorfulness,
    "perceptual": perceptual,
}
# Terms that take the colour space of the targets as a `space` keyword.
SPACE_TERMS = ("colorfulness",)
# Terms over the RGB image rebuilt from the input lightness: they take `inputs=` and `space=`.
INPUT_TERMS = ("perceptual",)
# Config fields of the terms' own settings: {term: field of the config}.
TERM_SETTINGS = {"perceptual": "perceptual"}


def term_options(config: Any) -> dict[str, dict[str, Any]]:
    """{term: {keyword: value}} of the active terms' own settings (`config.perceptual`).

    Lists from a saved config.json come back as tuples; an absent field gives no keywords.
    Raises ValueError naming a setting the term does not take.
    """
    options = {}
    for name, field in TERM_SETTINGS.items():
        settings = config.get(field) if config.losses.get(name) else None
        if not settings:
            continue
        options[name] = {
            key: tuple(value) if isinstance(value, list | tuple) else value
            for key, value in dict(settings).items()
        }
        accepted = set(inspect.signature(LOSS_TERMS[name]).parameters) - {
            "predictions", "targets", "inputs", "space"
        }  # fmt: skip
        unknown = sorted(set(options[name]) - accepted)
        if unknown:
            raise ValueError(
                f"config.{field} has fields that loss term {name!r} does not take: "
                f"{', '.join(unknown)}; it takes {', '.join(sorted(accepted))}"
            )
        if name == "perceptual":
            lpips.check_network(options[name].get("network", "vgg16"))
    return options


def classify(logits: jax.Array, soft_targets: jax.Array, pixel_weights: jax.Array) -> jax.Array:
    """Rebalanced cross-entropy against soft class targets, averaged over pixels.

    `logits` and `soft_targets` (..., Q), the targets summing to 1 over Q (see
    `ab_bins.soft_encode`); `pixel_weights` (...) scales each pixel's term.
    """
    log_probabilities = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    cross_entropy = -jnp.sum(jax.lax.stop_gradient(soft_targets) * log_probabilities, axis=-1)
    return jnp.mean(pixel_weights * cross_entropy)


# Terms over class logits rather than regressed colours; `heads.Head.loss` computes them.
CLASSIFICATION_TERMS = ("classify",)


def validate(weights: Mapping[str, float]) -> None:
    """Raises ValueError naming any unknown loss term (with the closest registered names).

    Known names are the terms of `LOSS_TERMS`, the adversarial terms of
    `adversarial.GAN_LOSSES` (which need a `config.discriminator`; see `gan.validate_config`)
    and `CLASSIFICATION_TERMS` (which need a `config.classify`; see `heads.create`).
    """
    if not any(weights.values()):
        raise ValueError("config.losses has no term with a non-zero weight, e.g. {'l1': 1.0}")
    known = [*LOSS_TERMS, *adversarial.GAN_LOSSES, *CLASSIFICATION_TERMS]
    for name in weights:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ValueError(
                f"unknown loss term {name!r} in config.losses{hint}; "
                f"available: {', '.join(sorted(LOSS_TERMS))}; "
                f"adversarial: {', '.join(sorted(adversarial.GAN_LOSSES))}; "
                f"classification: {', '.join(CLASSIFICATION_TERMS)}"
            )


def weighted_sum(
    weights: Mapping[str, float],
    predictions: jax.Array,
    targets: jax.Array,
    *,
    space: str | None = None,
    inputs: jax.Array | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Returns (sum of weight * term, {name: unweighted term}) in float32.

    Terms of weight 0 are skipped: a config can list every term it may use, switched off.
    `space` (the colour space of the targets) goes to the terms of `SPACE_TERMS` and
    `INPUT_TERMS`, `inputs` (the model's input lightness) to the `INPUT_TERMS`, and
    `options[name]` (see `term_options`) to term `name` as keywords.
    """
    predictions = predictions.astype(jnp.float32)
    targets = targets.astype(jnp.float32)
    active = {name: weight for name, weight in weights.items() if weight}
    terms = {
        name: _term(name, space, inputs, (options or {}).get(name, {}))(predictions, targets)
        for name in active
    }
    total = sum(weight * terms[name] for name, weight in active.items())
    return total, terms


def _term(
    name: str, space: str | None, inputs: jax.Array | None, keywords: Mapping[str, Any]
) -> LossTerm:
    keywords = dict(keywords)
    if name in INPUT_TERMS:
        if inputs is None or space is None:
            raise ValueError(f"loss term {name!r} needs the inputs and the colour space")
        keywords.update(inputs=inputs, space=space)
    elif name in SPACE_TERMS and space is not None:
        keywords["space"] = space
    return functools.partial(LOSS_TERMS[name], **keywords) if keywords else LOSS_TERMS[name]
