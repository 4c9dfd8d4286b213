"""The export's parity check: an artifact against the JAX model it was made from, on a photo.

The photo at its render shape in a batch of 1, and transposed (another height and width) with
its mirror image in a batch of 2: max and mean abs difference of the target, and of the
full-resolution 8-bit RGB pictures made from either. Beyond TARGET_TOLERANCE or RGB_TOLERANCE
the artifact fails (`failed_checks`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from colorize_jax.colour import colorspace
from colorize_jax.inference import full_resolution
from colorize_jax.inference.export_forward import predict_function

TARGET_TOLERANCE = 1e-3  # max abs difference of the target (target units, ab / 110 for lab)
RGB_TOLERANCE = 0.1  # mean abs difference of the 8-bit RGB pictures


def check_parity(
    colorizer: full_resolution.Colorizer,
    predict: Callable[[np.ndarray], np.ndarray],
    image: np.ndarray,
) -> list[dict[str, Any]]:
    """The artifact's `predict` against the JAX model: `image` alone, and transposed twice.

    At the render shape of `image` in a batch of 1, and of its transpose (another height and
    width) with its mirror image in a batch of 2. Both targets become full-resolution 8-bit
    pictures the same way (NumPy, as `onnx_colorizer.ExportedColorizer`), so the pictures differ
    by what the artifact does alone.
    """
    reference, space = jax.jit(predict_function(colorizer)), colorizer.config.data.color_space
    turned = np.ascontiguousarray(image.transpose(1, 0, 2))
    rows = []
    for images in ([image], [turned, np.ascontiguousarray(turned[:, ::-1])]):
        shape = colorizer.render_shape(*images[0].shape[:2])
        small = np.stack([full_resolution.resize_rgb(rgb, shape) for rgb in images])
        inputs, _ = colorspace.encode(small, space)
        expected, got = np.asarray(reference(inputs)), np.asarray(predict(inputs), np.float32)
        target = np.abs(expected - got)
        rgb8 = np.abs(
            _pictures(images, inputs, expected, space) - _pictures(images, inputs, got, space)
        )
        rows.append(
            {
                "picture": list(images[0].shape[:2]),
                "model_input": [len(images), *shape, 1],
                "target_max_abs": float(target.max()),
                "target_mean_abs": float(target.mean()),
                "rgb8_max_abs": int(rgb8.max()),
                "rgb8_mean_abs": float(rgb8.mean()),
            }
        )
    return rows


def _pictures(images, inputs, targets, space) -> np.ndarray:
    ab = full_resolution.target_ab(inputs, targets, space)
    return np.stack(
        [full_resolution.recombine(*pair) for pair in zip(images, ab, strict=True)]
    ).astype(np.int16)


def failed_checks(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of `check_parity` beyond TARGET_TOLERANCE (max) or RGB_TOLERANCE (mean)."""
    return [
        row
        for row in rows
        if row["target_max_abs"] > TARGET_TOLERANCE or row["rgb8_mean_abs"] > RGB_TOLERANCE
    ]
