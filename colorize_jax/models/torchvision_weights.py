"""ImageNet weights for `resnet.ResNetEncoder` from a torchvision ResNet-18/34 state dict.

`load_pretrained(variables, source)` replaces the encoder's parameters and BatchNorm statistics
in a model's variables with those of a torchvision state dict, given as a mapping of arrays or as
a file: `.npz`, `.safetensors` (needs the `safetensors` package) or `.pth`/`.pt` (read without
torch, and without running any of the file's code: see `torch_state_dict`). The name mapping is
explicit (`torchvision_key_map`); conv kernels go from PyTorch's OIHW to Flax's HWIO, and
conv1's RGB filters are summed over the input channels, which makes a grey image (R = G = B = L)
give the same response as in the RGB network. Keys of the classifier (`fc.*`) and BatchNorm's
`num_batches_tracked` counters are ignored; any other missing, unexpected or wrongly shaped key
is an error that names them all.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from colorize_jax.models import pretrained, resnet

ENCODER_SCOPE = "encoder"
_IGNORED = re.compile(r"^fc\.(weight|bias)$|\.num_batches_tracked$")
KeyMap = pretrained.KeyMap


def torchvision_key_map(depth: int) -> KeyMap:
    """Every torchvision ResNet-`depth` trunk key and where it lives in `ResNetEncoder`."""
    mapping: KeyMap = {}

    def conv(torch_name: str, flax_path: tuple[str, ...]) -> None:
        pretrained.add_conv(mapping, torch_name, flax_path)

    def batch_norm(torch_name: str, flax_path: tuple[str, ...]) -> None:
        pretrained.add_batch_norm(mapping, torch_name, flax_path)

    conv("conv1", ("conv1",))
    batch_norm("bn1", ("bn1",))
    for stage, blocks in enumerate(resnet.BLOCKS_PER_STAGE[depth], start=1):
        for index in range(blocks):
            torch_block, flax_block = f"layer{stage}.{index}", f"layer{stage}_{index}"
            for layer in (1, 2):
                conv(f"{torch_block}.conv{layer}", (flax_block, f"conv{layer}"))
                batch_norm(f"{torch_block}.bn{layer}", (flax_block, f"bn{layer}"))
            if stage > 1 and index == 0:
                conv(f"{torch_block}.downsample.0", (flax_block, "downsample_conv"))
                batch_norm(f"{torch_block}.downsample.1", (flax_block, "downsample_bn"))
    return mapping


def encoder_depth(variables: Mapping[str, Any], scope: str = ENCODER_SCOPE) -> int:
    """The ResNet depth (18 or 34) of the encoder in `variables`, from its blocks per stage."""
    params = variables["params"].get(scope)
    if params is None:
        raise ValueError(f"the variables have no {scope!r} module to load ResNet weights into")
    blocks = tuple(
        sum(1 for name in params if name.startswith(f"layer{stage}_")) for stage in range(1, 5)
    )
    for depth, expected in resnet.BLOCKS_PER_STAGE.items():
        if blocks == expected:
            return depth
    raise ValueError(f"{scope!r} has {blocks} blocks per stage, not a ResNet-18 or -34")


def load_pretrained(
    variables: Mapping[str, Any],
    path_or_state_dict: str | os.PathLike | Mapping[str, Any],
    scope: str = ENCODER_SCOPE,
) -> dict[str, Any]:
    """`variables` with the ResNet encoder under `scope` taken from a torchvision state dict.

    Pure: returns new variables (float32 arrays of the original shapes and dtypes) and leaves
    the input untouched. Works on concrete arrays and inside `jax.jit` (the weights then become
    constants of the compiled function).
    """
    state_dict = pretrained.as_state_dict(path_or_state_dict)
    mapping = torchvision_key_map(encoder_depth(variables, scope))
    return pretrained.load_mapped(
        variables, state_dict, mapping, scope=scope, ignored=_IGNORED, what="ResNet"
    )
