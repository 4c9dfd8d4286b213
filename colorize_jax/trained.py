"""A trained model from its workdir: the config training saved and the generator's checkpoint."""

from __future__ import annotations

import json

import jax
import ml_collections
from etils import epath

from colorize_jax import checkpointing, heads, models, sharding, train


def load_config(workdir: str, config: ml_collections.ConfigDict | None):
    """The given config, else the one training saved in `workdir`."""
    if config is not None:
        return config
    path = epath.Path(workdir) / "config.json"
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found: pass --config=FILE, or point --workdir at a training directory"
        )
    return ml_collections.ConfigDict(json.loads(path.read_text()))


def restore_generator(config, workdir: str, mesh, *, step: int | None, which: str = "latest"):
    """Builds the model of `config` and restores its train state from a checkpoint of `workdir`.

    `step` None takes the `which` ("latest" or "best") checkpoint; "best" falls back to the
    latest when no evaluation has ranked the checkpoints. Returns (state, step).
    """
    manager = checkpointing.create_manager(workdir, best_metric=config.best_metric, read_only=True)
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
    model = models.create_model(config.model, heads.create(config).num_outputs)
    abstract = jax.eval_shape(train.make_init_fn(config, model), jax.random.key(0))
    abstract = jax.tree_util.tree_map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding.replicated(mesh)),
        abstract,
    )
    state = checkpointing.restore(manager, step, abstract)
    manager.close()
    return state, step
