"""Training schemes, looked up by `config.scheme`, and the train state they start from.

A scheme is a module with a pure `train_step(state, batch, *, components)` and a tuple
`NETWORKS` of the networks it trains; `SCHEMES` lists them. Adding one (a new way to train the
same generator, e.g. with a teacher network) is one module plus one line here.
`create_train_state` initializes every network the components hold, each with its optimizer;
`make_step_fn` gives the loop the scheme's step with the components bound.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable

import jax

from colorize_jax import lookup, models
from colorize_jax.components import builder
from colorize_jax.components.builder import Components
from colorize_jax.runtime import sharding
from colorize_jax.training import adversarial, plain
from colorize_jax.training.state import NetworkState, TrainState

SCHEMES: dict[str, types.ModuleType] = {
    "plain": plain,
    "adversarial": adversarial,
}


def get(components: Components) -> types.ModuleType:
    """The scheme `components.scheme` names, checked against the networks the components hold.

    Raises ValueError for an unknown name or networks the scheme does not train or lacks.
    """
    name = components.scheme
    if name not in SCHEMES:
        raise ValueError(
            f"unknown config.scheme {name!r}{lookup.did_you_mean(name, SCHEMES, n=2)}; "
            f"available: {', '.join(sorted(SCHEMES))}"
        )
    scheme = SCHEMES[name]
    have, needs = set(components.networks), set(scheme.NETWORKS)
    if "discriminator" in have - needs:
        raise ValueError(
            f"config.scheme {name!r} trains no discriminator but config.discriminator is set: "
            "use config.scheme='adversarial' (see configs/pix2pix_lab.py) or a config without one"
        )
    if needs - have:
        raise ValueError(
            f"config.scheme {name!r} needs config.{', config.'.join(sorted(needs - have))} "
            "(see configs/pix2pix_lab.py)"
        )
    return scheme


def init_state(components: Components, rng: jax.Array) -> TrainState:
    """The initial TrainState: every network initialized (the i-th from rng folded with i, the
    generator from rng itself) and given its optimizer state. Pure, so it can be jitted."""
    networks = {}
    for index, (name, network) in enumerate(components.networks.items()):
        key = rng if index == 0 else jax.random.fold_in(rng, index)
        variables = builder.init_variables(
            network.model, network.input_channels, components.image_size, key
        )
        networks[name] = NetworkState.create(
            apply_fn=network.model.apply, variables=variables, tx=network.optimizer
        )
    return TrainState.create(**networks)


def create_train_state(
    components: Components, rng: jax.Array, mesh: jax.sharding.Mesh
) -> TrainState:
    """Initializes the train state, replicated over `mesh`; pretrained weights loaded where
    configured (the optimizer state, zeros, is unaffected)."""
    init = models.compile_init(
        functools.partial(init_state, components), rng, out_shardings=sharding.replicated(mesh)
    )
    state = init(rng)
    for name, network in components.networks.items():
        if network.load_pretrained is None:
            continue
        current = state.networks[name]
        variables = network.load_pretrained(current.variables)
        variables = jax.device_put(variables, sharding.replicated(mesh))
        state = state.replace_network(
            name,
            current.replace(
                params=variables["params"], batch_stats=variables.get("batch_stats", {})
            ),
        )
    return state


def make_step_fn(components: Components) -> Callable:
    """The pure (state, batch) -> (state, metrics) step of the components' scheme."""
    return functools.partial(get(components).train_step, components=components)
