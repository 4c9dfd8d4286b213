"""ImageNet weights for `resnet.ResNetEncoder` from a torchvision ResNet-18/34 state dict.

`load_pretrained(variables, source)` replaces the encoder's parameters and BatchNorm statistics
in a model's variables with those of a torchvision state dict, given as a mapping of arrays or as
a file: `.npz`, `.safetensors` (needs the `safetensors` package) or `.pth`/`.pt` (needs torch,
which nothing else here requires). The name mapping is explicit (`torchvision_key_map`); conv
kernels go from PyTorch's OIHW to Flax's HWIO, and conv1's RGB filters are summed over the input
channels, which makes a grey image (R = G = B = L) give the same response as in the RGB network.
Keys of the classifier (`fc.*`) and BatchNorm's `num_batches_tracked` counters are ignored; any
other missing, unexpected or wrongly shaped key is an error that names them all.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Mapping
from typing import Any

import jax.numpy as jnp
import numpy as np
from etils import epath
from flax import traverse_util

from colorize_jax.models import resnet

ENCODER_SCOPE = "encoder"
_IGNORED = re.compile(r"^fc\.(weight|bias)$|\.num_batches_tracked$")
_BN_FIELDS = {
    "weight": ("params", "scale"),
    "bias": ("params", "bias"),
    "running_mean": ("batch_stats", "mean"),
    "running_var": ("batch_stats", "var"),
}

# torchvision key -> (Flax collection, path inside the encoder's subtree).
KeyMap = dict[str, tuple[str, tuple[str, ...]]]


def torchvision_key_map(depth: int) -> KeyMap:
    """Every torchvision ResNet-`depth` trunk key and where it lives in `ResNetEncoder`."""
    mapping: KeyMap = {}

    def conv(torch_name: str, flax_path: tuple[str, ...]) -> None:
        mapping[f"{torch_name}.weight"] = ("params", (*flax_path, "kernel"))

    def batch_norm(torch_name: str, flax_path: tuple[str, ...]) -> None:
        for field, (collection, leaf) in _BN_FIELDS.items():
            mapping[f"{torch_name}.{field}"] = (collection, (*flax_path, leaf))

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


def read_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Reads a state dict (name -> array) from a .npz, .safetensors or .pth/.pt file."""
    path = epath.Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".npz", ".safetensors", ".pth", ".pt"):
        raise ValueError(f"{path}: unknown weights format {suffix!r}; use .npz, .safetensors, .pth")
    data = path.read_bytes()
    if suffix == ".npz":
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    if suffix == ".safetensors":
        try:
            from safetensors.numpy import load as load_safetensors
        except ImportError as error:
            raise ImportError(
                f"{path}: reading .safetensors needs the 'safetensors' package "
                "(pip install safetensors), or convert the file to .npz"
            ) from error
        return load_safetensors(data)
    try:
        import torch
    except ImportError as error:
        raise ImportError(
            f"{path}: reading a PyTorch checkpoint needs torch, which is not installed; convert it "
            "elsewhere with numpy.savez(out, **{k: v.numpy() for k, v in torch.load(f).items()})"
        ) from error
    state_dict = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    return {name: tensor.detach().numpy() for name, tensor in state_dict.items()}


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
    if isinstance(path_or_state_dict, Mapping):
        state_dict = {name: _to_numpy(value) for name, value in path_or_state_dict.items()}
    else:
        state_dict = read_state_dict(path_or_state_dict)
    mapping = torchvision_key_map(encoder_depth(variables, scope))

    flat = {
        collection: traverse_util.flatten_dict(variables[collection][scope])
        for collection in ("params", "batch_stats")
    }
    missing = sorted(set(mapping) - set(state_dict))
    unexpected = sorted(k for k in state_dict if k not in mapping and not _IGNORED.search(k))
    mismatched = []
    for name, (collection, path) in mapping.items():
        if name not in state_dict:
            continue
        target = flat[collection][path]
        value = _convert(state_dict[name], target.shape)
        if value.shape != tuple(target.shape):
            rgb_note = " (or 3 input channels, summed)" if path == ("conv1", "kernel") else ""
            mismatched.append(
                f"{name}: {state_dict[name].shape} in the weights, "
                f"expected {_torch_shape(target.shape)}{rgb_note}"
            )
            continue
        flat[collection][path] = jnp.asarray(value, dtype=target.dtype)
    problems = [
        f"{label}: {', '.join(names)}"
        for label, names in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("shape mismatches", mismatched),
        )
        if names
    ]
    if problems:
        raise ValueError("cannot load the ResNet weights; " + "; ".join(problems))

    result = dict(variables)
    for collection, leaves in flat.items():
        result[collection] = {
            **variables[collection],
            scope: traverse_util.unflatten_dict(leaves),
        }
    return result


def _to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # A torch tensor.
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _convert(value: np.ndarray, target_shape: tuple[int, ...]) -> np.ndarray:
    """A torchvision array in the Flax layout: OIHW kernels to HWIO, RGB conv1 summed to grey."""
    if value.ndim != 4:
        return value
    if value.shape[1] == 3 and target_shape[2] == 1:
        value = value.sum(axis=1, keepdims=True)
    return value.transpose(2, 3, 1, 0)


def _torch_shape(flax_shape: tuple[int, ...]) -> tuple[int, ...]:
    if len(flax_shape) == 4:
        height, width, inputs, outputs = flax_shape
        return (outputs, inputs, height, width)
    return tuple(flax_shape)
