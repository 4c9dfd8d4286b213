"""Loading PyTorch-layout state dicts into the Flax variables of a pretrained encoder.

`read_state_dict` reads a file: `.npz`, `.safetensors` (needs the `safetensors` package) or
`.pth`/`.pt` (read without torch by `torch_state_dict`, which runs none of the file's code).
`load_mapped` applies a state dict through an explicit key map (state-dict key -> (collection,
path inside the encoder's subtree)), converting layouts: conv kernels OIHW -> HWIO (an RGB
kernel summed over its input channels when the Flax layer takes one channel, which makes a grey
image give the RGB network's response), dense weights (out, in) -> (in, out). Missing,
unexpected and wrongly shaped keys are reported all together in one error.
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

from colorize_jax.models import torch_state_dict

# State-dict key -> (Flax collection, path inside the encoder's subtree).
KeyMap = dict[str, tuple[str, tuple[str, ...]]]
# PyTorch BatchNorm field -> (Flax collection, leaf name).
BATCH_NORM_FIELDS = {
    "weight": ("params", "scale"),
    "bias": ("params", "bias"),
    "running_mean": ("batch_stats", "mean"),
    "running_var": ("batch_stats", "var"),
}


def add_batch_norm(mapping: KeyMap, torch_name: str, flax_path: tuple[str, ...]) -> None:
    """Maps the four tensors of a PyTorch BatchNorm `torch_name` onto Flax's `flax_path`."""
    for field, (collection, leaf) in BATCH_NORM_FIELDS.items():
        mapping[f"{torch_name}.{field}"] = (collection, (*flax_path, leaf))


def add_conv(mapping: KeyMap, torch_name: str, flax_path: tuple[str, ...]) -> None:
    """Maps a bias-free PyTorch conv (or its weight only) onto Flax's `flax_path/kernel`."""
    mapping[f"{torch_name}.weight"] = ("params", (*flax_path, "kernel"))


def read_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Reads a state dict (name -> array) from a .npz, .safetensors or .pth/.pt file."""
    path = epath.Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".npz", ".safetensors", ".pth", ".pt"):
        raise ValueError(f"{path}: unknown weights format {suffix!r}; use .npz, .safetensors, .pth")
    if suffix in (".pth", ".pt"):
        return torch_state_dict.read(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such weights file")
    data = path.read_bytes()
    if suffix == ".npz":
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    try:
        from safetensors.numpy import load as load_safetensors
    except ImportError as error:
        raise ImportError(
            f"{path}: reading .safetensors needs the 'safetensors' package "
            "(pip install safetensors), or convert the file to .npz"
        ) from error
    return load_safetensors(data)


def as_state_dict(path_or_state_dict: str | os.PathLike | Mapping[str, Any]) -> dict:
    """A state dict of NumPy arrays from a mapping (of arrays or torch tensors) or a file."""
    if isinstance(path_or_state_dict, Mapping):
        return {name: _to_numpy(value) for name, value in path_or_state_dict.items()}
    return read_state_dict(path_or_state_dict)


def load_mapped(
    variables: Mapping[str, Any],
    state_dict: Mapping[str, np.ndarray],
    mapping: KeyMap,
    *,
    scope: str,
    ignored: re.Pattern,
    what: str,
) -> dict[str, Any]:
    """`variables` with the leaves of `mapping` under `scope` taken from `state_dict`.

    Keys matching `ignored` may be in the state dict without being used. Pure: returns new
    variables (arrays of the original shapes and dtypes); works inside `jax.jit` too.
    """
    collections = sorted({collection for collection, _ in mapping.values()})
    flat = {
        collection: traverse_util.flatten_dict(variables[collection][scope])
        for collection in collections
    }
    missing = sorted(set(mapping) - set(state_dict))
    unexpected = sorted(k for k in state_dict if k not in mapping and not ignored.search(k))
    mismatched = []
    for name, (collection, path) in mapping.items():
        if name not in state_dict:
            continue
        if path not in flat[collection]:
            raise ValueError(f"cannot load the {what} weights: the model has no {path} for {name}")
        target = flat[collection][path]
        value = _convert(state_dict[name], target.shape)
        if value.shape != tuple(target.shape):
            rgb_note = " (or 3 input channels, summed)" if len(target.shape) == 4 else ""
            mismatched.append(
                f"{name}: {state_dict[name].shape} in the weights, "
                f"expected {_torch_shape(target.shape)}{rgb_note * (target.shape[2] == 1)}"
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
        raise ValueError(f"cannot load the {what} weights; " + "; ".join(problems))

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
    """A PyTorch array in Flax's layout: OIHW kernels to HWIO (RGB summed to grey), dense (O, I)
    to (I, O)."""
    value = np.asarray(value)
    if value.ndim == 2 and len(target_shape) == 2:
        return value.T
    if value.ndim != 4:
        return value
    if value.shape[1] == 3 and target_shape[2] == 1:
        value = value.sum(axis=1, keepdims=True)
    return value.transpose(2, 3, 1, 0)


def _torch_shape(flax_shape: tuple[int, ...]) -> tuple[int, ...]:
    if len(flax_shape) == 4:
        height, width, inputs, outputs = flax_shape
        return (outputs, inputs, height, width)
    if len(flax_shape) == 2:
        return tuple(reversed(flax_shape))
    return tuple(flax_shape)
