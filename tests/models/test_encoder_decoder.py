"""Tests of the plain encoder-decoder (no skip connections)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from colorize_jax import models
from colorize_jax.training.state import count_params
from tests.model_fitting import fit_losses


def _model(**overrides):
    config = {"name": "encoder_decoder", "depth": 2, "base_width": 8, **overrides}
    return models.create_model(config, num_outputs=2)


@pytest.mark.parametrize("height,width", [(100, 70), (33, 17)])
def test_output_matches_any_input_size(height, width):
    model = _model()
    x = jnp.zeros((2, height, width, 1))
    variables = models.init_variables(model, jax.random.key(0), x.shape)
    y = jax.jit(model.apply)(variables, x)
    assert y.shape == (2, height, width, 2)
    assert np.all(np.abs(np.asarray(y)) <= 1.0)  # tanh output


def test_parameter_count_at_four_levels_of_64_to_512():
    # Down: conv3x3 without bias (BN follows) + BN scale/bias; up: 4x4 transposed conv halving
    # the width of the level + BN; head: conv3x3 32 -> 2 with bias.
    down = [(1, 64), (64, 128), (128, 256), (256, 512)]
    up = [(512, 256), (256, 128), (128, 64), (64, 32)]
    expected = (
        sum(9 * cin * cout + 2 * cout for cin, cout in down)
        + sum(16 * cin * cout + 2 * cout for cin, cout in up)
        + (9 * 32 * 2 + 2)
    )
    assert expected == 4_337_602
    model = models.create_model({"name": "encoder_decoder"}, num_outputs=2)
    variables = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 32, 32, 1)))
    assert count_params(variables["params"]) == expected


def test_without_norm_the_convs_have_biases():
    model = _model(norm="none", depth=1, base_width=4)
    variables = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 8, 8, 1)))
    expected = (9 * 1 * 4 + 4) + (16 * 4 * 2 + 2) + (9 * 2 * 2 + 2)
    assert count_params(variables["params"]) == expected
    assert "batch_stats" not in variables


def test_bfloat16_compute_keeps_float32_params():
    model = _model(dtype="bfloat16")
    x = jnp.zeros((1, 16, 16, 1))
    variables = models.init_variables(model, jax.random.key(0), x.shape)
    leaves = jax.tree_util.tree_leaves(variables["params"])
    assert all(leaf.dtype == jnp.float32 for leaf in leaves)
    assert jax.jit(model.apply)(variables, x).dtype == jnp.float32


def test_loss_decreases_on_a_small_batch():
    losses = fit_losses(_model())
    assert losses[-1] < 0.6 * losses[0]
