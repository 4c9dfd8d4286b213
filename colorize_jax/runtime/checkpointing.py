"""Orbax checkpointing of the train state together with the input pipeline's position.

Each checkpoint holds two items: "state" (the TrainState pytree) and "data" (the grain
iterator's state, one small JSON file per process). Saves are asynchronous; orbax writes each
step to a temporary directory and renames it only when complete, so a run killed mid-save never
sees a partial checkpoint as its latest. The manager keeps the latest checkpoint and the best one
by a validation metric.

When to save is orbax's decision too: every `save_interval_steps` steps (`should_save`), and
always when the caller forces it (an evaluation, the last step, a preempted step: the loop's
`preemption.PreemptionWatch` has all processes agree on that step already).
"""

from __future__ import annotations

import json
import os
from typing import Any

import grain
import jax
import orbax.checkpoint as ocp
from etils import epath

CHECKPOINT_DIR = "checkpoints"


class _FrozenIteratorState:
    """The iterator's state captured at save time, so an async save cannot see later steps."""

    def __init__(self, iterator: Any):
        self._state = json.dumps(iterator.get_state()).encode()

    def get_state(self) -> bytes:
        return self._state


def absolute_path(path: str) -> epath.Path:
    """`path` made absolute, as orbax requires; URLs such as gs://... stay as they are."""
    if "://" in str(path):
        return epath.Path(path)
    return epath.Path(os.path.abspath(path))


def create_manager(
    workdir: str,
    *,
    best_metric: str = "psnr",
    best_mode: str = "max",
    read_only: bool = False,
    save_interval_steps: int = 1,
) -> ocp.CheckpointManager:
    """A manager for `workdir/checkpoints` keeping the latest step and the best by `best_metric`.

    Its `should_save(step)` is True every `save_interval_steps` steps: orbax's
    `FixedIntervalPolicy`, without the `InitialSavePolicy` that
    `CheckpointManagerOptions.save_interval_steps` adds (it would save the first step of every
    fresh run) and without orbax's preemption policy (`preemption.PreemptionWatch` already finds
    the agreed step, which the loop saves by force; asking JAX's sync point twice a step would
    be redundant).
    """

    def metric_of(metrics: dict[str, float]) -> float:
        return float(metrics[best_metric])

    keep = ocp.checkpoint_managers.AnyPreservationPolicy(
        [
            ocp.checkpoint_managers.LatestN(n=1),
            ocp.checkpoint_managers.BestN(
                get_metric_fn=metric_of,
                reverse=best_mode == "min",
                n=1,
                keep_checkpoints_without_metrics=False,
            ),
        ]
    )
    when = ocp.checkpoint_managers.FixedIntervalPolicy(save_interval_steps)
    options = ocp.CheckpointManagerOptions(
        best_fn=metric_of,
        best_mode=best_mode,
        preservation_policy=keep,
        save_decision_policy=None if read_only else when,
        save_interval_steps=0 if read_only else 1,  # a reader saves nothing (and orbax says so)
        enable_async_checkpointing=True,
        read_only=read_only,
        create=not read_only,
    )
    directory = absolute_path(workdir) / CHECKPOINT_DIR
    return ocp.CheckpointManager(directory, item_names=("state", "data"), options=options)


def should_save(manager: ocp.CheckpointManager, step: int, *, force: bool = False) -> bool:
    """Whether to checkpoint at `step`: always when `force`, else as `manager.should_save`.

    `force` is for the steps saved whatever the interval: an evaluation step (its metrics pick
    the best checkpoint), the last step and a preempted one. All processes must call this with
    the same arguments at every step they might save, so that they save together.
    """
    return force or manager.should_save(step)


def save(
    manager: ocp.CheckpointManager,
    step: int,
    state: Any,
    data_iterator: Any | None = None,
    metrics: dict[str, float] | None = None,
) -> bool:
    """Starts an asynchronous save of `state` (and the data iterator position) at `step`.

    Saves whatever the interval: the caller has decided (with `should_save`).
    """
    items = {"state": ocp.args.StandardSave(state)}
    if data_iterator is not None:
        items["data"] = grain.checkpoint.CheckpointSave(_FrozenIteratorState(data_iterator))
    return manager.save(step, args=ocp.args.Composite(**items), metrics=metrics, force=True)


def abstract_like(state: Any) -> Any:
    """Shape/dtype/sharding placeholders of `state`, the restore target orbax needs."""
    return jax.tree_util.tree_map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), state
    )


def restore(
    manager: ocp.CheckpointManager,
    step: int,
    abstract_state: Any,
    data_iterator: Any | None = None,
) -> Any:
    """Restores the state at `step` into `abstract_state`'s structure and shardings.

    When `data_iterator` is given its position is restored in place too.
    """
    items = {"state": ocp.args.StandardRestore(abstract_state)}
    if data_iterator is not None:
        items["data"] = grain.checkpoint.CheckpointRestore(data_iterator)
    try:
        restored = manager.restore(step, args=ocp.args.Composite(**items))
    except (ValueError, FileNotFoundError, KeyError) as error:
        raise RuntimeError(
            f"cannot restore checkpoint step {step} from {manager.directory}: {error}. "
            "If the model config changed, use a new --workdir."
        ) from error
    return restored["state"]
