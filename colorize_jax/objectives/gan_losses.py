"""Adversarial loss terms, named in `config.losses` next to the regression terms.

A GAN loss has two sides: the discriminator's objective, a function of its outputs on real and
on generated colour images, and the generator's objective, a function of the discriminator's
outputs on generated images only (`terms.TERMS` lists each as a term of kind "adversarial").
`config.losses = {"l1": 100.0, "gan_vanilla": 1.0}` trains the generator on
100 * L1 + 1 * (generator side of gan_vanilla); the discriminator minimizes its own side with its
own optimizer. Every function here takes float32 logit maps of any shape and
returns a scalar mean.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax


def vanilla_discriminator(real: jax.Array, fake: jax.Array) -> jax.Array:
    """Binary cross-entropy with real -> 1 and fake -> 0, averaged over the two halves."""
    bce = optax.losses.sigmoid_binary_cross_entropy
    return 0.5 * (
        jnp.mean(bce(real, jnp.ones_like(real))) + jnp.mean(bce(fake, jnp.zeros_like(fake)))
    )


def vanilla_generator(fake: jax.Array) -> jax.Array:
    """The non-saturating generator loss of Goodfellow et al. (2014): -log D(fake)."""
    return jnp.mean(optax.losses.sigmoid_binary_cross_entropy(fake, jnp.ones_like(fake)))


def lsgan_discriminator(real: jax.Array, fake: jax.Array) -> jax.Array:
    """Least squares (Mao et al. 2017): outputs pulled to 1 on real and 0 on fake."""
    squared = optax.losses.squared_error
    return 0.5 * (jnp.mean(squared(real, jnp.ones_like(real))) + jnp.mean(squared(fake)))


def lsgan_generator(fake: jax.Array) -> jax.Array:
    """Least squares: the generator pulls the outputs on its images towards 1."""
    return jnp.mean(optax.losses.squared_error(fake, jnp.ones_like(fake)))


def hinge_discriminator(real: jax.Array, fake: jax.Array) -> jax.Array:
    """Hinge loss (Lim & Ye 2017; SAGAN): margins of 1 on both sides, averaged."""
    hinge = optax.losses.hinge_loss
    return 0.5 * (
        jnp.mean(hinge(real, jnp.ones_like(real))) + jnp.mean(hinge(fake, -jnp.ones_like(fake)))
    )


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


def accuracy(real: jax.Array, fake: jax.Array, threshold: float) -> jax.Array:
    """Share of patches the discriminator gets right, averaged over real and fake."""
    return 0.5 * (jnp.mean(real > threshold) + jnp.mean(fake <= threshold))
