"""The training state: a step counter and one or more networks, each with its optimizer.

A plain regression run holds one network, "generator"; adversarial training adds a
"discriminator" with its own optimizer. The state is a pytree of arrays only (functions live in
static fields), so it can be jitted, sharded and checkpointed whole.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

PyTree = Any


@struct.dataclass
class NetworkState:
    """Parameters, BatchNorm statistics and optimizer state of one network."""

    params: PyTree
    batch_stats: PyTree
    opt_state: PyTree
    apply_fn: Callable[..., Any] = struct.field(pytree_node=False)
    tx: optax.GradientTransformation = struct.field(pytree_node=False)

    @classmethod
    def create(cls, *, apply_fn, variables: PyTree, tx: optax.GradientTransformation):
        params = variables["params"]
        return cls(
            params=params,
            batch_stats=variables.get("batch_stats", {}),
            opt_state=tx.init(params),
            apply_fn=apply_fn,
            tx=tx,
        )

    @property
    def variables(self) -> dict[str, PyTree]:
        """The Flax variable collections to pass to `apply_fn`."""
        if self.batch_stats:
            return {"params": self.params, "batch_stats": self.batch_stats}
        return {"params": self.params}

    def apply_gradients(self, grads: PyTree, batch_stats: PyTree | None = None) -> NetworkState:
        """One optimizer update; optionally replaces the BatchNorm statistics."""
        updates, opt_state = self.tx.update(grads, self.opt_state, self.params)
        return self.replace(
            params=optax.apply_updates(self.params, updates),
            opt_state=opt_state,
            batch_stats=self.batch_stats if batch_stats is None else batch_stats,
        )


@struct.dataclass
class TrainState:
    """Step counter plus named networks (e.g. {"generator": ..., "discriminator": ...})."""

    step: jax.Array
    networks: dict[str, NetworkState]

    @classmethod
    def create(cls, **networks: NetworkState) -> TrainState:
        return cls(step=jnp.zeros((), jnp.int32), networks=dict(networks))

    @property
    def generator(self) -> NetworkState:
        return self.networks["generator"]

    def replace_network(self, name: str, network: NetworkState) -> TrainState:
        return self.replace(networks={**self.networks, name: network})


def count_params(params: PyTree) -> int:
    """Total number of scalar parameters in a pytree."""
    return sum(int(x.size) for x in jax.tree_util.tree_leaves(params))
