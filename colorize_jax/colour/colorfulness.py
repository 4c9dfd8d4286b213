"""Hasler & Suesstrunk (2003) colourfulness: the one formula of the metric, the loss and the filter.

With signed opponent channels rg = R - G and yb = (R + G) / 2 - B over an image's pixels:

    CF = sqrt(var(rg) + var(yb)) + 0.3 * sqrt(mean(rg)^2 + mean(yb)^2)

on the scale of the RGB values given (0..255 for the numbers of `metrics.colorfulness` and of
`config.data.min_colorfulness`; 0..1 gives the same number / 255). Grey images give 0.

`hasler` picks its array module from its input, as `colorspace` does: a `jax.Array` (tracers
included) is computed with `jax.numpy` and is differentiable (the loss term `losses.colorfulness`;
the square roots have a zero, not NaN, gradient at an exactly grey image), anything else with
numpy in float64 (the data pipeline's filter, whose worker processes need not import jax).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

RG_YB_MEAN_WEIGHT = 0.3


def _module(x: Any):
    """jax.numpy for a jax array (jax is then imported already), else numpy."""
    jax = sys.modules.get("jax")
    if jax is not None and isinstance(x, jax.Array):
        return jax.numpy
    return np


def _sqrt(x: Any, xp) -> Any:
    """sqrt of x >= 0 whose gradient at 0 is 0 instead of NaN (inf * 0)."""
    positive = x > 0
    return xp.where(positive, xp.sqrt(xp.where(positive, x, 1.0)), 0.0)


def hasler(rgb: Any) -> Any:
    """Colourfulness of RGB images (..., H, W, 3) -> (...), one value per image.

    Integer inputs are computed in float64 (numpy) or float32 (jax); floats keep their dtype.
    """
    xp = _module(rgb)
    x = xp.asarray(rgb)
    if not xp.issubdtype(x.dtype, xp.floating):
        x = x.astype(np.float64 if xp is np else xp.float32)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    rg = r - g
    yb = 0.5 * (r + g) - b
    pixels = (-2, -1)
    spread = _sqrt(xp.var(rg, axis=pixels) + xp.var(yb, axis=pixels), xp)
    offset = _sqrt(xp.mean(rg, axis=pixels) ** 2 + xp.mean(yb, axis=pixels) ** 2, xp)
    return spread + RG_YB_MEAN_WEIGHT * offset
