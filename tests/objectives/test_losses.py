"""Tests of the loss terms against hand computations."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from skimage import color

from colorize_jax.colour import colorspace
from colorize_jax.evaluation import metrics
from colorize_jax.objectives import losses


def test_terms_match_hand_computation():
    pred = jnp.array([[0.0, 0.5], [1.0, -1.0]])
    target = jnp.array([[0.2, 0.5], [0.0, -0.5]])
    # errors: 0.2, 0, 1.0, 0.5
    np.testing.assert_allclose(losses.l1(pred, target), (0.2 + 0 + 1.0 + 0.5) / 4, rtol=1e-6)
    np.testing.assert_allclose(losses.mse(pred, target), (0.04 + 0 + 1.0 + 0.25) / 4, rtol=1e-6)
    # huber with delta 0.1: 0.2 -> 0.005 + 0.01; 0 -> 0; 1.0 -> 0.005 + 0.09; 0.5 -> 0.005 + 0.04
    expected = (0.015 + 0 + 0.095 + 0.045) / 4
    np.testing.assert_allclose(losses.huber(pred, target), expected, rtol=1e-6)


def test_weighted_sum_combines_terms_and_reports_each():
    pred = jnp.full((2, 3), 0.5)
    target = jnp.zeros((2, 3))
    total, terms = losses.weighted_sum({"l1": 0.3, "mse": 0.7}, pred, target)
    assert set(terms) == {"l1", "mse"}
    np.testing.assert_allclose(terms["l1"], 0.5)
    np.testing.assert_allclose(terms["mse"], 0.25)
    np.testing.assert_allclose(total, 0.3 * 0.5 + 0.7 * 0.25, rtol=1e-6)


def test_weighted_sum_computes_in_float32():
    pred = jnp.full((4,), 0.5, jnp.bfloat16)
    total, _ = losses.weighted_sum({"l1": 1.0}, pred, jnp.zeros((4,)))
    assert total.dtype == jnp.float32


def test_validate_names_unknown_terms():
    with pytest.raises(
        ValueError, match="unknown loss term 'l2'.*available: colorfulness, huber, l1, mse"
    ):
        losses.validate({"l2": 1.0})
    with pytest.raises(ValueError, match="no term with a non-zero weight"):
        losses.validate({})
    with pytest.raises(ValueError, match="no term with a non-zero weight"):
        losses.validate({"l1": 0.0})
    losses.validate({"l1": 1.0, "mse": 0.5})


def test_zero_weight_terms_are_skipped():
    pred, target = jnp.full((3,), 0.5), jnp.zeros((3,))
    total, terms = losses.weighted_sum({"l1": 0.0, "mse": 2.0}, pred, target)
    assert set(terms) == {"mse"}
    np.testing.assert_allclose(total, 0.5)


def _hasler_by_hand(rgb):
    """Hasler & Suesstrunk colourfulness of one RGB image, in NumPy float64."""
    r, g, b = (rgb[..., i].astype(np.float64).ravel() for i in range(3))
    rg, yb = r - g, (r + g) / 2 - b
    return np.sqrt(rg.var() + yb.var()) + 0.3 * np.hypot(rg.mean(), yb.mean())


def _chroma_rgb_by_hand(predictions, space):
    """The predicted colour as RGB in [0, 1] at mid lightness, with scikit-image and NumPy."""
    predictions = np.asarray(predictions, np.float64)
    if space == "rgb":
        return np.clip((predictions + 1) / 2, 0, 1)
    if space == "lab":
        lab = np.concatenate([np.full(predictions.shape[:-1] + (1,), 50.0), 110 * predictions], -1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # negative Z clipped, as the project does
            return color.lab2rgb(lab)
    uv = predictions * [colorspace.U_MAX, colorspace.V_MAX]
    yuv = np.concatenate([np.full(predictions.shape[:-1] + (1,), 0.5), uv], -1)
    return np.clip(color.yuv2rgb(yuv), 0, 1)


@pytest.mark.parametrize("space", ["lab", "yuv", "rgb"])
def test_colorfulness_term_is_one_minus_hasler_of_the_predicted_rgb(space):
    rng = np.random.default_rng(1)
    channels = colorspace.target_channels(space)
    predictions = rng.uniform(-0.6, 0.6, (3, 6, 5, channels)).astype(np.float32)
    predictions[1] *= 0.1  # a washed-out image beside vivid ones
    expected = np.mean([1 - _hasler_by_hand(_chroma_rgb_by_hand(p, space)) for p in predictions])
    value = losses.colorfulness(jnp.asarray(predictions), jnp.zeros_like(predictions), space=space)
    np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-6)
    # Through the registry, as the train steps call it: the space is passed on.
    total, terms = losses.weighted_sum(
        {"colorfulness": 0.5}, jnp.asarray(predictions), jnp.zeros_like(predictions), space=space
    )
    np.testing.assert_allclose(terms["colorfulness"], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(total, 0.5 * expected, rtol=1e-5, atol=1e-6)
    # The term is 1 - CF / 255 of the 0..255 metric on that RGB.
    rgb_255 = jnp.asarray(_chroma_rgb_by_hand(predictions, space) * 255.0, jnp.float32)
    np.testing.assert_allclose(
        value, np.mean(1 - metrics.colorfulness(rgb_255) / 255), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("space", ["lab", "yuv", "rgb"])
def test_colorfulness_gradient_pushes_predictions_away_from_grey(space):
    rng = np.random.default_rng(2)
    channels = colorspace.target_channels(space)
    # A grey prediction (mid grey in rgb) with a trace of colour noise; then an exact grey.
    grey = jnp.asarray(rng.normal(0, 0.01, (2, 8, 8, channels)), jnp.float32)

    def term(p):
        return losses.weighted_sum({"colorfulness": 1.0}, p, jnp.zeros_like(p), space=space)[0]

    gradient = jax.grad(term)(grey)
    stepped = grey - 2.0 * gradient
    assert float(term(stepped)) < float(term(grey))  # lower loss ...
    before = metrics.colorfulness(jnp.asarray(_chroma_rgb_by_hand(grey, space) * 255))
    after = metrics.colorfulness(jnp.asarray(_chroma_rgb_by_hand(stepped, space) * 255))
    assert (np.asarray(after) > np.asarray(before) + 1.0).all()  # ... more colourful images
    exact = jnp.zeros_like(grey)
    assert np.isfinite(np.asarray(jax.grad(term)(exact))).all()
    # Without a space, 2 channels are lab and 3 are rgb.
    if space != "yuv":
        np.testing.assert_array_equal(
            losses.colorfulness(grey, grey), losses.colorfulness(grey, grey, space=space)
        )
