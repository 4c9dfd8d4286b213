"""The model side of a run, built from its config: networks, optimizers, head and objective.

`build(config)` checks a complete config (`defaults.complete`, applied where the config enters:
training start and restore) and returns `Components`: the generator (its Flax module, optimizer
and schedules), the head that reads its outputs, the objective (`losses.Objective`), the
discriminator when the config has one (built the same way from `config.discriminator.model` and
its own optimizer section), the training scheme's name and the few numbers a train step needs.
`build_generator(config)` builds only the generator's module and head, for evaluation,
colorization and export. The schedule of the run (steps, intervals, batch sizes, evaluators) is
not built here: the training loop reads those fields itself, as flax's examples do.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax

from colorize_jax import models
from colorize_jax.colour import colorspace
from colorize_jax.components import defaults, optimizer
from colorize_jax.objectives import heads, losses

PyTree = dict


@dataclasses.dataclass(frozen=True)
class Network:
    """A network to train: its module, its input channels, its optimizer and schedules."""

    model: nn.Module
    input_channels: int
    optimizer: optax.GradientTransformation
    learning_rate_fn: optax.Schedule
    encoder_learning_rate_fn: optax.Schedule | None = None  # an encoder's own rate, if any
    load_pretrained: Callable[[PyTree], PyTree] | None = None  # variables -> with weights


@dataclasses.dataclass(frozen=True)
class StepSettings:
    """What a train step reads besides the networks and the objective."""

    seed: int
    input_noise_std: float = 0.0  # Gaussian noise on the network's input, [-1, 1] scale
    target_chroma_gain: float = 1.0  # the training targets' chroma x this
    pretrain_generator_steps: int = 0  # adversarial: steps of the generator alone first
    pretrain_discriminator_steps: int = 0  # adversarial: then of the discriminator alone


@dataclasses.dataclass(frozen=True)
class Components:
    """Everything a training run is made of, built from its config by `build`."""

    scheme: str  # the training scheme's name (training.schemes.SCHEMES)
    head: heads.Head
    objective: losses.Objective
    networks: dict[str, Network]  # "generator", and "discriminator" when configured
    step: StepSettings
    image_size: int  # side of the square training crops

    @property
    def generator(self) -> Network:
        return self.networks["generator"]


def build(config: ml_collections.ConfigDict) -> Components:
    """The components of complete `config`; raises ValueError naming a field that cannot work."""
    defaults.require_complete(config)
    objective, head = _objective_and_head(config)
    steps = int(config.num_train_steps)
    model = models.create_model(config.model, head.num_outputs)
    networks = {
        "generator": _network(
            model, 1, config.optimizer, steps, config.model, model_name=config.model.name
        )
    }
    gan = {}
    if config.get("discriminator"):
        networks["discriminator"] = _network(
            models.create_model(config.discriminator.model, 1),
            1 + colorspace.target_channels(config.data.color_space),
            config.discriminator.optimizer,
            steps,
            config.discriminator.model,
        )
        gan = {
            "pretrain_generator_steps": int(config.gan.pretrain_generator_steps),
            "pretrain_discriminator_steps": int(config.gan.pretrain_discriminator_steps),
        }
    return Components(
        scheme=config.scheme,
        head=head,
        objective=objective,
        networks=networks,
        step=StepSettings(
            seed=int(config.seed),
            input_noise_std=float(config.data.input_noise_std),
            target_chroma_gain=float(config.data.target_chroma_gain),
            **gan,
        ),
        image_size=int(config.data.image_size),
    )


def build_generator(config: ml_collections.ConfigDict) -> tuple[nn.Module, heads.Head]:
    """(the generator's Flax module, its head) of complete `config`: all inference builds."""
    head = build_head(config)
    return models.create_model(config.model, head.num_outputs), head


def build_head(config: ml_collections.ConfigDict) -> heads.Head:
    """The head of complete `config`'s generator (what its outputs are), its objective checked."""
    defaults.require_complete(config)
    return _objective_and_head(config)[1]


def _objective_and_head(config) -> tuple[losses.Objective, heads.Head]:
    gain = float(config.data.target_chroma_gain)
    if gain <= 0:
        raise ValueError(f"config.data.target_chroma_gain must be positive, not {gain}")
    objective = losses.create(
        dict(config.losses),
        config,  # each term with settings reads the section its `LossTerm.settings` names
        classify=bool(config.get("classify")),
        discriminator=bool(config.get("discriminator")),
    )
    return objective, heads.create(config, objective.kinds)


def _network(model, input_channels, settings, num_train_steps, model_config, model_name=None):
    learning_rate_fn = optimizer.create_learning_rate_fn(settings, num_train_steps)
    load = None
    if model_config.get("init_from"):
        load = functools.partial(models.load_pretrained_if_configured, model_config)
    return Network(
        model=model,
        input_channels=input_channels,
        optimizer=optimizer.create_optimizer(
            settings,
            learning_rate_fn,
            model_name=model_name,
            frozen_encoder=bool(model_config.get("frozen_encoder", False)),
        ),
        learning_rate_fn=learning_rate_fn,
        encoder_learning_rate_fn=optimizer.create_encoder_learning_rate_fn(
            settings, learning_rate_fn
        ),
        load_pretrained=load,
    )


def init_variables(model: nn.Module, input_channels: int, image_size: int, rng) -> PyTree:
    """The freshly initialized {"params", "batch_stats"} of `model` (pure; jit or eval_shape it).

    Training initializes every network with it, and inference takes the shapes of what it
    restores from it, so both agree on the variables' tree.
    """
    dummy = jnp.zeros((1, image_size, image_size, input_channels), jnp.float32)
    variables = model.init({"params": rng, "dropout": rng}, dummy, train=False)
    return {"params": variables["params"], "batch_stats": variables.get("batch_stats", {})}


def variables_shape(model: nn.Module, input_channels: int, image_size: int) -> PyTree:
    """Shapes and dtypes of `init_variables`' result, computed without running it."""
    init = functools.partial(init_variables, model, input_channels, image_size)
    return jax.eval_shape(init, jax.random.key(0))
