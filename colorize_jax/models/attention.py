"""Self-attention over the pixels of a feature map: pre-LN transformer blocks.

`BottleneckTransformer` turns an NHWC feature map into H*W tokens, adds a position embedding
(2-D sin-cos, computed for any grid, or learned on a fixed grid and resized), runs a stack of
pre-LN `TransformerBlock`s and folds the tokens back into a feature map of the same shape. It is
meant for the low-resolution bottleneck of a convolutional network, where global context is cheap.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


def sincos_position_embedding(height: int, width: int, features: int) -> np.ndarray:
    """Fixed 2-D sin-cos embedding of a height x width grid, shape (height * width, features).

    A quarter of the channels each holds sin and cos of the row and of the column index at
    geometrically spaced frequencies (1 down to 1/10000), as in the 1-D transformer embedding.
    """
    if features % 4:
        raise ValueError(
            f"sin-cos position embedding needs channels divisible by 4, got {features}"
        )
    quarter = features // 4
    frequencies = 1.0 / 10000.0 ** (np.arange(quarter, dtype=np.float64) / quarter)
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    row_angles = rows.reshape(-1, 1) * frequencies
    col_angles = cols.reshape(-1, 1) * frequencies
    parts = [np.sin(row_angles), np.cos(row_angles), np.sin(col_angles), np.cos(col_angles)]
    return np.concatenate(parts, axis=1).astype(np.float32)


class TransformerBlock(nn.Module):
    """x + MHSA(LN(x)), then x + MLP(LN(x)) on tokens of shape (batch, tokens, channels).

    Attributes:
      num_heads: attention heads; the channels must be divisible by it.
      mlp_ratio: hidden width of the MLP relative to the channels.
      dtype: computation dtype; LayerNorm statistics and the softmax stay float32.
    """

    num_heads: int
    mlp_ratio: int = 4
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        channels = x.shape[-1]
        if channels % self.num_heads:
            raise ValueError(
                f"attention over {channels} channels cannot be split into {self.num_heads} heads"
            )
        y = nn.LayerNorm(dtype=self.dtype)(x)
        y = nn.MultiHeadDotProductAttention(
            num_heads=self.num_heads, dtype=self.dtype, force_fp32_for_softmax=True
        )(y, y)
        x = x + y
        y = nn.LayerNorm(dtype=self.dtype)(x)
        y = nn.Dense(channels * self.mlp_ratio, dtype=self.dtype)(y)
        y = nn.gelu(y)
        y = nn.Dense(channels, dtype=self.dtype)(y)
        return x + y


class BottleneckTransformer(nn.Module):
    """`num_blocks` transformer blocks over the H*W positions of an NHWC feature map.

    Attributes:
      num_blocks: number of `TransformerBlock`s.
      num_heads: attention heads of every block.
      position_embedding: "sincos" (fixed, any grid size) or "learned" (a `grid_size` x
        `grid_size` table, bilinearly resized to the feature map's grid when they differ).
      grid_size: side of the learned table (e.g. 16 for 256 px inputs at stride 16).
      mlp_ratio: hidden width of each block's MLP relative to the channels.
      dtype: computation dtype; parameters stay float32.
    """

    num_blocks: int
    num_heads: int = 4
    position_embedding: str = "sincos"
    grid_size: int = 16
    mlp_ratio: int = 4
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        batch, height, width, channels = x.shape
        tokens = x.reshape(batch, height * width, channels)
        tokens = tokens + self._position_embedding(height, width, channels).astype(tokens.dtype)
        for _ in range(self.num_blocks):
            tokens = TransformerBlock(self.num_heads, self.mlp_ratio, dtype=self.dtype)(tokens)
        tokens = nn.LayerNorm(dtype=self.dtype)(tokens)
        return tokens.reshape(batch, height, width, channels)

    def _position_embedding(self, height: int, width: int, channels: int) -> jax.Array:
        if self.position_embedding == "sincos":
            return jnp.asarray(sincos_position_embedding(height, width, channels))
        if self.position_embedding == "learned":
            table = self.param(
                "position_embedding",
                nn.initializers.normal(0.02),
                (self.grid_size, self.grid_size, channels),
            )
            if (height, width) != (self.grid_size, self.grid_size):
                table = jax.image.resize(table, (height, width, channels), method="bilinear")
            return table.reshape(height * width, channels)
        raise ValueError(
            f"unknown position embedding {self.position_embedding!r}: use 'sincos' or 'learned'"
        )
