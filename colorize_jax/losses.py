"""Loss terms, looked up by name from `config.losses` ({name: weight}).

Every term is a pure function `term(predictions, targets) -> scalar` over float32 NHWC arrays.
Adding a term is one function here plus one entry in `LOSS_TERMS`; a config then enables it
with one line, e.g. `config.losses = {"l1": 1.0, "my_term": 0.1}`. Terms listed with weight 0 are
off but can be switched on from the command line (`--config.losses.mse=1.0`).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp

from colorize_jax import adversarial

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


LOSS_TERMS: dict[str, LossTerm] = {
    "l1": l1,
    "mse": mse,
    "huber": huber,
}


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
    weights: Mapping[str, float], predictions: jax.Array, targets: jax.Array
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Returns (sum of weight * term, {name: unweighted term}) in float32.

    Terms of weight 0 are skipped: a config can list every term it may use, switched off.
    """
    predictions = predictions.astype(jnp.float32)
    targets = targets.astype(jnp.float32)
    active = {name: weight for name, weight in weights.items() if weight}
    terms = {name: LOSS_TERMS[name](predictions, targets) for name in active}
    total = sum(weight * terms[name] for name, weight in active.items())
    return total, terms
