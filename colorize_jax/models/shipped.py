"""Colorizers that ship inside the package: their files, and their weights read and written.

A shipped model is a folder `colorize_jax/shipped/NAME/` of three files:

- `weights.safetensors`: the generator's variables (`params/...` and `batch_stats/...`, keys are
  the Flax paths joined by "/") in float16, read with the `safetensors` library (no pickle);
- `model.json`: `{"name", "step", "weights_sha256", "config": <the training config>}`, the
  SHA-256 checking that the weights are the ones shipped;
- `MODEL_CARD.md`: what it was trained on (and under which licence), for how long, its scores.

This module knows the files and the weights (`open_model` reads model.json once,
`read_weights` the weights); `inference.restore` turns one into a ready generator (its config
completed, its head built), and `config.model.init_from=NAME` starts training from one
(`load_into`). `tools/ship_model.py` writes a trained workdir's generator here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
from flax import traverse_util

from colorize_jax import lookup

SHIPPED_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "shipped")
DEFAULT_MODEL = "effnet_lite0_v1"  # what `colorize` uses when given no --workdir or --model
WEIGHTS_FILE = "weights.safetensors"
MODEL_FILE = "model.json"
CARD_FILE = "MODEL_CARD.md"
COLLECTIONS = ("params", "batch_stats")


class ShippedModelError(ValueError):
    """A shipped model that is unknown, missing a file, or whose files are damaged."""


@dataclasses.dataclass(frozen=True)
class ShippedModel:
    """A shipped model's folder and its model.json, read once (`open_model`)."""

    name: str
    directory: str
    description: Mapping[str, Any]  # the parsed model.json

    @property
    def config(self) -> dict[str, Any]:
        """The training config it was shipped with (a plain dict)."""
        return self.description["config"]

    @property
    def step(self) -> int:
        """The training step its weights are from."""
        return int(self.description.get("step", 0))


def names(root: str | None = None) -> list[str]:
    """The shipped models in `root` (default: those installed with the package), sorted."""
    root = root or SHIPPED_DIR
    if not os.path.isdir(root):
        return []
    return sorted(
        name for name in os.listdir(root) if os.path.isfile(os.path.join(root, name, MODEL_FILE))
    )


def is_shipped_name(name: str, root: str | None = None) -> bool:
    """Whether `name` is a shipped model's name (not a path)."""
    return bool(name) and os.sep not in name and name in names(root)


def model_dir(name: str, root: str | None = None) -> str:
    """The folder of shipped model `name`; ShippedModelError naming the choices if unknown."""
    if not is_shipped_name(name, root):
        available = names(root)
        raise ShippedModelError(
            f"no shipped model {name!r}{lookup.did_you_mean(name, available, n=1)}; "
            f"shipped: {', '.join(available) or 'none'} "
            "(or pass --workdir=DIR for a model you trained)"
        )
    return os.path.join(root or SHIPPED_DIR, name)


def open_model(name: str, root: str | None = None) -> ShippedModel:
    """Shipped model `name` of `root` (default: the package's) with its model.json read.

    Raises ShippedModelError when the name is unknown or model.json is damaged.
    """
    directory = model_dir(name, root)
    path = os.path.join(directory, MODEL_FILE)
    try:
        with open(path) as f:
            description = json.load(f)
        description["config"]  # noqa: B018 - a model.json without it is damaged
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ShippedModelError(
            f"shipped model {name!r}: {path} is damaged ({type(error).__name__}: {error}); "
            "reinstall colorize_jax"
        ) from None
    return ShippedModel(name=name, directory=directory, description=description)


