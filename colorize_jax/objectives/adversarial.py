"""Adversarial loss terms, named in `config.losses` next to the regression terms.

A GAN loss has two sides: the discriminator's objective, a function of its outputs on real and
on generated colour images, and the generator's objective, a function of the discriminator's
outputs on generated images only. `config.losses = {"l1": 100.0, "gan_vanilla": 1.0}` trains the
generator on 100 * L1 + 1 * (generator side of gan_vanilla); the discriminator minimizes its own
side with its own optimizer. Every function here takes float32 logit maps of any shape and
returns a scalar mean.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp


def vanilla_discriminator(real: jax.Array, fake: jax.Array) -> jax.Array:
    """Binary cross-entropy with real -> 1 and fake -> 0, averaged over the two halves."""
    # -log sigmoid(x) = softplus(-x) and -log(1 - sigmoid(x)) = softplus(x), computed stably.
    return 0.5 * (jnp.mean(jax.nn.softplus(-real)) + jnp.mean(jax.nn.softplus(fake)))


def vanilla_generator(fake: jax.Array) -> jax.Array:
    """The non-saturating generator loss of Goodfellow et al. (2014): -log D(fake)."""
    return jnp.mean(jax.nn.softplus(-fake))


def lsgan_discriminator(real: jax.Array, fake: jax.Array) -> jax.Array:
    """Least squares (Mao et al. 2017): outputs pulled to 1 on real and 0 on fake."""
    return 0.5 * (jnp.mean(jnp.square(real - 1.0)) + jnp.mean(jnp.square(fake)))


def lsgan_generator(fake: jax.Array) -> jax.Array:
    """Least squares: the generator pulls the outputs on its images towards 1."""
    return jnp.mean(jnp.square(fake - 1.0))


def hinge_discriminator(real: jax.Array, fake: jax.Array) -> jax.Array:
    """Hinge loss (Lim & Ye 2017; SAGAN): margins of 1 on both sides, averaged."""
    return 0.5 * (jnp.mean(jax.nn.relu(1.0 - real)) + jnp.mean(jax.nn.relu(1.0 + fake)))


def hinge_generator(fake: jax.Array) -> jax.Array:
    """Hinge loss: the generator raises the discriminator's output on its images."""
    return -jnp.mean(fake)


@dataclasses.dataclass(frozen=True)
class GanLoss:
    """The two sides of an adversarial loss and the output that separates real from fake."""

    discriminator: Callable[[jax.Array, jax.Array], jax.Array]
    generator: Callable[[jax.Array], jax.Array]
    threshold: float  # outputs above count as "real" (for the logged accuracy)


# The halved discriminator objectives follow pix2pix; with Adam the scale hardly matters.
GAN_LOSSES: dict[str, GanLoss] = {
    "gan_vanilla": GanLoss(vanilla_discriminator, vanilla_generator, threshold=0.0),
    "gan_lsgan": GanLoss(lsgan_discriminator, lsgan_generator, threshold=0.5),
    "gan_hinge": GanLoss(hinge_discriminator, hinge_generator, threshold=0.0),
}


def split_weights(weights) -> tuple[dict[str, float], tuple[str, float] | None]:
    """Splits {name: weight} into the active regression terms and the one active GAN term.

    Returns (regression weights, (gan name, weight) or None). Raises ValueError if more than one
    GAN term has a non-zero weight.
    """
    regression = {name: w for name, w in weights.items() if name not in GAN_LOSSES and w}
    gan = [(name, w) for name, w in weights.items() if name in GAN_LOSSES and w]
    if len(gan) > 1:
        names = ", ".join(name for name, _ in gan)
        raise ValueError(
            f"config.losses enables more than one adversarial loss ({names}): pick one"
        )
    return regression, (gan[0] if gan else None)


def accuracy(real: jax.Array, fake: jax.Array, threshold: float) -> jax.Array:
    """Share of patches the discriminator gets right, averaged over real and fake."""
    return 0.5 * (jnp.mean(real > threshold) + jnp.mean(fake <= threshold))
