"""U-Net colorizer on a ResNet-18/34 encoder, optionally initialized from ImageNet weights.

The encoder is `resnet.ResNetEncoder` (torchvision's layout); its stem ReLU output and layer1..
layer3 are the skips at strides 2, 4, 8 and 16, and layer4 (stride 32) is the bottleneck. Five
decoder steps each double the resolution (as in `UNet`), concatenate the skip of that resolution
(the input lightness itself at full resolution) and apply [conv3x3 - norm - ReLU] x 2. Set
`init_from` to start the encoder from ImageNet weights; `models.load_pretrained_if_configured`
applies them after initialization (see `torchvision_weights`).
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from colorize_jax.models import layers, resnet
from colorize_jax.models.unet import ConvBlock

STRIDE = 32


class ResNetUNet(nn.Module):
    """A ResNet-18/34 encoder with a U-Net decoder to full resolution.

    Attributes:
      num_outputs: channels of the prediction (2 for ab, 3 for RGB, Q for classification logits).
      resnet_depth: 18 or 34.
      encoder_width: channels of the ResNet's stem and layer1, doubling per later stage (64 as in
        torchvision, which ImageNet weights need; narrower for quick CPU runs).
      decoder_widths: channels of the five decoder blocks, coarsest (stride 16) first.
      norm: normalization of the decoder blocks: "batch", "group" or "none" (the encoder always
        uses BatchNorm, as the ImageNet weights expect).
      up: "transpose" (2x2 stride-2 transposed conv) or "bilinear" (resize, then 3x3 conv).
      dropout_rate: dropout after each decoder block (training only).
      init_from: path of ImageNet weights for the encoder in torchvision's state-dict layout
        (.npz, .safetensors, or .pth/.pt, read without torch); "" trains from scratch.
      output_activation: "tanh" (targets scaled to [-1, 1]) or "linear" (logits).
      dtype: computation dtype (e.g. "bfloat16"); parameters stay float32.
    """

    num_outputs: int
    resnet_depth: int = 18
    encoder_width: int = 64
    decoder_widths: tuple[int, ...] = (256, 128, 64, 32, 16)
    norm: str = "batch"
    up: str = "transpose"
    dropout_rate: float = 0.0
    init_from: str = ""
    output_activation: str = "tanh"
    dtype: Any = "float32"

    @property
    def stride(self) -> int:
        """The factor by which the input size must be divisible (inputs are padded to it)."""
        return STRIDE

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        if len(self.decoder_widths) != 5:
            raise ValueError(
                f"decoder_widths needs 5 entries (strides 16 to 1), got {self.decoder_widths}"
            )
        dtype = jnp.dtype(self.dtype)
        norm = layers.make_norm(self.norm, train=train, dtype=dtype)
        block = functools.partial(ConvBlock, norm=norm, dtype=dtype, dropout_rate=self.dropout_rate)
        x, crop = layers.pad_to_multiple(x, self.stride)
        x = x.astype(dtype)

        *skips, y = resnet.ResNetEncoder(
            self.resnet_depth, self.encoder_width, dtype=dtype, name="encoder"
        )(x, train=train)
        skips = [x, *skips]  # Strides 1, 2, 4, 8, 16.
        for width, skip in zip(self.decoder_widths, reversed(skips), strict=True):
            y = layers.upsample(y, self.up, width, dtype)
            y = jnp.concatenate([y, skip], axis=-1)
            y = block(width)(y, train=train)

        y = nn.Conv(self.num_outputs, (1, 1), dtype=dtype)(y)
        y = layers.activation(self.output_activation)(y.astype(jnp.float32))
        return crop(y)
