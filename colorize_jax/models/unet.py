"""U-Net colorizer: a configurable encoder-decoder with skip connections.

The network maps a one-channel lightness image to `num_outputs` colour channels. Every block is
[conv3x3 - norm - ReLU] x 2; between levels the resolution halves (max-pool or strided conv) on
the way down and doubles (transposed conv or bilinear resize + conv) on the way up, each decoder
level concatenating the encoder feature map of the same resolution. Optionally, pre-LN transformer
blocks (self-attention over the bottleneck's pixels) follow the bottleneck block. Inputs of any size
work: they are edge-padded to a multiple of the network's stride and the output is cropped back.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from colorize_jax.models import attention, layers


class ConvBlock(nn.Module):
    """Two [conv3x3 - norm - ReLU] layers; the conv bias is dropped when a norm follows."""

    features: int
    norm: Callable[..., nn.Module] | None
    dtype: Any = jnp.float32
    dropout_rate: float = 0.0

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        for _ in range(2):
            x = nn.Conv(self.features, (3, 3), use_bias=self.norm is None, dtype=self.dtype)(x)
            if self.norm is not None:
                x = self.norm()(x)
            x = nn.relu(x)
        if self.dropout_rate > 0:
            x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        return x


class UNet(nn.Module):
    """A U-Net with `depth` down-sampling levels.

    Attributes:
      num_outputs: channels of the prediction (2 for ab, 3 for RGB, Q for classification logits).
      depth: number of down-sampling steps; the network's stride is 2**depth.
      base_width: channels of the first level; level i has base_width * 2**i (capped at
        `max_width`).
      max_width: upper bound on the channels of any level.
      norm: "batch", "group" or "none".
      down: "maxpool" or "strided" (a stride-2 3x3 conv).
      up: "transpose" (2x2 stride-2 transposed conv) or "bilinear" (resize, then 3x3 conv).
      dropout_rate: dropout after the bottleneck and decoder blocks (training only).
      bottleneck_attention_blocks: pre-LN transformer blocks after the bottleneck block (0: none).
      attention_heads: heads of their self-attention; must divide the bottleneck's width.
      position_embedding: "sincos" or "learned" position embedding of the attention tokens.
      output_activation: "tanh" (targets scaled to [-1, 1]) or "linear" (logits).
      dtype: computation dtype (e.g. "bfloat16"); parameters stay float32.
    """

    num_outputs: int
    depth: int = 4
    base_width: int = 64
    max_width: int = 1024
    norm: str = "batch"
    down: str = "maxpool"
    up: str = "transpose"
    dropout_rate: float = 0.0
    bottleneck_attention_blocks: int = 0
    attention_heads: int = 4
    position_embedding: str = "sincos"
    output_activation: str = "tanh"
    dtype: Any = "float32"

    @property
    def stride(self) -> int:
        """The factor by which the input size must be divisible (inputs are padded to it)."""
        return 2**self.depth

    def _width(self, level: int) -> int:
        return min(self.base_width * 2**level, self.max_width)

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        dtype = jnp.dtype(self.dtype)
        norm = layers.make_norm(self.norm, train=train, dtype=dtype)
        block = functools.partial(ConvBlock, norm=norm, dtype=dtype)
        x, crop = layers.pad_to_multiple(x, self.stride)
        x = x.astype(dtype)

        skips = []
        for level in range(self.depth):
            x = block(self._width(level))(x, train=train)
            skips.append(x)
            x = layers.downsample(x, self.down, self._width(level), dtype)
        x = block(self._width(self.depth), dropout_rate=self.dropout_rate)(x, train=train)
        if self.bottleneck_attention_blocks > 0:
            x = attention.BottleneckTransformer(
                self.bottleneck_attention_blocks,
                num_heads=self.attention_heads,
                position_embedding=self.position_embedding,
                dtype=dtype,
            )(x)
        for level in reversed(range(self.depth)):
            x = layers.upsample(x, self.up, self._width(level), dtype)
            x = jnp.concatenate([x, skips[level]], axis=-1)
            x = block(self._width(level), dropout_rate=self.dropout_rate)(x, train=train)

        x = nn.Conv(self.num_outputs, (1, 1), dtype=dtype)(x)
        x = layers.activation(self.output_activation)(x.astype(jnp.float32))
        return crop(x)
