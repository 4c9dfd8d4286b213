"""Loss terms, looked up by name from `config.losses` ({name: weight}).

Every term is a pure function `term(predictions, targets) -> scalar` over float32 NHWC arrays
(both scaled as `colorspace.encode`'s targets). Adding a term is one function here plus one
entry in `LOSS_TERMS`; a config then enables it with one line, e.g.
`config.losses = {"l1": 1.0, "my_term": 0.1}`. Terms listed with weight 0 are off but can be
switched on from the command line (`--config.losses.mse=1.0`). A term that needs to know the
colour space also takes a `space` keyword and is listed in `SPACE_TERMS`; `weighted_sum` passes
it the space it is given (the train steps always give it).
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp

from colorize_jax import adversarial, colorspace
from colorize_jax import colorfulness as colorfulness_lib

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
    `colorize_jax.colorfulness.hasler` (the formula `metrics.colorfulness` reports) on the
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


LOSS_TERMS: dict[str, LossTerm] = {
    "l1": l1,
    "mse": mse,
    "huber": huber,
    "colorfulness": colorfulness,
}
# Terms that take the colour space of the targets as a `space` keyword.
SPACE_TERMS = ("colorfulness",)


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
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Returns (sum of weight * term, {name: unweighted term}) in float32.

    Terms of weight 0 are skipped: a config can list every term it may use, switched off.
    `space` (the colour space of the targets) goes to the terms of `SPACE_TERMS`.
    """
    predictions = predictions.astype(jnp.float32)
    targets = targets.astype(jnp.float32)
    active = {name: weight for name, weight in weights.items() if weight}
    terms = {name: _term(name, space)(predictions, targets) for name in active}
    total = sum(weight * terms[name] for name, weight in active.items())
    return total, terms


def _term(name: str, space: str | None) -> LossTerm:
    if name in SPACE_TERMS and space is not None:
        return functools.partial(LOSS_TERMS[name], space=space)
    return LOSS_TERMS[name]
