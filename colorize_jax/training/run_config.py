"""The config a workdir trains with: saved as DIR/config.json, compared with it on resume.

A workdir's checkpoints only fit the network they were written by. Before training resumes
from a checkpoint, the structural fields of the new config (those that decide the shapes and
tree of the train state: the model, the colour space, the head's outputs, the discriminator,
gradient clipping on or off, the encoder's own learning rate on or off) are compared with the
saved config's, and a difference stops the run with one line naming the fields, unless the
user allows it (`--allow_config_change`).
Other fields (learning rate, steps, data, evaluation) may change between invocations.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

import jax
import ml_collections
from etils import epath

from colorize_jax import models
from colorize_jax.components import builder
from colorize_jax.inference import restore
from colorize_jax.inference.restore import CONFIG_FILE, as_plain

OVERRIDE_FLAG = "--allow_config_change"
# Fields of config.model that do not shape the network: pretrained weights are read at step 0.
NOT_STRUCTURAL = (
    "model.init_from",
    "discriminator.model.init_from",
    "model.freeze_encoder_batch_norm",  # uses or updates the statistics; their shapes stay
)


class ConfigChangedError(ValueError):
    """The config differs structurally from the one the workdir's checkpoint was trained with."""


def save(config: ml_collections.ConfigDict, workdir: str) -> None:
    """Writes DIR/config.json from process 0, atomically (a kill never leaves half a file)."""
    if jax.process_index() != 0:
        return
    path = epath.Path(workdir) / CONFIG_FILE
    partial = path.parent / (path.name + ".tmp")
    partial.write_text(config.to_json_best_effort(indent=2, sort_keys=True) + "\n")
    partial.replace(path)


def load(workdir: str) -> dict[str, Any] | None:
    """The config saved in `workdir` as JSON types, completed (`restore.saved_config`: one saved
    by an older version reads as it meant), or None when there is none."""
    saved = restore.saved_config(workdir)
    return None if saved is None else as_plain(saved)


def structural_fields(config: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a complete plain config that decide the train state's structure, by
    dotted name."""
    fields: dict[str, Any] = {}

    def flatten(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                flatten(f"{prefix}.{key}", inner)
        elif prefix not in NOT_STRUCTURAL:
            fields[prefix] = value

    flatten("model", with_network_defaults(config["model"]))
    fields["data.color_space"] = config["data"]["color_space"]
    fields["network outputs (config.losses, config.classify)"] = _num_outputs(config)
    optimizer = config["optimizer"]
    fields["optimizer.grad_clip_norm (on or off)"] = bool(optimizer["grad_clip_norm"])
    fields[
        "encoder's own learning rate (optimizer.encoder_lr_multiplier, .freeze_encoder_steps)"
    ] = optimizer["encoder_lr_multiplier"] != 1.0 or bool(optimizer["freeze_encoder_steps"])
    discriminator = config.get("discriminator")
    fields["discriminator (present)"] = bool(discriminator)
    if discriminator:
        flatten("discriminator.model", discriminator.get("model", {}))
        fields["discriminator.optimizer.grad_clip_norm (on or off)"] = bool(
            discriminator["optimizer"]["grad_clip_norm"]
        )
    return fields


def with_network_defaults(model: Mapping[str, Any]) -> dict[str, Any]:
    """A model section with the fields it leaves out at its network's defaults, so that a config
    saved before a field existed (`model.frozen_encoder`) compares by the network it built."""
    network = models.MODELS.get(model.get("name"))
    if network is None:
        return dict(model)
    defaults = {
        field.name: json.loads(json.dumps(field.default))
        for field in dataclasses.fields(network)
        if field.default is not dataclasses.MISSING and field.name not in ("parent", "name")
    }
    return {**defaults, **model}


def _num_outputs(config: Mapping[str, Any]) -> int | None:
    try:
        return builder.build_head(ml_collections.ConfigDict(dict(config))).num_outputs
    except (ValueError, KeyError, AttributeError, TypeError):
        return None


def differences(saved: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """`name: saved -> new` for each structural field that differs between two complete plain
    configs."""
    old_fields, new_fields = structural_fields(saved), structural_fields(new)
    missing = "(absent)"
    return [
        f"{name}: {old_fields.get(name, missing)} -> {new_fields.get(name, missing)}"
        for name in sorted(set(old_fields) | set(new_fields))
        if old_fields.get(name, missing) != new_fields.get(name, missing)
    ]


def check_resume(
    config: ml_collections.ConfigDict, workdir: str, step: int, *, allow_change: bool
) -> list[str]:
    """Refuses to resume `workdir`'s checkpoint at `step` with a structurally different config.

    Returns the differences (empty when none, or when no config was saved); raises
    ConfigChangedError when there are some and `allow_change` is False.
    """
    saved = load(workdir)
    if saved is None:
        return []
    changed = differences(saved, as_plain(config))
    if changed and not allow_change:
        raise ConfigChangedError(
            f"{workdir} holds a checkpoint (step {step}) of a different model config: "
            f"{'; '.join(changed)}. Use a new --workdir, or pass {OVERRIDE_FLAG} to resume "
            "anyway"
        )
    return changed
