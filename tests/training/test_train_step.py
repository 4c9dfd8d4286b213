"""Unit tests of the pure train step and the learning-rate schedule."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from colorize_jax.colour import colorspace
from colorize_jax.components import builder, optimizer
from colorize_jax.runtime import sharding
from colorize_jax.training import plain, schemes
from tests.tiny_training import tiny_config


@pytest.fixture(scope="module")
def setup():
    config = tiny_config(warmup_steps=0)  # so that the very first step moves the parameters
    components = builder.build(config)
    model = components.generator.model
    state = schemes.create_train_state(components, jax.random.key(0), sharding.create_mesh())
    rng = np.random.default_rng(0)
    batch = {
        "image": jnp.asarray(rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)),
        "mask": jnp.ones((4,), bool),
        "num_skipped": jnp.asarray([0, 2, 0, 1], jnp.int32),
    }
    return config, model, state, batch


def _step(config, *, loss_weights, input_noise_std=0.0):
    config = config.copy_and_resolve_references()
    config.losses = dict(loss_weights)
    config.data.input_noise_std = input_noise_std
    return jax.jit(functools.partial(plain.train_step, components=builder.build(config)))


def test_train_step_loss_is_the_weighted_sum_of_terms(setup):
    config, model, state, batch = setup
    step = _step(config, loss_weights={"l1": 0.25, "mse": 2.0})
    new_state, metrics = step(state, batch)
    # Independent second path: the same forward pass, losses computed by hand in NumPy.
    inputs, targets = colorspace.encode(batch["image"], "lab")
    predictions, _ = model.apply(
        state.generator.variables, inputs, train=True, mutable=["batch_stats"]
    )
    error = np.asarray(predictions) - np.asarray(targets)
    np.testing.assert_allclose(metrics["loss_l1"], np.abs(error).mean(), rtol=1e-5)
    np.testing.assert_allclose(metrics["loss_mse"], np.square(error).mean(), rtol=1e-5)
    np.testing.assert_allclose(
        metrics["loss"], 0.25 * metrics["loss_l1"] + 2.0 * metrics["loss_mse"], rtol=1e-6
    )
    assert int(metrics["num_skipped"]) == 3
    assert int(new_state.step) == 1
    changed = jax.tree_util.tree_map(
        lambda a, b: bool(jnp.any(a != b)), state.generator.params, new_state.generator.params
    )
    assert all(jax.tree_util.tree_leaves(changed))


def test_input_noise_changes_only_the_input(setup):
    config, _, state, batch = setup
    clean = _step(config, loss_weights={"l1": 1.0})(state, batch)[1]["loss"]
    noisy = _step(config, loss_weights={"l1": 1.0}, input_noise_std=0.5)(state, batch)[1]["loss"]
    assert float(noisy) != float(clean)


def test_learning_rate_warms_up_then_decays_to_zero():
    config = tiny_config(num_train_steps=100, warmup_steps=10, learning_rate=1e-3)
    schedule = optimizer.create_learning_rate_fn(config.optimizer, config.num_train_steps)
    assert float(schedule(0)) == 0.0
    np.testing.assert_allclose(float(schedule(5)), 5e-4, rtol=1e-5)
    np.testing.assert_allclose(float(schedule(10)), 1e-3, rtol=1e-5)
    # Cosine half-way through the decay: (1 + cos(pi/2)) / 2 = 0.5 of the peak.
    np.testing.assert_allclose(float(schedule(55)), 5e-4, rtol=1e-4)
    assert float(schedule(100)) == pytest.approx(0.0, abs=1e-9)
