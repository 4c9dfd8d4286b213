"""What every train step does first: a uint8 batch to model inputs, targets and step keys."""

from __future__ import annotations

from collections.abc import Mapping

import jax

from colorize_jax.colour import colorspace


def prepare(
    batch: Mapping[str, jax.Array],
    step: jax.Array,
    *,
    space: str,
    seed: int,
    input_noise_std: float,
    target_chroma_gain: float = 1.0,
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Returns (inputs, noisy inputs, targets, dropout key) for the step numbered `step`.

    The keys derive from (seed, step), so a resumed run draws the same noise and dropout.
    `input_noise_std` > 0 adds Gaussian noise of that standard deviation (in the [-1, 1] input
    scale) to the network's input, an augmentation; the clean inputs and targets are unchanged.
    `target_chroma_gain` multiplies the targets' chroma (`colorspace.scale_chroma`: ab, UV, or
    RGB about its luma; clipped to [-1, 1]), as DDColor trains on ab x1.2; 1 leaves them
    untouched, bit for bit. Only training steps prepare targets here; evaluation encodes its own.

    Every training scheme applies `config.data.target_chroma_gain` here: the loss terms fit,
    and a discriminator takes as real, the boosted targets.
    """
    inputs, targets = colorspace.encode(batch["image"], space)
    targets = colorspace.scale_chroma(targets, space, target_chroma_gain)
    step_rng = jax.random.fold_in(jax.random.key(seed), step)
    dropout_rng, noise_rng = jax.random.split(step_rng)
    noisy = inputs
    if input_noise_std > 0:
        noisy = inputs + input_noise_std * jax.random.normal(noise_rng, inputs.shape)
    return inputs, noisy, targets, dropout_rng
