"""Tests of the model registry and the U-Net."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from colorize_jax import models
from colorize_jax.models import layers
from colorize_jax.training.state import count_params
from tests.model_fitting import fit_losses


def _unet(**overrides):
    config = {"name": "unet", "depth": 2, "base_width": 8, "dtype": "float32", **overrides}
    return models.create_model(config, num_outputs=2)


@pytest.mark.parametrize("height,width", [(100, 70), (64, 64), (33, 17)])
def test_unet_output_matches_any_input_size(height, width):
    model = _unet()
    x = jnp.zeros((2, height, width, 1))
    variables = models.init_variables(model, jax.random.key(0), x.shape)
    y = jax.jit(model.apply)(variables, x)
    assert y.shape == (2, height, width, 2)
    assert np.all(np.abs(np.asarray(y)) <= 1.0)  # tanh output


def test_unet_parameter_count_matches_hand_count():
    # depth 1, base 4, batch norm: enc block 1->4 (conv 9*1*4, conv 9*4*4, 2 BN x 2*4),
    # mid 4->8 (9*4*8 + 9*8*8 + 2*2*8), up transpose 2*2*8*4+4, dec 8->4 (9*8*4 + 9*4*4 + 2*2*4),
    # head 1x1 4->2 + bias 2.
    expected = (
        (9 * 4 + 9 * 16 + 16)
        + (9 * 32 + 9 * 64 + 32)
        + (4 * 32 + 4)
        + (9 * 32 + 9 * 16 + 16)
        + (4 * 2 + 2)
    )
    model = _unet(depth=1, base_width=4)
    variables = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 8, 8, 1)))
    assert count_params(variables["params"]) == expected


def test_unet_variants_build_and_differ():
    x = jnp.ones((1, 20, 20, 1))
    counts = {}
    for variant in [
        {},
        {"down": "strided"},
        {"up": "bilinear"},
        {"norm": "group", "base_width": 16},
        {"norm": "none"},
    ]:
        model = _unet(**variant)
        variables = models.init_variables(model, jax.random.key(0), x.shape)
        assert jax.jit(model.apply)(variables, x).shape == (1, 20, 20, 2)
        counts[str(variant)] = count_params(variables["params"])
    assert counts["{'down': 'strided'}"] > counts["{}"]  # strided convs add weights
    assert counts["{'norm': 'none'}"] != counts["{}"]


def test_unet_bfloat16_compute_keeps_float32_params():
    model = _unet(dtype="bfloat16")
    x = jnp.zeros((1, 16, 16, 1))
    variables = models.init_variables(model, jax.random.key(0), x.shape)
    leaves = jax.tree_util.tree_leaves(variables["params"])
    assert all(leaf.dtype == jnp.float32 for leaf in leaves)
    assert jax.jit(model.apply)(variables, x).dtype == jnp.float32  # the head output is cast back


def test_unet_loss_decreases_on_a_small_batch():
    losses = fit_losses(_unet())
    assert losses[-1] < 0.5 * losses[0]


def test_unknown_model_names_the_closest():
    with pytest.raises(ValueError, match="did you mean 'unet'"):
        models.create_model({"name": "unte"}, num_outputs=2)


def test_unknown_norm_is_a_clear_error():
    model = _unet(norm="layer")
    with pytest.raises(ValueError, match="unknown norm 'layer'"):
        model.init(jax.random.key(0), jnp.zeros((1, 8, 8, 1)))


def test_unknown_model_field_is_named():
    with pytest.raises(ValueError, match="does not take: base_widht.*base_width"):
        models.create_model({"name": "unet", "base_widht": 8}, num_outputs=2)


@pytest.mark.parametrize("shape", [(2, 8, 6, 3), (1, 7, 5, 2)])
def test_max_pool_2x2_matches_flax_and_its_gradient(shape):
    x = jax.random.normal(jax.random.key(0), shape)
    np.testing.assert_array_equal(
        np.asarray(layers.max_pool_2x2(x)), np.asarray(nn.max_pool(x, (2, 2), strides=(2, 2)))
    )

    def grad(pool):
        return jax.grad(lambda x: jnp.sum(jnp.sin(pool(x))))(x)

    np.testing.assert_allclose(
        np.asarray(grad(layers.max_pool_2x2)),
        np.asarray(grad(lambda x: nn.max_pool(x, (2, 2), strides=(2, 2)))),
        rtol=1e-6,
    )


def test_max_pool_2x2_gradient_is_finite_with_ties_in_unoptimized_builds():
    """Windows of equal values (ReLU's zeros) once made the gradient NaN in XLA:CPU at -O0."""
    x = jax.nn.relu(jax.random.normal(jax.random.key(1), (2, 8, 8, 4)))
    x = x.at[:, :4].set(0.0)  # whole windows of ties

    def loss(x):
        return jnp.sum(layers.max_pool_2x2(x) * jnp.arange(1.0, 5.0))

    grad = jax.grad(loss)
    unoptimized = models.compile_init(grad, x)(x)
    optimized = jax.jit(grad)(x)
    assert np.all(np.isfinite(np.asarray(unoptimized)))
    np.testing.assert_allclose(np.asarray(unoptimized), np.asarray(optimized), rtol=1e-6)
    # Each window passes its whole gradient on, shared among tied maxima.
    window_sums = np.asarray(optimized).reshape(2, 4, 2, 4, 2, 4).sum(axis=(2, 4))
    np.testing.assert_allclose(window_sums, np.broadcast_to(np.arange(1.0, 5.0), window_sums.shape))
