"""The shifted-sum depthwise convolution equals XLA's grouped convolution, values and gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from colorize_jax.models.depthwise import DepthwiseConv, depthwise_conv


def _reference(x, kernel, stride, padding):
    return jax.lax.conv_general_dilated(
        x,
        kernel,
        (stride, stride),
        padding,
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=x.shape[-1],
        precision=jax.lax.Precision.HIGHEST,
    )


@pytest.mark.parametrize(
    "shape, k, stride",
    [((2, 9, 9, 5), 3, 2), ((2, 10, 7, 4), 5, 1), ((3, 12, 11, 6), 5, 2), ((1, 8, 8, 3), 3, 1)],
)
def test_values_and_gradients_match_the_grouped_convolution(shape, k, stride):
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=shape), jnp.float32)
    kernel = jnp.asarray(rng.normal(size=(k, k, 1, shape[-1])), jnp.float32)
    padding = ((k // 2, k // 2), (k // 2, k // 2))
    expected = _reference(x, kernel, stride, padding)
    np.testing.assert_allclose(depthwise_conv(x, kernel, stride, padding), expected, atol=1e-5)
    cotangent = jnp.asarray(rng.normal(size=expected.shape), jnp.float32)

    def grads(conv):
        return jax.grad(lambda a, b: jnp.sum(conv(a, b, stride, padding) * cotangent), (0, 1))(
            x, kernel
        )

    for ours, theirs in zip(grads(depthwise_conv), grads(_reference), strict=True):
        np.testing.assert_allclose(ours, theirs, atol=2e-4, rtol=1e-5)


def test_module_names_its_kernel_as_a_grouped_nn_conv_does():
    variables = DepthwiseConv(5, 2).init(jax.random.key(0), jnp.zeros((1, 8, 8, 7)))
    assert variables["params"]["kernel"].shape == (5, 5, 1, 7)
    out = DepthwiseConv(5, 2).apply(variables, jnp.ones((1, 8, 8, 7)))
    assert out.shape == (1, 4, 4, 7)
