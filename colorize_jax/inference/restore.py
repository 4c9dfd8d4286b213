"""A trained generator from its workdir (the config training saved and the generator's weights),
or a generator that ships in the package (`shipped_generator`, `models.shipped`).

Evaluate, colorize and export need the generator's parameters and BatchNorm statistics only: no
optimizer, no discriminator. `restore_generator` builds the generator model and its head
(`components.builder.build_generator`, the builder training uses), and
restores just that part of the checkpoint (an orbax partial restore of
`networks/generator/{params,batch_stats}`), so inference never builds a training component and
its memory holds no optimizer moments.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import jax
import ml_collections
import orbax.checkpoint as ocp
from etils import epath
from flax import struct

from colorize_jax.components import builder, defaults
from colorize_jax.models import shipped
from colorize_jax.objectives import heads
from colorize_jax.runtime import checkpointing, sharding

PyTree = Any
CONFIG_FILE = "config.json"  # the config training saved in its workdir (training.run_config)


@struct.dataclass
class Generator:
    """A trained generator: its weights, its network and the head that reads its outputs.

    `apply_fn(variables, inputs, train=False)` gives the raw outputs; `head.predict` turns them
    into the colour target (`inference.predict` does both). `model.stride` is the multiple its
    inputs' sides are padded to.
    """

    params: PyTree
    batch_stats: PyTree
    model: Any = struct.field(pytree_node=False)
    head: heads.Head = struct.field(pytree_node=False)

    @property
    def apply_fn(self) -> Callable[..., Any]:
        """The network's `apply`."""
        return self.model.apply

    @property
    def variables(self) -> dict[str, PyTree]:
        """The Flax variable collections to pass to `apply_fn`."""
        if self.batch_stats:
            return {"params": self.params, "batch_stats": self.batch_stats}
        return {"params": self.params}


def as_plain(config: ml_collections.ConfigDict | Mapping[str, Any]) -> dict[str, Any]:
    """`config` as JSON types (what config.json holds), so saved and new configs compare."""
    if isinstance(config, ml_collections.ConfigDict):
        return json.loads(config.to_json_best_effort())
    return json.loads(json.dumps(dict(config), default=str))


def saved_config(workdir: str) -> ml_collections.ConfigDict | None:
    """The config training saved in `workdir` (DIR/config.json), completed
    (`components.defaults.complete`: one of an older version reads as it meant); None if absent."""
    path = epath.Path(workdir) / CONFIG_FILE
    if not path.exists():
        return None
    return defaults.complete(ml_collections.ConfigDict(json.loads(path.read_text())))


def load_config(workdir: str, config: ml_collections.ConfigDict | None):
    """The given config, else the one training saved in `workdir` (`saved_config`); completed
    either way: restoring is where a config enters inference."""
    if config is not None:
        return defaults.complete(config)
    saved = saved_config(workdir)
    if saved is None:
        raise FileNotFoundError(
            f"{epath.Path(workdir) / CONFIG_FILE} not found: pass --config=FILE, or point "
            "--workdir at a training directory"
        )
    return saved


def checkpoint_step(manager, step: int | None, which: str) -> int:
    """`step`, else the `which` ("latest" or "best") step; a one-line error when there is none.

    "best" falls back to the latest when no evaluation has ranked the checkpoints.
    """
    if step is None and which == "best":
        step = manager.best_step()
    if step is None:
        step = manager.latest_step()
    if step is None:
        raise FileNotFoundError(
            f"no checkpoint in {manager.directory}: train first with colorize_jax.main"
        )
    if step not in manager.all_steps():
        raise FileNotFoundError(
            f"no checkpoint for step {step} in {manager.directory}; "
            f"available: {list(manager.all_steps())}"
        )
    return step


def restore_generator(config, workdir: str, mesh, *, step: int | None, which: str = "latest"):
    """The generator of `config` restored from a checkpoint of `workdir`; returns (it, step).

    `step` None takes the `which` ("latest" or "best") checkpoint (see `checkpoint_step`).
    """
    manager = checkpointing.create_manager(workdir, best_metric=config.best_metric, read_only=True)
    step = checkpoint_step(manager, step, which)
    model, head = builder.build_generator(config)
    replicated = sharding.replicated(mesh)
    abstract = jax.tree_util.tree_map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=replicated),
        builder.variables_shape(model, 1, config.data.image_size),
    )
    target = {"networks": {"generator": abstract}}
    try:
        restored = manager.restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.PyTreeRestore(
                    item=target,
                    restore_args=ocp.checkpoint_utils.construct_restore_args(target),
                    partial_restore=True,
                )
            ),
        )
    except (ValueError, FileNotFoundError, KeyError) as error:
        raise RuntimeError(
            f"cannot restore the generator of checkpoint step {step} from {manager.directory}: "
            f"{error}. If the model config changed, use a new --workdir."
        ) from error
    finally:
        manager.close()
    variables = restored["state"]["networks"]["generator"]
    generator = Generator(
        params=variables["params"],
        batch_stats=variables.get("batch_stats", {}),
        model=model,
        head=head,
    )
    return generator, step


def shipped_config(model: shipped.ShippedModel) -> ml_collections.ConfigDict:
    """The completed config of the shipped `model` (`shipped.open_model`)."""
    return defaults.complete(ml_collections.ConfigDict(model.config))


def shipped_generator(
    config: ml_collections.ConfigDict, model: shipped.ShippedModel
) -> tuple[Generator, int]:
    """The shipped `model`'s generator built from `config` (its `shipped_config`, decode
    settings possibly changed); returns (it, the step it was trained to)."""
    network, head = builder.build_generator(config)
    like = builder.variables_shape(network, 1, config.data.image_size)
    variables = shipped.read_weights(model, like)
    generator = Generator(
        params=jax.device_put(variables["params"]),
        batch_stats=jax.device_put(variables["batch_stats"]),
        model=network,
        head=head,
    )
    return generator, model.step
