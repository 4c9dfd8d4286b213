"""Tests of the matmul-sum BatchNorm against Flax's BatchNorm and a float64 hand computation."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from colorize_jax.models.batch_norm import BatchNorm, normalize_batch

SETTINGS = {"momentum": 0.9, "epsilon": 1e-5}


def _inputs(shape, seed=0):
    x = jax.random.normal(jax.random.key(seed), shape) * 3.0 + 1.0
    channels = shape[-1]
    params = {
        "scale": jax.random.normal(jax.random.key(seed + 1), (channels,)),
        "bias": jax.random.normal(jax.random.key(seed + 2), (channels,)),
    }
    stats = {
        "mean": jax.random.normal(jax.random.key(seed + 3), (channels,)),
        "var": jnp.exp(jax.random.normal(jax.random.key(seed + 4), (channels,))),
    }
    return x, params, stats


def _grads_and_stats(module, params, stats, x):
    def loss(params, x):
        y, updates = module.apply(
            {"params": params, "batch_stats": stats}, x, mutable=["batch_stats"]
        )
        return jnp.sum(jnp.sin(nn.relu(y)) * jnp.cos(y)), (y, updates["batch_stats"])

    (value, (y, new_stats)), grads = jax.jit(
        jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)
    )(params, x)
    return value, y, new_stats, grads


@pytest.mark.parametrize("shape", [(4, 16, 16, 8), (2, 5, 7, 3), (6, 3)])
def test_training_mode_matches_flax(shape):
    x, params, stats = _inputs(shape)
    ours = _grads_and_stats(BatchNorm(**SETTINGS), params, stats, x)
    flax_bn = _grads_and_stats(
        nn.BatchNorm(use_running_average=False, **SETTINGS), params, stats, x
    )
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(flax_bn), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-4, atol=2e-5)


def test_evaluation_mode_matches_flax():
    x, params, stats = _inputs((3, 8, 8, 4))
    variables = {"params": params, "batch_stats": stats}
    ours = BatchNorm(use_running_average=True, **SETTINGS).apply(variables, x)
    theirs = nn.BatchNorm(use_running_average=True, **SETTINGS).apply(variables, x)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-5, atol=1e-5)


def test_variables_have_flax_names_and_shapes():
    """Checkpoints written with nn.BatchNorm restore into BatchNorm and back."""
    x = jnp.ones((2, 4, 4, 5))
    ours = jax.eval_shape(BatchNorm().init, jax.random.key(0), x)
    theirs = jax.eval_shape(nn.BatchNorm(use_running_average=False).init, jax.random.key(0), x)
    assert jax.tree.structure(ours) == jax.tree.structure(theirs)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True):
        assert (a.shape, a.dtype) == (b.shape, b.dtype)


def test_gradient_matches_float64_hand_computation():
    # Large enough (65,536 positions per channel) that sloppy float32 sums would show.
    x, params, _ = _inputs((16, 64, 64, 4))
    grad_y = jax.random.normal(jax.random.key(9), x.shape)
    (y, mean, var), vjp = jax.vjp(
        lambda x, s, b: normalize_batch(x, s, b, 1e-5), x, params["scale"], params["bias"]
    )
    grad_x, grad_scale, grad_bias = vjp((grad_y, jnp.zeros(4), jnp.zeros(4)))

    rows = np.asarray(x, np.float64).reshape(-1, 4)
    g = np.asarray(grad_y, np.float64).reshape(-1, 4)
    scale = np.asarray(params["scale"], np.float64)
    mu, variance = rows.mean(0), rows.var(0)
    inv_std = 1 / np.sqrt(variance + 1e-5)
    x_hat = (rows - mu) * inv_std
    count = rows.shape[0]
    expected_grad_x = scale * inv_std / count * (count * g - g.sum(0) - x_hat * (g * x_hat).sum(0))
    np.testing.assert_allclose(np.asarray(mean), mu, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(var), variance, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(grad_bias), g.sum(0), rtol=1e-4, atol=1e-2)
    np.testing.assert_allclose(np.asarray(grad_scale), (g * x_hat).sum(0), rtol=1e-4, atol=1e-2)
    np.testing.assert_allclose(
        np.asarray(grad_x).reshape(-1, 4), expected_grad_x, rtol=1e-3, atol=2e-5
    )
    np.testing.assert_allclose(
        np.asarray(y).reshape(-1, 4), x_hat * scale + np.asarray(params["bias"]), atol=1e-4
    )


def test_statistics_cotangents_flow_to_the_input():
    """The batch mean and variance are outputs too; their gradients match autodiff's."""
    x, params, _ = _inputs((2, 3, 3, 2))

    def through_stats(fn):
        def loss(x):
            _, mean, var = fn(x)
            return jnp.sum(mean * jnp.arange(1.0, 3.0)) + jnp.sum(var**2)

        return jax.grad(loss)(x)

    def reference(x):
        mean = x.mean((0, 1, 2))
        return None, mean, (x * x).mean((0, 1, 2)) - mean**2

    ours = through_stats(lambda x: normalize_batch(x, params["scale"], params["bias"], 1e-5))
    np.testing.assert_allclose(
        np.asarray(ours), np.asarray(through_stats(reference)), rtol=1e-4, atol=1e-5
    )


def test_bfloat16_output_float32_statistics():
    x, params, stats = _inputs((2, 4, 4, 3))
    y, updates = BatchNorm(dtype=jnp.bfloat16, **SETTINGS).apply(
        {"params": params, "batch_stats": stats}, x.astype(jnp.bfloat16), mutable=["batch_stats"]
    )
    assert y.dtype == jnp.bfloat16
    assert updates["batch_stats"]["mean"].dtype == jnp.float32
