"""The anchors' switches for more saturated colour, in the train step: DDColor's target chroma
gain (config.data.target_chroma_gain) and its colourfulness loss term through the heads.

(The colourfulness filter of the training photos is tested with the pipeline, in
test_data_pipeline.py; the term's values and gradient in test_losses.py.)
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from skimage import color

from colorize_jax import models
from colorize_jax.colour import colorspace
from colorize_jax.objectives import heads, losses
from colorize_jax.runtime import sharding
from colorize_jax.training import adversarial as gan
from colorize_jax.training import steps
from tests.tiny_training import tiny_config


def _batch(seed=0, size=32):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (4, size, size, 3), dtype=np.uint8)
    images[0] = [0, 0, 255]  # pure blue: its b x 1.2 leaves the [-1, 1] range
    return {
        "image": jnp.asarray(images),
        "mask": jnp.ones((4,), bool),
        "num_skipped": jnp.zeros((4,), jnp.int32),
    }


def _targets_seen_by_the_step(config, batch, monkeypatch):
    """The targets the jitted step of `config` computes its loss terms against."""
    seen = []

    def probe(predictions, targets):
        jax.debug.callback(lambda t: seen.append(np.asarray(t)), targets)
        return 0.0 * jnp.mean(predictions)

    monkeypatch.setitem(losses.LOSS_TERMS, "probe", probe)
    weights = {name: 0.0 for name in config.losses}
    weights.update(probe=1.0)
    if gan.enabled(config):
        weights["gan_vanilla"] = 1.0
    config.losses = ml_collections.ConfigDict(weights)
    head = heads.create(config)
    model = models.create_model(config.model, head.num_outputs)
    state = steps.create_train_state(config, model, jax.random.key(0), sharding.create_mesh())
    jax.block_until_ready(jax.jit(steps.make_step_fn(config))(state, batch))
    assert len(seen) == 1
    return seen[0]


@pytest.mark.parametrize("experiment", ["unet_lab", "pix2pix_lab"])
def test_the_step_trains_on_targets_with_their_chroma_multiplied(experiment, monkeypatch):
    batch = _batch()
    # Independent path: scikit-image's CIELAB of the uint8 photos, in float64.
    ab = color.rgb2lab(np.asarray(batch["image"]) / 255.0)[..., 1:] / 110.0
    config = tiny_config(experiment, **{"data.target_chroma_gain": 1.2})
    seen = _targets_seen_by_the_step(config, batch, monkeypatch)
    np.testing.assert_allclose(seen, np.clip(1.2 * ab, -1.0, 1.0), atol=2e-4)
    assert (seen[0, ..., 1] == -1.0).all() and (1.2 * ab[0, ..., 1] < -1.0).all()  # clipped
    config = tiny_config(experiment, **{"data.target_chroma_gain": 1.0})
    np.testing.assert_allclose(_targets_seen_by_the_step(config, batch, monkeypatch), ab, atol=2e-4)


def test_gain_one_changes_nothing_bit_for_bit():
    rng = np.random.default_rng(0)
    for space in colorspace.SPACES:
        targets = jnp.asarray(rng.uniform(-1, 1, (2, 3, colorspace.target_channels(space))))
        assert colorspace.scale_chroma(targets, space, 1.0) is targets
    batch = _batch()
    config = tiny_config(warmup_steps=0, **{"data.target_chroma_gain": 1.0})
    model = models.create_model(config.model, 2)
    state = steps.create_train_state(config, model, jax.random.key(0), sharding.create_mesh())
    with_head = steps.make_step_fn(config)
    without = steps.make_step_fn(config)
    without = functools.partial(without.func, **{**without.keywords, "head": None})
    jaxprs = [str(jax.make_jaxpr(step)(state, batch)) for step in (with_head, without)]
    assert jaxprs[0] == jaxprs[1]  # the very same computation as before the switch existed
    config.data.target_chroma_gain = 1.2
    assert str(jax.make_jaxpr(steps.make_step_fn(config))(state, batch)) != jaxprs[0]


def test_the_gain_is_for_training_only_and_must_be_positive():
    config = tiny_config(**{"data.target_chroma_gain": 1.2})
    head = heads.create(config)
    assert head.target_chroma_gain == 1.2
    outputs = jnp.asarray(np.random.default_rng(0).uniform(-0.5, 0.5, (1, 4, 4, 2)), jnp.float32)
    np.testing.assert_array_equal(head.predict(outputs), outputs)  # evaluation: as predicted
    targets = outputs * 0.5
    _, terms = head.loss({"l1": 1.0}, outputs, targets)
    np.testing.assert_allclose(terms["l1"], np.abs(outputs - 0.6 * outputs).mean(), rtol=1e-6)
    config.data.target_chroma_gain = 0.0
    with pytest.raises(ValueError, match="target_chroma_gain must be positive"):
        heads.create(config)


def test_classify_head_boosts_its_soft_targets_too():
    config = tiny_config("unet_lab_classify")
    config.losses.l1 = 1.0
    rng = np.random.default_rng(1)
    outputs = jnp.asarray(rng.normal(0, 1, (1, 4, 4, 264)), jnp.float32)
    targets = jnp.asarray(rng.uniform(-0.4, 0.4, (1, 4, 4, 2)), jnp.float32)
    weights = {"classify": 1.0, "l1": 1.0}
    plain_head = heads.create(config)
    plain = plain_head.loss(weights, outputs, targets)[1]
    config.data.target_chroma_gain = 1.5
    boosted = heads.create(config).loss(weights, outputs, targets)[1]
    again = plain_head.loss(weights, outputs, targets * 1.5)[1]  # targets boosted by hand
    for name in ("classify", "l1"):
        assert float(boosted[name]) != float(plain[name])
        np.testing.assert_allclose(boosted[name], again[name], rtol=1e-6)


@pytest.mark.parametrize("space", ["lab", "yuv", "rgb"])
def test_plain_regression_head_passes_its_space_to_the_colorfulness_term(space):
    config = tiny_config(**{"data.color_space": space})
    channels = colorspace.target_channels(space)
    outputs = jnp.asarray(np.random.default_rng(2).uniform(-0.5, 0.5, (2, 4, 4, channels)))
    _, terms = heads.create(config).loss({"colorfulness": 1.0}, outputs, outputs)
    expected = losses.colorfulness(outputs, outputs, space=space)
    np.testing.assert_array_equal(terms["colorfulness"], expected)


def test_classify_head_applies_colorfulness_to_its_regression_channels_only():
    config = tiny_config("unet_lab_classify")
    config.losses.colorfulness = 0.5  # the only regression term: it creates the channels
    head = heads.create(config)
    assert head.regression_channels == 2 and head.num_outputs == 264
    rng = np.random.default_rng(3)
    outputs = jnp.asarray(rng.normal(0, 0.05, (2, 4, 4, 264)), jnp.float32)
    targets = jnp.asarray(rng.uniform(-0.4, 0.4, (2, 4, 4, 2)), jnp.float32)
    weights = {"classify": 1.0, "colorfulness": 0.5}

    def total(o):
        return head.loss(weights, o, targets)[0]

    value, terms = head.loss(weights, outputs, targets)
    expected = losses.colorfulness(jnp.tanh(outputs[..., :2]), targets, space="lab")
    np.testing.assert_allclose(terms["colorfulness"], expected, rtol=1e-6)
    np.testing.assert_allclose(value, terms["classify"] + 0.5 * expected, rtol=1e-6)
    only_colour = jax.grad(lambda o: head.loss({"colorfulness": 1.0}, o, targets)[0])(outputs)
    assert np.abs(np.asarray(only_colour[..., :2])).max() > 0
    np.testing.assert_array_equal(only_colour[..., 2:], 0.0)  # no gradient into the logits
    # One step along the gradient makes the regressed colour more colourful.
    stepped = outputs - 1.0 * jax.grad(total)(outputs)
    assert float(head.loss(weights, stepped, targets)[1]["colorfulness"]) < float(expected)