def read_weights(model: ShippedModel, like: Mapping[str, Any]) -> dict[str, Any]:
    """The shipped `model`'s variables in the tree, shapes and dtypes of `like`.

    `like` is a {"params", "batch_stats"} tree of arrays or `jax.ShapeDtypeStruct`s (e.g.
    `components.builder.variables_shape`). Raises ShippedModelError naming the file when it is
    missing, fails its SHA-256 or cannot be read, or when its variables do not fit `like`.
    """
    name, path = model.name, os.path.join(model.directory, WEIGHTS_FILE)
    if not os.path.isfile(path):
        raise ShippedModelError(
            f"shipped model {name!r}: {path} is missing; reinstall colorize_jax"
        )
    with open(path, "rb") as f:
        data = f.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != model.description.get("weights_sha256"):
        raise ShippedModelError(
            f"shipped model {name!r}: {path} is damaged (its SHA-256 is not the one in "
            f"{MODEL_FILE}); reinstall colorize_jax"
        )
    from safetensors.numpy import load  # noqa: PLC0415 - only shipped models need it

    try:
        flat = load(data)
    except Exception as error:  # noqa: BLE001 - safetensors raises its own error type
        raise ShippedModelError(
            f"shipped model {name!r}: cannot read {path} ({error}); reinstall colorize_jax"
        ) from None
    return unflatten_like(flat, like, what=f"shipped model {name!r}")


def unflatten_like(
    flat: Mapping[str, np.ndarray], like: Mapping[str, Any], *, what: str
) -> dict[str, Any]:
    """`flat` ("params/a/b" -> array) as the tree of `like`, cast to its dtypes.

    Raises ShippedModelError naming `what` and the first missing, extra or misshapen variable.
    """
    expected = {
        "/".join(key): leaf
        for key, leaf in traverse_util.flatten_dict(
            {c: like.get(c, {}) for c in COLLECTIONS}
        ).items()
    }
    missing = sorted(set(expected) - set(flat))
    extra = sorted(set(flat) - set(expected))
    if missing or extra:
        raise ShippedModelError(
            f"{what} does not fit this network: {len(missing)} variables missing "
            f"({', '.join(missing[:2])}), {len(extra)} unexpected ({', '.join(extra[:2])})"
        )
    values = {}
    for key, leaf in expected.items():
        if tuple(flat[key].shape) != tuple(leaf.shape):
            raise ShippedModelError(
                f"{what} does not fit this network: {key} has shape {tuple(flat[key].shape)}, "
                f"the network's is {tuple(leaf.shape)}"
            )
        values[tuple(key.split("/"))] = np.asarray(flat[key]).astype(leaf.dtype)
    tree = traverse_util.unflatten_dict(values)
    return {c: tree.get(c, {}) for c in COLLECTIONS}


def load_into(variables: Mapping[str, Any], name: str) -> dict[str, Any]:
    """`variables` replaced by shipped model `name`'s (init_from=NAME: fine-tuning it)."""
    return read_weights(open_model(name), variables)


def write(
    directory: str,
    *,
    name: str,
    variables: Mapping[str, Any],
    config: Mapping[str, Any],
    step: int,
    card: str,
) -> dict[str, Any]:
    """Writes a shipped model's three files into `directory` (created); returns model.json.

    The weights are stored in float16; the SHA-256 of the weights file goes into model.json.
    """
    from safetensors.numpy import save  # noqa: PLC0415

    flat = {
        "/".join(key): np.asarray(value, np.float16)
        for key, value in traverse_util.flatten_dict(
            {c: variables.get(c, {}) for c in COLLECTIONS}
        ).items()
    }
    too_large = [k for k, v in flat.items() if np.isinf(v).any()]
    if too_large:
        raise ValueError(f"variables overflow float16: {', '.join(too_large[:3])}")
    data = save(flat, metadata={"name": name, "step": str(step)})
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, WEIGHTS_FILE), "wb") as f:
        f.write(data)
    description = {
        "name": name,
        "step": int(step),
        "weights_sha256": hashlib.sha256(data).hexdigest(),
        "config": dict(config),
    }
    with open(os.path.join(directory, MODEL_FILE), "w") as f:
        json.dump(description, f, indent=2, sort_keys=True)
        f.write("\n")
    with open(os.path.join(directory, CARD_FILE), "w") as f:
        f.write(card)
    return description
