"""One prediction path: the Colorizer and the evaluator colorize alike with the same network.

A tiny U-Net is trained once (the `workdir` fixture) and restored by a Colorizer whose decode
boosts chroma (so the head's decoding is part of what both paths must share). The evaluator's
colorized image at the network's size is checked against scikit-image's lab2rgb of the
Colorizer's (a, b) on the true lightness, and against the Colorizer's own output.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from skimage import color

from colorize_jax.evaluation import validation
from colorize_jax.inference import full_resolution, predict


@pytest.fixture(scope="module")
def colorizer(workdir):
    return full_resolution.Colorizer(
        workdir, checkpoint="latest", overrides={"decode_chroma_gain": 2.0}
    )


def photos(count: int, size: int) -> np.ndarray:
    """Smooth colourful uint8 RGB test images (count, size, size, 3)."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:size] / size
    base = np.stack([x, y, 1 - x * y], axis=-1) * 200 + 20
    images = [np.roll(base, 5 * i, axis=1) + rng.normal(0, 8, base.shape) for i in range(count)]
    return np.clip(images, 0, 255).astype(np.uint8)


def _lab2rgb_uint8(lab: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # out-of-gamut colours are clipped, as decode does
        rgb = color.lab2rgb(lab)
    return np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8)


def test_the_evaluator_colorizes_with_the_colorizers_prediction(colorizer):
    size = colorizer.render_size
    images = photos(3, size)
    assert colorizer.render_shape(size, size) == (size, size)  # the network's own size
    assert colorizer.head.chroma_gain == 2.0 and colorizer.head is colorizer.network.head

    ab = colorizer.predict_ab(images)
    _, colorized = validation.colorize_batch(colorizer.network, colorizer.head, images)
    colorized = np.asarray(colorized)

    assert ab.shape == (3, size, size, 2)
    assert np.abs(ab).mean() > 1.0  # a real colour prediction, not zeros
    # Independent path: scikit-image puts the Colorizer's ab on the true lightness.
    lab = color.rgb2lab(images)
    lab[..., 1:] = ab
    expected = _lab2rgb_uint8(lab)
    assert np.abs(colorized.astype(np.int32) - expected).max() <= 1
    # The Colorizer's own output at that size (no resizing) agrees wherever the colour is in
    # the sRGB gamut (out of it, the Colorizer shrinks chroma where evaluation clips).
    lab_back = color.rgb2lab(expected)
    in_gamut = np.linalg.norm(lab_back[..., 1:] - lab[..., 1:], axis=-1) < 1.5
    assert in_gamut.mean() > 0.5
    full = np.stack(colorizer.colorize_batch(list(images)))
    assert np.abs(full.astype(np.int32) - colorized)[in_gamut].max() <= 1


def test_predict_reads_the_network_through_its_head(colorizer):
    images = jnp.asarray(photos(2, 16))
    network = colorizer.network
    inputs, predictions = jax.jit(predict.predict, static_argnums=1)(
        network, colorizer.head, images
    )
    # Independent path: the lightness by scikit-image, the head applied by hand.
    lightness = color.rgb2lab(np.asarray(images))[..., :1]
    np.testing.assert_allclose(np.asarray(inputs), lightness / 50.0 - 1.0, atol=1e-4)
    raw = network.apply_fn(network.variables, inputs, train=False)
    expected = np.clip(np.asarray(raw, np.float32) * 2.0, -1.0, 1.0)  # chroma gain 2 on ab
    assert predictions.dtype == jnp.float32 and predictions.shape == (2, 16, 16, 2)
    np.testing.assert_allclose(np.asarray(predictions), expected, atol=1e-5)
