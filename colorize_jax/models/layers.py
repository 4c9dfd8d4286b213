"""Building blocks shared by the colorization networks."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from colorize_jax.models.batch_norm import BatchNorm


def make_norm(name: str, *, train: bool, dtype: Any) -> Callable[[], nn.Module] | None:
    """Returns a constructor of the named normalization layer, or None for "none"."""
    if name == "batch":
        # momentum 0.9 as in PyTorch's default (0.1 update rate).
        return functools.partial(
            BatchNorm, use_running_average=not train, momentum=0.9, epsilon=1e-5, dtype=dtype
        )
    if name == "group":
        return functools.partial(nn.GroupNorm, num_groups=None, group_size=16, dtype=dtype)
    if name == "none":
        return None
    raise ValueError(f"unknown norm {name!r}: use 'batch', 'group' or 'none'")


def activation(name: str) -> Callable[[jax.Array], jax.Array]:
    """The named output activation."""
    table = {"tanh": jnp.tanh, "linear": lambda x: x, "sigmoid": nn.sigmoid}
    if name not in table:
        raise ValueError(f"unknown output activation {name!r}: use one of {sorted(table)}")
    return table[name]


def pad_to_multiple(
    x: jax.Array, multiple: int
) -> tuple[jax.Array, Callable[[jax.Array], jax.Array]]:
    """Edge-pads the spatial dims of NHWC `x` up to `multiple`; returns it and a crop-back fn."""
    height, width = x.shape[1], x.shape[2]
    pad_h, pad_w = -height % multiple, -width % multiple
    if pad_h == 0 and pad_w == 0:
        return x, lambda y: y
    # Symmetric padding keeps the content centred so border effects are shared by both sides.
    top, left = pad_h // 2, pad_w // 2
    padded = jnp.pad(x, ((0, 0), (top, pad_h - top), (left, pad_w - left), (0, 0)), mode="edge")
    return padded, lambda y: y[:, top : top + height, left : left + width]


def max_pool_2x2(x: jax.Array) -> jax.Array:
    """2x2 max-pooling with stride 2 of NHWC `x` (odd trailing rows/columns dropped, as VALID).

    The elementwise maximum of the window's four strided slices: XLA:CPU runs the
    `reduce_window` of `nn.max_pool` and its select-and-scatter gradient 5-18x slower. (A
    reshape and `max` is as fast, but its gradient divides by the count of maxima found by
    comparing with the result, which came out NaN in XLA:CPU's unoptimized builds.)
    """
    n, h, w, c = x.shape
    windows = x[:, : h - h % 2, : w - w % 2].reshape(n, h // 2, 2, w // 2, 2, c)
    top = jnp.maximum(windows[:, :, 0, :, 0], windows[:, :, 0, :, 1])
    bottom = jnp.maximum(windows[:, :, 1, :, 0], windows[:, :, 1, :, 1])
    return jnp.maximum(top, bottom)


def downsample(x: jax.Array, mode: str, features: int, dtype: Any) -> jax.Array:
    """Halves the resolution by 2x2 max-pooling or a stride-2 3x3 convolution."""
    if mode == "maxpool":
        return max_pool_2x2(x)
    if mode == "strided":
        return nn.Conv(features, (3, 3), strides=(2, 2), dtype=dtype)(x)
    raise ValueError(f"unknown down-sampling {mode!r}: use 'maxpool' or 'strided'")


def upsample(x: jax.Array, mode: str, features: int, dtype: Any) -> jax.Array:
    """Doubles the resolution by a 2x2 stride-2 transposed conv or bilinear resize + 3x3 conv."""
    if mode == "transpose":
        return PixelShuffleUpsample(features, dtype=dtype)(x)
    if mode == "bilinear":
        n, h, w, c = x.shape
        x = jax.image.resize(x, (n, 2 * h, 2 * w, c), method="bilinear")
        return nn.Conv(features, (3, 3), dtype=dtype)(x)
    raise ValueError(f"unknown up-sampling {mode!r}: use 'transpose' or 'bilinear'")


class PixelShuffleUpsample(nn.Module):
    """A 2x2 stride-2 transposed convolution, computed as a matmul and a pixel shuffle.

    Each input pixel becomes a 2x2 output patch (kernel HWIO of shape (2, 2, C, F)), exactly what
    a stride-2 2x2 transposed convolution does, since the patches do not overlap. XLA lowers this
    to one matrix multiply, much faster on CPUs than a transposed convolution with lhs dilation.
    """

    features: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        n, h, w, c = x.shape
        kernel = self.param(
            "kernel", nn.initializers.lecun_normal(), (2, 2, c, self.features), jnp.float32
        )
        bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
        x = x.astype(self.dtype)
        y = jnp.einsum("nhwc,abcf->nhawbf", x, kernel.astype(self.dtype))
        return y.reshape(n, 2 * h, 2 * w, self.features) + bias.astype(self.dtype)
