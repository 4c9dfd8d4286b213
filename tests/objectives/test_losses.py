"""Tests of the loss terms and the GAN sides against hand computations."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from skimage import color

from colorize_jax.colour import colorspace
from colorize_jax.evaluation import metrics
from colorize_jax.objectives import gan_losses, heads, losses, terms


def _plain_head(space="lab"):
    """The head of a plain regression network: its outputs are the colour, as they are."""
    return heads.Head(space=space, regression_channels=colorspace.target_channels(space))


def _generator_loss(weights, predictions, targets, space="lab", **kwargs):
    """`losses.generator_loss` of a plain regression head on `predictions` (its raw outputs)."""
    inputs = jnp.zeros(predictions.shape[:-1] + (1,), jnp.float32)
    return losses.generator_loss(
        losses.create(weights), _plain_head(space), predictions, targets, inputs=inputs, **kwargs
    )


def test_terms_match_hand_computation():
    pred = jnp.array([[0.0, 0.5], [1.0, -1.0]])
    target = jnp.array([[0.2, 0.5], [0.0, -0.5]])
    # errors: 0.2, 0, 1.0, 0.5
    np.testing.assert_allclose(terms.l1(pred, target), (0.2 + 0 + 1.0 + 0.5) / 4, rtol=1e-6)
    np.testing.assert_allclose(terms.mse(pred, target), (0.04 + 0 + 1.0 + 0.25) / 4, rtol=1e-6)
    # huber with delta 0.1: 0.2 -> 0.005 + 0.01; 0 -> 0; 1.0 -> 0.005 + 0.09; 0.5 -> 0.005 + 0.04
    expected = (0.015 + 0 + 0.095 + 0.045) / 4
    np.testing.assert_allclose(terms.huber(pred, target), expected, rtol=1e-6)


@pytest.mark.parametrize("delta", [0.1, 0.5, 1.0])
def test_mse_and_huber_match_numpy_on_random_arrays(delta):
    rng = np.random.default_rng(7)
    pred = rng.uniform(-1.5, 1.5, (2, 5, 4, 2))
    target = rng.uniform(-1, 1, (2, 5, 4, 2))
    error = np.abs(pred - target)  # float64 from here on
    np.testing.assert_allclose(
        terms.mse(jnp.asarray(pred, jnp.float32), jnp.asarray(target, jnp.float32)),
        np.mean(error**2),
        rtol=1e-5,
    )
    # Huber: e^2 / 2 below delta, delta * (e - delta / 2) above.
    expected = np.mean(np.where(error <= delta, 0.5 * error**2, delta * (error - 0.5 * delta)))
    assert (error > delta).any() and (error <= delta).any()  # both pieces of the function
    value = terms.huber(jnp.asarray(pred, jnp.float32), jnp.asarray(target, jnp.float32), delta)
    np.testing.assert_allclose(value, expected, rtol=1e-5)
    if delta == 0.1:  # the default
        np.testing.assert_allclose(
            terms.huber(jnp.asarray(pred, jnp.float32), jnp.asarray(target, jnp.float32)),
            expected,
            rtol=1e-5,
        )


def _gan_logits(seed=3):
    rng = np.random.default_rng(seed)
    real = rng.normal(0.5, 2.0, (2, 6, 6, 1))
    fake = rng.normal(-0.5, 2.0, (2, 6, 6, 1))
    return real, fake


def _softplus(x):
    return np.logaddexp(0.0, x)


# The two sides of each GAN loss in NumPy float64: (discriminator(real, fake), generator(fake)).
GAN_BY_HAND = {
    # -log sigmoid(x) = softplus(-x); -log(1 - sigmoid(x)) = softplus(x)
    "gan_vanilla": (
        lambda real, fake: 0.5 * (np.mean(_softplus(-real)) + np.mean(_softplus(fake))),
        lambda fake: np.mean(_softplus(-fake)),
    ),
    "gan_lsgan": (
        lambda real, fake: 0.5 * (np.mean((real - 1) ** 2) + np.mean(fake**2)),
        lambda fake: np.mean((fake - 1) ** 2),
    ),
    "gan_hinge": (
        lambda real, fake: (
            0.5 * (np.mean(np.maximum(0, 1 - real)) + np.mean(np.maximum(0, 1 + fake)))
        ),
        lambda fake: -np.mean(fake),
    ),
}


@pytest.mark.parametrize("name", sorted(GAN_BY_HAND))
def test_gan_sides_match_numpy(name):
    real, fake = _gan_logits()
    discriminator_by_hand, generator_by_hand = GAN_BY_HAND[name]
    gan = gan_losses.GAN_LOSSES[name]
    as32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    np.testing.assert_allclose(
        gan.discriminator(as32(real), as32(fake)), discriminator_by_hand(real, fake), rtol=1e-5
    )
    np.testing.assert_allclose(gan.generator(as32(fake)), generator_by_hand(fake), rtol=1e-5)
    # The registry's term of that name is the generator's side, on the fake outputs alone.
    term = terms.TERMS[name]
    assert term.kind == "adversarial" and term.gan is gan and term.fn is gan.generator
    # Large logits stay finite (the cross-entropies are computed from the logits).
    extreme = as32(np.array([-200.0, -50.0, 0.0, 50.0, 200.0]))
    assert np.isfinite(float(gan.discriminator(extreme, extreme)))
    assert np.isfinite(float(gan.generator(extreme)))
    if name == "gan_vanilla":
        np.testing.assert_allclose(gan.generator(as32([-200.0])), 200.0, rtol=1e-6)


def test_generator_loss_combines_terms_and_reports_each():
    pred = jnp.full((1, 2, 3, 2), 0.5)
    target = jnp.zeros((1, 2, 3, 2))
    total, values = _generator_loss({"l1": 0.3, "mse": 0.7}, pred, target)
    assert set(values) == {"l1", "mse"}
    np.testing.assert_allclose(values["l1"], 0.5)
    np.testing.assert_allclose(values["mse"], 0.25)
    np.testing.assert_allclose(total, 0.3 * 0.5 + 0.7 * 0.25, rtol=1e-6)


def test_generator_loss_computes_in_float32():
    pred = jnp.full((1, 2, 2, 2), 0.5, jnp.bfloat16)
    total, values = _generator_loss({"l1": 1.0}, pred, jnp.zeros((1, 2, 2, 2), jnp.bfloat16))
    assert total.dtype == jnp.float32 and values["l1"].dtype == jnp.float32


def test_create_names_unknown_terms():
    with pytest.raises(
        ValueError,
        match="unknown loss term 'l2'.*available: colour: colorfulness, huber, l1, mse; "
        "decoded: perceptual; logits: classify; "
        "adversarial: gan_hinge, gan_lsgan, gan_vanilla",
    ):
        losses.create({"l2": 1.0})
    with pytest.raises(ValueError, match="no term with a non-zero weight"):
        losses.create({})
    with pytest.raises(ValueError, match="no term with a non-zero weight"):
        losses.create({"l1": 0.0})
    assert losses.create({"l1": 1.0, "mse": 0.5}).weights == {"l1": 1.0, "mse": 0.5}


def test_zero_weight_terms_are_skipped():
    pred, target = jnp.full((1, 3, 1, 2), 0.5), jnp.zeros((1, 3, 1, 2))
    assert losses.create({"l1": 0.0, "mse": 2.0}).weights == {"mse": 2.0}
    total, values = _generator_loss({"l1": 0.0, "mse": 2.0}, pred, target)
    assert set(values) == {"mse"}
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
    value = terms.colorfulness(jnp.asarray(predictions), jnp.zeros_like(predictions), space=space)
    np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-6)
    # Through the objective, as the train steps call it: the head's space is passed on.
    total, values = _generator_loss(
        {"colorfulness": 0.5}, jnp.asarray(predictions), jnp.zeros_like(predictions), space=space
    )
    np.testing.assert_allclose(values["colorfulness"], expected, rtol=1e-5, atol=1e-6)
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
        return _generator_loss({"colorfulness": 1.0}, p, jnp.zeros_like(p), space=space)[0]

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
            terms.colorfulness(grey, grey), terms.colorfulness(grey, grey, space=space)
        )
