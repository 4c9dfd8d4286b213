"""The builder: one complete config in, the model side of a run out; inference builds the
generator alone."""

import jax
import numpy as np
import optax
import pytest

from colorize_jax import models, presets
from colorize_jax.components import builder
from tests.tiny_training import tiny_config


def test_a_plain_config_builds_the_generator_its_head_and_objective():
    config = tiny_config(**{"losses.mse": 0.5, "data.input_noise_std": 0.1})
    components = builder.build(config)
    assert components.scheme == "plain" and list(components.networks) == ["generator"]
    assert components.objective.weights == {"l1": 1.0, "mse": 0.5}  # weight-0 terms dropped
    assert components.head.num_outputs == 2 and components.head.space == "lab"
    assert components.step.input_noise_std == 0.1 and components.step.seed == config.seed
    generator = components.generator
    assert generator.input_channels == 1 and generator.load_pretrained is None
    warmup = config.optimizer.warmup_steps
    peak = config.optimizer.learning_rate
    assert float(generator.learning_rate_fn(warmup)) == pytest.approx(peak)
    assert generator.encoder_learning_rate_fn is None


def test_a_config_file_not_yet_completed_is_refused_by_name():
    # The builder fills nothing: completion happens once, where the config enters (training
    # start, restore), and a caller that skipped it learns which fields are missing.
    raw = tiny_config("pix2pix_lab", complete=False)
    for build in (builder.build, builder.build_generator, builder.build_head):
        with pytest.raises(ValueError, match=r"lacks config\.discriminator\.optimizer\.\w+"):
            build(raw)
    assert builder.build(tiny_config("pix2pix_lab")).scheme == "adversarial"


def test_the_discriminator_is_built_like_the_generator_from_its_own_section():
    config = tiny_config("pix2pix_lab")
    components = builder.build(config)
    assert components.scheme == "adversarial"
    discriminator = components.networks["discriminator"]
    assert discriminator.input_channels == 3  # L + ab
    assert discriminator.model.num_layers == 2
    # its own peak rate on the generator's schedule
    warmup = config.optimizer.warmup_steps
    rate = config.discriminator.optimizer.learning_rate
    assert float(discriminator.learning_rate_fn(warmup)) == pytest.approx(rate)
    params = {"w": np.ones((3,), np.float32)}
    grads = {"w": np.full((3,), 0.1, np.float32)}
    updates, _ = discriminator.optimizer.update(grads, discriminator.optimizer.init(params), params)
    reference = optax.adamw(discriminator.learning_rate_fn, b1=0.5, b2=0.999, weight_decay=0.0)
    expected, _ = reference.update(grads, reference.init(params), params)
    np.testing.assert_allclose(updates["w"], expected["w"])


def test_an_encoder_schedule_and_pretrained_weights_come_with_the_generator():
    config = presets.pretrained_effnet_config("demo")
    components = builder.build(config)
    generator = components.generator
    assert generator.encoder_learning_rate_fn is not None
    step = config.optimizer.warmup_steps
    np.testing.assert_allclose(
        generator.encoder_learning_rate_fn(step),
        config.optimizer.encoder_lr_multiplier * generator.learning_rate_fn(step),
    )
    assert generator.load_pretrained is not None  # loaded by the train state, once


def test_inference_builds_the_same_generator_without_training_parts():
    config = tiny_config("unet_lab_classify", **{"losses.l1": 1.0})
    model, head = builder.build_generator(config)
    components = builder.build(config)
    assert head == components.head and head.num_outputs == 2 + head.num_classes
    assert model == components.generator.model
    shapes = builder.variables_shape(model, 1, config.data.image_size)
    variables = builder.init_variables(model, 1, config.data.image_size, jax.random.key(0))
    assert jax.tree.map(lambda x: (x.shape, x.dtype), variables) == jax.tree.map(
        lambda x: (x.shape, x.dtype), shapes
    )
    assert isinstance(model, models.MODELS["unet"])


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("losses.l2", 1.0, "unknown loss term 'l2'"),
        ("data.target_chroma_gain", 0.0, "target_chroma_gain must be positive"),
        ("decode_chroma_gain", -1.0, "decode_chroma_gain must be positive"),
        ("losses.classify", 1.0, "needs config.classify"),
    ],
)
def test_a_bad_field_is_named_by_the_builder(field, value, message):
    with pytest.raises(ValueError, match=message):
        builder.build(tiny_config(**{field: value}))
