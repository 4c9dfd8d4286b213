"""PatchGAN discriminator (Isola et al. 2017): a map of real/fake logits, one per image patch.

The discriminator is conditional: its input is the lightness concatenated with a colour image
(the ground truth or a prediction), so it judges whether the colours fit that lightness. Layout
as pix2pix's `NLayerDiscriminator`: `num_layers` 4x4 stride-2 convolutions, then a 4x4 stride-1
convolution with twice the last width, then a 4x4 stride-1 convolution to one channel; every
convolution pads by 1 and all but the last are followed by normalization (except the first) and
LeakyReLU(0.2). With `num_layers=3` each logit sees a 70x70 patch of the input.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from colorize_jax.models import layers

NORMS = ("batch", "instance", "none")


def receptive_field(num_layers: int) -> int:
    """The side, in input pixels, of the patch that one output logit depends on."""
    # Every layer has a 4x4 kernel: it widens the field by 3 times the stride of its input.
    strides_before = [2**i for i in range(num_layers)] + [2**num_layers] * 2
    return 1 + sum(3 * s for s in strides_before)


class PatchGAN(nn.Module):
    """A conditional PatchGAN discriminator.

    Attributes:
      num_outputs: channels of the logit map (1 for a real/fake discriminator).
      num_layers: stride-2 convolutions; the network's stride is 2**num_layers.
      base_width: channels of the first convolution, doubling per layer up to `max_width`.
      max_width: cap on the channels of any convolution (pix2pix: 8 x 64).
      norm: "batch" (pix2pix's default), "instance" or "none"; never after the first layer.
      spectral_norm: wraps every convolution in spectral normalization (Miyato et al. 2018). Its
        power-iteration state lives in the "batch_stats" collection and advances when `train`.
      dtype: computation dtype; parameters and the returned logits are float32.
    """

    num_outputs: int = 1
    num_layers: int = 3
    base_width: int = 64
    max_width: int = 512
    norm: str = "batch"
    spectral_norm: bool = False
    dtype: Any = "float32"

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        """Maps NHWC (lightness ++ colour) images to NHW1 patch logits."""
        if self.norm not in NORMS:
            raise ValueError(f"unknown discriminator norm {self.norm!r}: use one of {NORMS}")
        widths = [min(self.base_width * 2**i, self.max_width) for i in range(self.num_layers + 1)]
        strides = [2] * self.num_layers + [1]
        x = x.astype(self.dtype)
        for i, (width, stride) in enumerate(zip(widths, strides, strict=True)):
            normalized = i > 0 and self.norm != "none"
            x = self._conv(width, stride, use_bias=not normalized)(x, train)
            if normalized:
                x = self._norm(train)(x)
            x = nn.leaky_relu(x, negative_slope=0.2)
        logits = self._conv(self.num_outputs, 1, use_bias=True)(x, train)
        return logits.astype(jnp.float32)

    def _conv(self, features: int, stride: int, *, use_bias: bool):
        conv = nn.Conv(
            features,
            (4, 4),
            strides=(stride, stride),
            padding=((1, 1), (1, 1)),
            use_bias=use_bias,
            dtype=self.dtype,
        )
        if self.spectral_norm:
            wrapped = nn.SpectralNorm(conv)
            return lambda x, train: wrapped(x, update_stats=train)
        return lambda x, train: conv(x)

    def _norm(self, train: bool) -> nn.Module:
        if self.norm == "batch":
            return layers.make_norm("batch", train=train, dtype=self.dtype)()
        return nn.InstanceNorm(epsilon=1e-5, dtype=self.dtype)
