"""The one prediction path: uint8 RGB images -> the network's input and its predicted colour.

Evaluation (`evaluation.validation.colorize_batch`) and the Colorizer (`full_resolution.predict_ab`)
both call `predict`; what they do afterwards differs only in how the prediction is shown:
evaluation rebuilds RGB with the true lightness, the Colorizer converts it to CIELAB (a, b).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from colorize_jax.colour import colorspace
from colorize_jax.objectives import heads

# What predicts: a restored `inference.restore.Generator` or training's `NetworkState`, i.e.
# anything with `apply_fn(variables, inputs, train=False)` and `variables`.
Network = Any


def predict(network: Network, head: heads.Head, images: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(inputs, predictions) of uint8 RGB `images` (B, H, W, 3); pure and jit-able.

    `inputs` (B, H, W, 1) is the encoded lightness the network sees (`colorspace.encode` in the
    colour space `head.space`); `predictions` (B, H, W, C) is the float32 colour target,
    scaled as `colorspace.encode` scales targets, that `head.predict` reads from the network's
    raw outputs.
    """
    inputs, _ = colorspace.encode(images, head.space)
    outputs = network.apply_fn(network.variables, inputs, train=False)
    return inputs, head.predict(outputs).astype(jnp.float32)
