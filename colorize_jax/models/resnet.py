"""ResNet-18/34 feature extractor in torchvision's layout, for a one-channel input.

The structure and the names mirror torchvision's `resnet18`/`resnet34` so that ImageNet weights
map one-to-one (see `torchvision_weights`): conv1 (7x7, stride 2) - bn1 - ReLU - 3x3 max-pool,
then layer1..layer4 of `BasicBlock`s, the first block of layer2..layer4 halving the resolution
and owning a 1x1-conv + BN "downsample" shortcut. Paddings are explicit, as in PyTorch, so that
outputs match torchvision's for every input size; BatchNorm uses PyTorch's epsilon (1e-5) and
update rate (0.1, i.e. Flax momentum 0.9).
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from colorize_jax.models import layers

# BasicBlocks per stage: torchvision's resnet18 and resnet34.
BLOCKS_PER_STAGE = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}


def _pad(size: int) -> tuple[tuple[int, int], tuple[int, int]]:
    return ((size, size), (size, size))


class BasicBlock(nn.Module):
    """relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), the shortcut a 1x1 conv + BN when
    the stride or width changes (torchvision's `downsample`), else the identity."""

    features: int
    strides: int = 1
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        conv = functools.partial(nn.Conv, use_bias=False, dtype=self.dtype)
        norm = layers.make_norm("batch", train=train, dtype=self.dtype)
        stride = (self.strides, self.strides)
        y = conv(self.features, (3, 3), stride, padding=_pad(1), name="conv1")(x)
        y = nn.relu(norm(name="bn1")(y))
        y = conv(self.features, (3, 3), padding=_pad(1), name="conv2")(y)
        y = norm(name="bn2")(y)
        if self.strides != 1 or x.shape[-1] != self.features:
            x = conv(self.features, (1, 1), stride, padding="VALID", name="downsample_conv")(x)
            x = norm(name="downsample_bn")(x)
        return nn.relu(x + y)


class ResNetEncoder(nn.Module):
    """The convolutional trunk of ResNet-18/34 (no pooling head, no classifier).

    Returns the feature maps a U-Net decoder needs, finest first: the stem's ReLU output (stride
    2, `width` = 64 channels), then layer1 (stride 4, 64), layer2 (8, 128), layer3 (16, 256) and
    layer4 (32, 512). Parameter names follow torchvision with "." replaced by "_" in block names
    (`layer2_0/downsample_conv` is `layer2.0.downsample.0`).

    Attributes:
      depth: 18 or 34.
      width: channels of the stem and layer1, doubling in each later stage; torchvision's is 64
        (and ImageNet weights need it), narrower encoders are for quick CPU experiments.
      dtype: computation dtype; parameters stay float32.
    """

    depth: int = 18
    width: int = 64
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> list[jax.Array]:
        if self.depth not in BLOCKS_PER_STAGE:
            raise ValueError(f"unknown ResNet depth {self.depth}: use one of 18, 34")
        x = nn.Conv(
            self.width,
            (7, 7),
            (2, 2),
            padding=_pad(3),
            use_bias=False,
            dtype=self.dtype,
            name="conv1",
        )(x)
        x = layers.make_norm("batch", train=train, dtype=self.dtype)(name="bn1")(x)
        x = nn.relu(x)
        features = [x]
        x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=_pad(1))
        for stage, (blocks, multiplier) in enumerate(
            zip(BLOCKS_PER_STAGE[self.depth], (1, 2, 4, 8), strict=True), start=1
        ):
            width = self.width * multiplier
            for index in range(blocks):
                strides = 2 if stage > 1 and index == 0 else 1
                x = BasicBlock(width, strides, dtype=self.dtype, name=f"layer{stage}_{index}")(
                    x, train=train
                )
            features.append(x)
        return features
