"""Plain convolutional encoder-decoder colorizer, without skip connections.

The encoder is `depth` x [conv3x3 - norm - ReLU - 2x2 max-pool]; the decoder is `depth` x
[stride-2 transposed conv - norm - ReLU], each halving the channels while doubling the
resolution; a 3x3 conv maps the last decoder features to `num_outputs`. Every detail must pass
through the bottleneck, which makes it the baseline that shows what the U-Net's skips buy. At
depth 4 and widths 64 -> 512 it has about 4.3M parameters.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from colorize_jax.models import layers


class EncoderDecoder(nn.Module):
    """An hourglass CNN with `depth` down- and up-sampling steps.

    Attributes:
      num_outputs: channels of the prediction (2 for ab, 3 for RGB, Q for classification logits).
      depth: number of down-sampling steps; the network's stride is 2**depth.
      base_width: channels of the first encoder level; level i has base_width * 2**i (capped at
        `max_width`). Decoder step i outputs half the channels of encoder level i.
      max_width: upper bound on the channels of any encoder level.
      norm: "batch", "group" or "none".
      up_kernel: kernel size of the stride-2 transposed convs (4 covers every output pixel
        evenly, avoiding checkerboard artefacts).
      output_activation: "tanh" (targets scaled to [-1, 1]) or "linear" (logits).
      dtype: computation dtype (e.g. "bfloat16"); parameters stay float32.
    """

    num_outputs: int
    depth: int = 4
    base_width: int = 64
    max_width: int = 512
    norm: str = "batch"
    up_kernel: int = 4
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
        use_bias = norm is None
        x, crop = layers.pad_to_multiple(x, self.stride)
        x = x.astype(dtype)

        for level in range(self.depth):
            x = nn.Conv(self._width(level), (3, 3), use_bias=use_bias, dtype=dtype)(x)
            x = nn.relu(norm()(x) if norm else x)
            x = layers.max_pool_2x2(x)
        for level in reversed(range(self.depth)):
            kernel = (self.up_kernel, self.up_kernel)
            x = nn.ConvTranspose(
                max(self._width(level) // 2, 1),
                kernel,
                strides=(2, 2),
                use_bias=use_bias,
                dtype=dtype,
            )(x)
            x = nn.relu(norm()(x) if norm else x)

        x = nn.Conv(self.num_outputs, (3, 3), dtype=dtype)(x)
        x = layers.activation(self.output_activation)(x.astype(jnp.float32))
        return crop(x)
