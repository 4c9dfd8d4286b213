"""The generator's objective: the weighted loss terms of `config.losses`, checked once.

`create` turns {name: weight} (and the terms' own settings) into an `Objective`, raising one
ValueError for anything that cannot train: an unknown term, no term on, settings a term does not
take, a classification term without a classification head, an adversarial term without a
discriminator (or more than one). `generator_loss` is the one loss every training scheme gives
the generator: it reads the network's outputs through the head and sums the weighted terms
(`terms.TERMS`), each fed what its kind names.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

from colorize_jax import lookup
from colorize_jax.objectives import terms as terms_lib
from colorize_jax.objectives.terms import TERMS, LossInputs

# What a kind needs beyond a network with colour outputs, and the fix when it is missing.
_KIND_NEEDS = {
    "logits": ("classify", "needs config.classify (see configs/unet_lab_classify.py)"),
    "adversarial": (
        "discriminator",
        "needs a discriminator: set config.scheme = 'adversarial' and config.discriminator "
        "(see configs/pix2pix_lab.py)",
    ),
}


@dataclasses.dataclass(frozen=True)
class Objective:
    """The active terms (non-zero weight), their weights and their own settings."""

    weights: dict[str, float]
    settings: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)

    @property
    def kinds(self) -> set[str]:
        """The kinds of the active terms."""
        return {TERMS[name].kind for name in self.weights}

    @property
    def adversarial(self) -> str | None:
        """The name of the active adversarial term, if any."""
        names = [name for name in self.weights if TERMS[name].kind == "adversarial"]
        return names[0] if names else None


def create(
    weights: Mapping[str, float],
    sections: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    classify: bool = False,
    discriminator: bool = False,
) -> Objective:
    """The checked objective of `weights` ({term: weight}; weight 0: off).

    `sections` maps section names to the config sections the active terms read their settings
    from (`LossTerm.settings`: the whole config will do, or {"perceptual": {...}}); `classify`
    and `discriminator` say whether the run has a classification head and a discriminator.
    Raises ValueError naming what is wrong and the fix.
    """
    known = sorted(TERMS)
    for name in weights:
        if name not in TERMS:
            raise ValueError(
                f"unknown loss term {name!r} in config.losses{lookup.did_you_mean(name, known)}; "
                "available: "
                + "; ".join(
                    f"{kind}: {', '.join(n for n in known if TERMS[n].kind == kind)}"
                    for kind in terms_lib.KINDS
                )
            )
    active = {name: float(weight) for name, weight in weights.items() if weight}
    if not active:
        raise ValueError("config.losses has no term with a non-zero weight, e.g. {'l1': 1.0}")
    present = {"classify": classify, "discriminator": discriminator}
    for name in active:
        need = _KIND_NEEDS.get(TERMS[name].kind)
        if need and not present[need[0]]:
            raise ValueError(f"loss term {name!r} {need[1]}")
    adversarial = [name for name in active if TERMS[name].kind == "adversarial"]
    if len(adversarial) > 1:
        raise ValueError(
            f"config.losses enables more than one adversarial loss ({', '.join(adversarial)}): "
            "pick one"
        )
    if discriminator and not adversarial:
        gan_terms = ", ".join(n for n in known if TERMS[n].kind == "adversarial")
        raise ValueError(
            "config.discriminator is set but config.losses gives no adversarial term a non-zero "
            f"weight; use one of {gan_terms}"
        )
    settings = {
        name: _settings(name, (sections or {}).get(TERMS[name].settings))
        for name in active
        if TERMS[name].settings
    }
    return Objective(weights=active, settings={k: v for k, v in settings.items() if v})


def _settings(name: str, section: Mapping[str, Any] | None) -> dict[str, Any]:
    """Term `name`'s keyword settings from its config section, checked against its signature."""
    term = TERMS[name]
    # Lists from a saved config.json come back as lists; the terms take tuples.
    options = {
        key: tuple(value) if isinstance(value, list | tuple) else value
        for key, value in dict(section or {}).items()
    }
    fixed = {*terms_lib.KIND_ARGUMENTS[term.kind], "predictions", "targets", *term.uses}
    accepted = set(inspect.signature(term.fn).parameters) - fixed
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ValueError(
            f"config.{term.settings} has fields that loss term {name!r} does not take: "
            f"{', '.join(unknown)}; it takes {', '.join(sorted(accepted))}"
        )
    if term.check is not None:
        try:
            term.check(options)
        except ValueError as error:
            raise ValueError(f"config.{term.settings}: {error}") from error
    return options


def generator_loss(
    objective: Objective,
    head,
    outputs: jax.Array,
    targets: jax.Array,
    *,
    inputs: jax.Array,
    discriminate: Callable[[jax.Array], jax.Array] | None = None,
    weights: Mapping[str, Any] | None = None,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """(sum of weight * term, {name: unweighted term}) of the network's raw `outputs`, float32.

    `head` (a `heads.Head`) reads the outputs: the "colour" terms see its regressed channels,
    the "decoded" terms its decoded colour, the "logits" terms its logits. `targets` are the
    step's training targets, `inputs` the clean input lightness. `discriminate` maps a decoded
    colour to the discriminator's outputs; the adversarial term, when active, is computed on
    them (and needs it). `weights` replaces the objective's weights for this step (the same
    terms; e.g. a traced 0 for the adversarial term during a warm-up).
    """
    weights = objective.weights if weights is None else weights
    outputs = outputs.astype(jnp.float32)
    parts = head.split(outputs)
    decoded = head.loss_prediction(outputs)
    fake_logits = None
    if objective.adversarial is not None:
        if discriminate is None:
            raise ValueError(f"loss term {objective.adversarial!r} needs a discriminator")
        fake_logits = discriminate(decoded)
    x = LossInputs(
        inputs=inputs.astype(jnp.float32),
        targets=targets.astype(jnp.float32),
        space=head.space,
        colour=parts.get("regression"),
        decoded=decoded,
        logits=parts.get("logits"),
        head=head,
        fake_logits=fake_logits,
    )
    values = {
        name: TERMS[name](x, **objective.settings.get(name, {})) for name in objective.weights
    }
    total = sum(weights[name] * values[name] for name in objective.weights)
    return total, values
