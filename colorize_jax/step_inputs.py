"""What every train step does first: a uint8 batch to model inputs, targets and step keys."""

from __future__ import annotations

from collections.abc import Mapping

import jax

from colorize_jax import colorspace


def prepare(
    batch: Mapping[str, jax.Array],
    step: jax.Array,
    *,
    space: str,
    seed: int,
    input_noise_std: float,
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Returns (inputs, noisy inputs, targets, dropout key) for the step numbered `step`.

    The keys derive from (seed, step), so a resumed run draws the same noise and dropout.
    `input_noise_std` > 0 adds Gaussian noise of that standard deviation (in the [-1, 1] input
    scale) to the network's input, an augmentation; the clean inputs and targets are unchanged.
    """
    inputs, targets = colorspace.encode(batch["image"], space)
    step_rng = jax.random.fold_in(jax.random.key(seed), step)
    dropout_rng, noise_rng = jax.random.split(step_rng)
    noisy = inputs
    if input_noise_std > 0:
        noisy = inputs + input_noise_std * jax.random.normal(noise_rng, inputs.shape)
    return inputs, noisy, targets, dropout_rng
