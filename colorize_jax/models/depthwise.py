"""Depthwise convolution as a sum of shifted products, with a hand-written gradient.

XLA:CPU lowers a grouped convolution with one channel per group (`feature_group_count` =
channels) to a slow generic loop: on 2 cores, a 3x3 stride-2 depthwise conv of 32 x 64 x 64 x
96 took 130 ms forward and 494 ms with its gradient, where the same arithmetic written as nine
shifted multiply-adds takes 3.5 ms forward. So here the forward pass is k*k strided slices of
the padded input times one kernel tap each, summed (XLA fuses them into one loop), and the
gradient is written out rather than derived by autodiff (whose transpose of strided slices is
a chain of pads and scatters):

  d input  = the same shifted sum, stride 1, of the cotangent dilated by the stride and padded,
             with the kernel flipped (the transposed convolution);
  d kernel = for each tap, the sum over batch and space of the shifted input times the
             cotangent, as a product with ones (`batch_norm.channel_sums`: XLA:CPU's own
             reduction over all but the channel axis is several times slower).

Numerically this is the same convolution as `lax.conv_general_dilated` (tested to float32
rounding, values and gradients).
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from colorize_jax.models.batch_norm import channel_sums


def _window(padded: jax.Array, i: int, j: int, stride: int, out_h: int, out_w: int):
    """padded[:, i + stride * y, j + stride * x] for the output's y < out_h, x < out_w."""
    limits = (padded.shape[0], i + stride * (out_h - 1) + 1, j + stride * (out_w - 1) + 1)
    return jax.lax.slice(padded, (0, i, j, 0), (*limits, padded.shape[3]), (1, stride, stride, 1))


def _taps(padded: jax.Array, kernel: jax.Array, stride: int, out_h: int, out_w: int):
    """sum over taps (i, j) of padded[:, i + stride*y, j + stride*x] * kernel[i, j]."""
    k_h, k_w = kernel.shape[:2]
    out = None
    for i in range(k_h):
        for j in range(k_w):
            term = _window(padded, i, j, stride, out_h, out_w) * kernel[i, j]
            out = term if out is None else out + term
    return out


def _output_size(size: int, kernel: int, stride: int, pad: tuple[int, int]) -> int:
    return (size + pad[0] + pad[1] - kernel) // stride + 1


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def depthwise_conv(
    x: jax.Array, kernel: jax.Array, stride: int, padding: tuple[tuple[int, int], ...]
) -> jax.Array:
    """Depthwise conv of NHWC `x` with an HW1C `kernel` (Flax's layout), explicit padding."""
    return _forward(x, kernel, stride, padding)[0]


def _forward(x, kernel, stride, padding):
    (top, bottom), (left, right) = padding
    padded = jnp.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    out_h = _output_size(x.shape[1], kernel.shape[0], stride, padding[0])
    out_w = _output_size(x.shape[2], kernel.shape[1], stride, padding[1])
    kernel = kernel[:, :, 0, :].astype(x.dtype)
    return _taps(padded, kernel, stride, out_h, out_w), (padded, kernel)


def _forward_with_residuals(x, kernel, stride, padding):
    out, (padded, _) = _forward(x, kernel, stride, padding)
    return out, (padded, kernel, x.shape)


def _backward(stride, padding, residuals, cotangent):
    padded, kernel, x_shape = residuals
    k_h, k_w = kernel.shape[:2]
    (top, _), (left, _) = padding
    cotangent = cotangent.astype(padded.dtype)
    # d input: dilate the cotangent by the stride, pad by k - 1 (and up to the padded input's
    # size), correlate with the flipped kernel at stride 1, and crop the input's padding away.
    dilated_h = stride * (cotangent.shape[1] - 1) + 1
    dilated_w = stride * (cotangent.shape[2] - 1) + 1
    spread = jax.lax.pad(
        cotangent,
        jnp.zeros((), cotangent.dtype),
        (
            (0, 0, 0),
            (k_h - 1, padded.shape[1] - dilated_h, stride - 1),
            (k_w - 1, padded.shape[2] - dilated_w, stride - 1),
            (0, 0, 0),
        ),
    )
    flipped = kernel[::-1, ::-1, 0, :].astype(padded.dtype)
    d_padded = _taps(spread, flipped, 1, padded.shape[1], padded.shape[2])
    d_x = d_padded[:, top : top + x_shape[1], left : left + x_shape[2]]
    # d kernel: one reduction per tap.
    out_h, out_w = cotangent.shape[1:3]
    rows = []
    for i in range(k_h):
        row = []
        for j in range(k_w):
            window = _window(padded, i, j, stride, out_h, out_w)
            product = (window * cotangent).astype(jnp.float32)
            row.append(channel_sums(product.reshape(product.shape[0], -1, product.shape[-1])))
        rows.append(jnp.stack(row))
    d_kernel = jnp.stack(rows)[:, :, None, :].astype(kernel.dtype)
    return d_x, d_kernel


depthwise_conv.defvjp(_forward_with_residuals, _backward)


class DepthwiseConv(nn.Module):
    """A bias-free depthwise convolution (one filter per channel), parameters as `nn.Conv`'s.

    The kernel is named "kernel" with shape (k, k, 1, channels), as `nn.Conv` with
    `feature_group_count=channels` names it, so pretrained weights map the same way.
    """

    kernel_size: int
    strides: int = 1
    padding: int | None = None  # None: kernel_size // 2 on every side.
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        channels = x.shape[-1]
        k = self.kernel_size
        kernel = self.param(
            "kernel", nn.initializers.lecun_normal(), (k, k, 1, channels), jnp.float32
        )
        pad = k // 2 if self.padding is None else self.padding
        x = x.astype(self.dtype)
        return depthwise_conv(x, kernel.astype(self.dtype), self.strides, ((pad, pad), (pad, pad)))
