"""What tracing for ONNX changes, in the traced function only: the same numerics, ONNX-friendly.

`colorize_jax.inference.export_forward` traces a generator with jax2onnx at a symbolic batch,
height and width. Three places of the models do not convert well as they are; inside
`adaptations()` they are traced differently, each computing what the model computes (to float32
rounding, tested against the JAX path on every export):

  DepthwiseConv   its forward pass is a `jax.custom_vjp` (a hand-written gradient: a training
                  concern) of k*k strided slices, fast in XLA:CPU; jax2onnx makes ~600 Slice,
                  Gather and Concat nodes of them, which onnxruntime runs 1.7x slower (the
                  EfficientNet U-Net at 768x512). Traced here as one grouped
                  `lax.conv_general_dilated` (`feature_group_count` = channels), the
                  convolution it equals: one ONNX Conv.
  nn.max_pool     jax2onnx replaces flax's max_pool with a shim (one ONNX MaxPool) that takes
                  keywords and 'SAME' / 'VALID' only, and keeps symbolic sizes unchanged (its
                  abstract evaluation does not divide them by the stride); the ResNet stem
                  passes the window positionally with explicit padding. Traced here as the
                  maximum of the window's strided slices of the input padded with -inf: flax's
                  padded max. (A plain `lax.reduce_window` max becomes a MaxPool over all four
                  axes, which onnxruntime refuses.)
  jax.image.resize  jax2onnx's resize needs static output shapes. The EfficientNet U-Net only
                  doubles sizes (bilinear, half-pixel centres), which is 0.75 of each pixel plus
                  0.25 of its neighbour (the edge pixel repeated at the borders): traced as that.
                  Any other resize goes to jax2onnx's own.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from colorize_jax.models.depthwise import DepthwiseConv


def to_onnx(*args: Any, **kwargs: Any) -> Any:
    """`jax2onnx.to_onnx(*args, **kwargs)` without its chatter on the console.

    (It logs its arguments at INFO on the root logger, each plugin it skips at INFO, and
    "value type not known" warnings for the shape arithmetic of symbolic sizes.)
    """
    for name, level in (("jax2onnx", logging.WARNING), ("onnx_ir", logging.ERROR)):
        logging.getLogger(name).setLevel(level)
    from jax2onnx import to_onnx as convert  # noqa: PLC0415 - an optional dependency

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.WARNING)
    try:
        return convert(*args, **kwargs)
    finally:
        root.setLevel(level)


@contextlib.contextmanager
def adaptations() -> Iterator[None]:
    """Traces the three places above ONNX-friendly; enter it inside the function jax2onnx traces.

    (jax2onnx installs its own shims of `nn.max_pool` and `jax.image.resize` for the duration
    of `to_onnx`; these wrap whatever is installed and put it back on exit.)
    """
    with (
        nn.intercept_methods(_depthwise_as_grouped_conv),
        _replaced(nn, "max_pool", _max_pool_as_slices),
        _replaced(jax.image, "resize", _resize_doubling_exactly),
    ):
        yield


@contextlib.contextmanager
def _replaced(owner: Any, name: str, make) -> Iterator[None]:
    original = getattr(owner, name)
    setattr(owner, name, make(original))
    try:
        yield
    finally:
        setattr(owner, name, original)


def _depthwise_as_grouped_conv(next_fun, args, kwargs, context):
    module = context.module
    if not (isinstance(module, DepthwiseConv) and context.method_name == "__call__"):
        return next_fun(*args, **kwargs)
    x = args[0].astype(module.dtype)
    kernel = module.get_variable("params", "kernel").astype(module.dtype)  # (k, k, 1, C)
    pad = module.kernel_size // 2 if module.padding is None else module.padding
    return jax.lax.conv_general_dilated(
        x,
        kernel,
        (module.strides, module.strides),
        ((pad, pad), (pad, pad)),
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=x.shape[-1],
    )


def _max_pool_as_slices(original):
    def max_pool(inputs, window_shape, strides=None, padding="VALID"):
        """flax.linen.max_pool of NHWC `inputs` ('VALID' or explicit padding; 'SAME' as before)."""
        if isinstance(padding, str) and padding.upper() == "SAME":
            return original(inputs, window_shape=window_shape, strides=strides, padding=padding)
        if not isinstance(padding, str):
            pads = [(0, 0), *(tuple(pad) for pad in padding), (0, 0)]
            inputs = jnp.pad(inputs, pads, constant_values=-jnp.inf)  # jax2onnx's: lax.pad's
            # lowering cannot give its output symbolic sizes
        (k_h, k_w), (s_h, s_w) = window_shape, strides or (1, 1)
        batch, height, width, channels = inputs.shape
        out_h, out_w = (height - k_h) // s_h + 1, (width - k_w) // s_w + 1
        taps = [
            jax.lax.slice(
                inputs,
                (0, i, j, 0),
                (batch, i + s_h * (out_h - 1) + 1, j + s_w * (out_w - 1) + 1, channels),
                (1, s_h, s_w, 1),
            )
            for i in range(k_h)
            for j in range(k_w)
        ]
        return functools.reduce(jnp.maximum, taps)

    return max_pool


def _resize_doubling_exactly(original):
    def resize(image, shape, method="linear", antialias=True, precision=None):
        if _doubles_height_and_width(image, shape, method):
            return upsample2x_bilinear(upsample2x_bilinear(image, 1), 2)
        return original(image, shape, method, antialias, precision)

    return resize


def _doubles_height_and_width(image, shape, method) -> bool:
    if str(method).lower() not in ("linear", "bilinear") or image.ndim != 4 or len(shape) != 4:
        return False
    doubled = (image.shape[0], 2 * image.shape[1], 2 * image.shape[2], image.shape[3])
    try:
        return all(bool(a == b) for a, b in zip(shape, doubled, strict=True))
    except jax.errors.InconclusiveDimensionOperation:  # unequal, as far as jax can tell
        return False


def upsample2x_bilinear(x: jax.Array, axis: int) -> jax.Array:
    """`x` twice as long on `axis`: `jax.image.resize(..., "bilinear")` for an exact doubling.

    Output 2i samples input i - 1/4 (0.75 x[i] + 0.25 x[i - 1]), output 2i + 1 samples
    i + 1/4 (0.75 x[i] + 0.25 x[i + 1]); past the edges jax renormalizes the kernel, which is
    the edge pixel repeated. (lax.concatenate rather than jnp's: jax2onnx's jnp shim miscounts
    a symbolic sum of sizes.)
    """
    n = x.shape[axis]
    first = jax.lax.slice_in_dim(x, 0, 1, axis=axis)
    last = jax.lax.slice_in_dim(x, n - 1, n, axis=axis)
    before = jax.lax.concatenate([first, jax.lax.slice_in_dim(x, 0, n - 1, axis=axis)], axis)
    after = jax.lax.concatenate([jax.lax.slice_in_dim(x, 1, n, axis=axis), last], axis)
    even = 0.75 * x + 0.25 * before
    odd = 0.75 * x + 0.25 * after
    shape = list(x.shape)
    shape[axis] = 2 * n
    return jnp.stack([even, odd], axis=axis + 1).reshape(shape)
