"""The anchors' switches for more saturated colour, in the train step: DDColor's target chroma
gain (config.data.target_chroma_gain, applied to the targets of every scheme in
`step_inputs.prepare`) and its colourfulness loss term through the heads.

(The colourfulness filter of the training photos is tested with the pipeline, in
test_data_pipeline.py; the term's values and gradient in test_losses.py.)
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from skimage import color

from colorize_jax.colour import colorspace
from colorize_jax.components import builder
from colorize_jax.objectives import losses, step_inputs, terms
from colorize_jax.runtime import sharding
from colorize_jax.training import plain, schemes
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


CLASSIFY = terms.TERMS["classify"]


def _recorded(term, seen):
    """`term` (a `terms.LossTerm`) that also records the targets it is given, in `seen`."""

    def fn(*arguments, **keywords):
        targets = arguments[1]
        jax.debug.callback(lambda t: seen.append(np.asarray(t)), targets)
        return term.fn(*arguments, **keywords)

    return terms.LossTerm(fn, term.kind, uses=term.uses)


def _probe(predictions, targets):
    return 0.0 * jnp.mean(predictions)


def _targets_seen_by_the_step(config, batch, monkeypatch):
    """The targets the jitted step of `config` computes its loss terms against: those of a probe
    term of kind "colour", and of the classify term where the config has a classification head
    (the same, or the test fails)."""
    seen = {"probe": [], "classify": []}
    monkeypatch.setitem(
        terms.TERMS, "probe", _recorded(terms.LossTerm(_probe, "colour"), seen["probe"])
    )
    monkeypatch.setitem(terms.TERMS, "classify", _recorded(CLASSIFY, seen["classify"]))
    for name in config.losses:
        config.losses[name] = 0.0
    config.losses.probe = 1.0
    if config.get("discriminator"):
        config.losses.gan_vanilla = 1.0
    if config.get("classify"):
        config.losses.classify = 1.0
    components = builder.build(config)
    state = schemes.create_train_state(components, jax.random.key(0), sharding.create_mesh())
    jax.block_until_ready(jax.jit(schemes.make_step_fn(components))(state, batch))
    assert len(seen["probe"]) == 1
    if config.get("classify"):
        assert len(seen["classify"]) == 1
        np.testing.assert_array_equal(seen["classify"][0], seen["probe"][0])
    else:
        assert not seen["classify"]
    return seen["probe"][0]


@pytest.mark.parametrize("experiment", ["unet_lab", "pix2pix_lab", "unet_lab_classify"])
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


def test_gain_one_changes_nothing_bit_for_bit(monkeypatch):
    rng = np.random.default_rng(0)
    for space in colorspace.SPACES:
        targets = jnp.asarray(rng.uniform(-1, 1, (2, 3, colorspace.target_channels(space))))
        assert colorspace.scale_chroma(targets, space, 1.0) is targets
    batch = _batch()
    config = tiny_config(warmup_steps=0, **{"data.target_chroma_gain": 1.0})
    components = builder.build(config)
    state = schemes.create_train_state(components, jax.random.key(0), sharding.create_mesh())

    def jaxpr(components):
        # A new function each time: make_jaxpr caches the traces of one function object.
        step = functools.partial(plain.train_step, components=components)
        return str(jax.make_jaxpr(step)(state, batch))

    def without_scaling(components):
        with monkeypatch.context() as patch:
            patch.setattr(colorspace, "scale_chroma", lambda targets, space, gain: targets)
            return jaxpr(components)

    with_switch = jaxpr(components)
    # The step with no chroma scaling at all (as before the switch existed) is the very same
    # computation.
    assert with_switch == without_scaling(components)
    config.data.target_chroma_gain = 1.2
    boosted = builder.build(config)
    assert jaxpr(boosted) != with_switch
    assert without_scaling(boosted) == with_switch  # the scaling is all that a gain changes


def test_the_gain_is_for_training_only_and_must_be_positive():
    config = tiny_config(**{"data.target_chroma_gain": 1.2})
    components = builder.build(config)
    assert components.step.target_chroma_gain == 1.2
    head = components.head
    assert head == builder.build_generator(tiny_config())[1]  # the head knows nothing of it
    outputs = jnp.asarray(np.random.default_rng(0).uniform(-0.5, 0.5, (1, 4, 4, 2)), jnp.float32)
    np.testing.assert_array_equal(head.predict(outputs), outputs)  # evaluation: as predicted
    # The step boosts its targets once, in `step_inputs.prepare`; the loss takes them as given.
    targets = outputs * 0.5
    _, values = losses.generator_loss(
        components.objective, head, outputs, targets, inputs=jnp.zeros((1, 4, 4, 1))
    )
    np.testing.assert_allclose(values["l1"], np.abs(outputs - targets).mean(), rtol=1e-6)
    image = {
        "image": jnp.asarray(np.random.default_rng(1).integers(0, 256, (1, 4, 4, 3), np.uint8))
    }
    _, _, boosted, _ = step_inputs.prepare(
        image, 0, space="lab", seed=0, input_noise_std=0.0, target_chroma_gain=1.2
    )
    _, encoded = colorspace.encode(image["image"], "lab")
    np.testing.assert_allclose(boosted, np.clip(1.2 * np.asarray(encoded), -1, 1), rtol=1e-6)
    for gain in (0.0, -1.0):
        config.data.target_chroma_gain = gain
        with pytest.raises(ValueError, match="target_chroma_gain must be positive"):
            builder.build(config)
        with pytest.raises(ValueError, match="target_chroma_gain must be positive"):
            builder.build_generator(config)


@pytest.mark.parametrize("space", ["lab", "yuv", "rgb"])
def test_plain_regression_head_passes_its_space_to_the_colorfulness_term(space):
    config = tiny_config(**{"data.color_space": space})
    config.losses.l1 = 0.0
    config.losses.colorfulness = 1.0
    components = builder.build(config)
    channels = colorspace.target_channels(space)
    assert components.head.space == space and components.head.num_outputs == channels
    outputs = jnp.asarray(np.random.default_rng(2).uniform(-0.5, 0.5, (2, 4, 4, channels)))
    _, values = losses.generator_loss(
        components.objective, components.head, outputs, outputs, inputs=outputs[..., :1]
    )
    expected = terms.colorfulness(outputs, outputs, space=space)
    np.testing.assert_array_equal(values["colorfulness"], expected)


def test_classify_head_applies_colorfulness_to_its_regression_channels_only():
    config = tiny_config("unet_lab_classify")
    config.losses.colorfulness = 0.5  # the only regression term: it creates the channels
    components = builder.build(config)
    objective, head = components.objective, components.head
    assert objective.weights == {"classify": 1.0, "colorfulness": 0.5}
    assert head.regression_channels == 2 and head.num_outputs == 264
    rng = np.random.default_rng(3)
    outputs = jnp.asarray(rng.normal(0, 0.05, (2, 4, 4, 264)), jnp.float32)
    targets = jnp.asarray(rng.uniform(-0.4, 0.4, (2, 4, 4, 2)), jnp.float32)
    inputs = jnp.zeros((2, 4, 4, 1), jnp.float32)

    def loss(objective, o):
        return losses.generator_loss(objective, head, o, targets, inputs=inputs)

    value, values = loss(objective, outputs)
    expected = terms.colorfulness(jnp.tanh(outputs[..., :2]), targets, space="lab")
    np.testing.assert_allclose(values["colorfulness"], expected, rtol=1e-6)
    np.testing.assert_allclose(value, values["classify"] + 0.5 * expected, rtol=1e-6)
    only = losses.create({"colorfulness": 1.0}, classify=True)
    only_colour = jax.grad(lambda o: loss(only, o)[0])(outputs)
    assert np.abs(np.asarray(only_colour[..., :2])).max() > 0
    np.testing.assert_array_equal(only_colour[..., 2:], 0.0)  # no gradient into the logits
    # One step along the gradient makes the regressed colour more colourful.
    stepped = outputs - 1.0 * jax.grad(lambda o: loss(objective, o)[0])(outputs)
    assert float(loss(objective, stepped)[1]["colorfulness"]) < float(expected)
