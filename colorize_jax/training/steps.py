"""The pure training functions: the initial train state and the jit-able train step."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import ml_collections
import optax

from colorize_jax import models
from colorize_jax.objectives import heads, losses, step_inputs
from colorize_jax.runtime import sharding
from colorize_jax.training import adversarial as gan
from colorize_jax.training import optimizer
from colorize_jax.training.state import NetworkState, TrainState


def make_init_fn(config: ml_collections.ConfigDict, model) -> Callable[[jax.Array], TrainState]:
    """The pure function rng -> initial TrainState (each network with its optimizer)."""
    size = config.data.image_size
    tx = optimizer.create_optimizer(config, optimizer.create_learning_rate_fn(config))
    if gan.enabled(config):
        d_config = gan.discriminator_optimizer_config(config)
        d_tx = optimizer.create_optimizer(d_config, optimizer.create_learning_rate_fn(d_config))
        init_discriminator = gan.make_init_fn(config, d_tx)

    def init(rng: jax.Array) -> TrainState:
        dummy = jnp.zeros((1, size, size, 1), jnp.float32)
        variables = model.init({"params": rng, "dropout": rng}, dummy, train=False)
        networks = {
            "generator": NetworkState.create(apply_fn=model.apply, variables=variables, tx=tx)
        }
        if gan.enabled(config):
            networks["discriminator"] = init_discriminator(jax.random.fold_in(rng, 1))
        return TrainState.create(**networks)

    return init


def create_train_state(
    config: ml_collections.ConfigDict, model, rng: jax.Array, mesh: jax.sharding.Mesh
) -> TrainState:
    """Initializes the train state, replicated over `mesh`."""
    init = models.compile_init(
        make_init_fn(config, model), rng, out_shardings=sharding.replicated(mesh)
    )
    state = init(rng)
    if config.model.get("init_from"):
        # Pretrained weights replace the random ones; the optimizer state (zeros) is unaffected.
        generator = state.generator
        variables = models.load_pretrained_if_configured(config.model, generator.variables)
        variables = jax.device_put(variables, sharding.replicated(mesh))
        generator = generator.replace(
            params=variables["params"], batch_stats=variables.get("batch_stats", {})
        )
        state = state.replace_network("generator", generator)
    return state


def train_step(
    state: TrainState,
    batch: Mapping[str, jax.Array],
    *,
    space: str,
    loss_weights: Mapping[str, float],
    learning_rate_fn: optax.Schedule,
    seed: int,
    input_noise_std: float = 0.0,
    head: heads.Head | None = None,
    loss_options: Mapping[str, Mapping] | None = None,
) -> tuple[TrainState, dict[str, jax.Array]]:
    """One optimizer step of the generator on the weighted sum of the configured loss terms.

    `input_noise_std` > 0 adds Gaussian noise of that standard deviation (in the [-1, 1] input
    scale) to the model's input, an augmentation; the targets stay clean. `head` says what the
    network's outputs are (see `heads`); None: the regressed colour target itself. The loss
    terms get the clean inputs (`losses.INPUT_TERMS` rebuild the image from them) and
    `loss_options`, the terms' own settings (`losses.term_options`).
    """
    generator = state.generator
    clean_inputs, inputs, targets, dropout_rng = step_inputs.prepare(
        batch, state.step, space=space, seed=seed, input_noise_std=input_noise_std
    )
    context = {"inputs": clean_inputs, "options": loss_options}

    def loss_fn(params):
        variables = {**generator.variables, "params": params}
        predictions, updates = generator.apply_fn(
            variables,
            inputs,
            train=True,
            mutable=["batch_stats"],
            rngs={"dropout": dropout_rng},
        )
        if head is None:
            total, terms = losses.weighted_sum(
                loss_weights, predictions, targets, space=space, **context
            )
        else:
            total, terms = head.loss(loss_weights, predictions, targets, **context)
        return total, (terms, updates.get("batch_stats", {}))

    (total, (terms, batch_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        generator.params
    )
    new_generator = generator.apply_gradients(grads, batch_stats=batch_stats)
    state = state.replace_network("generator", new_generator).replace(step=state.step + 1)
    step_metrics = {
        "loss": total,
        **{f"loss_{name}": value for name, value in terms.items()},
        "grad_norm": optax.tree.norm(grads),
        "learning_rate": learning_rate_fn(state.step - 1),
        "num_skipped": jnp.sum(batch["num_skipped"]),
    }
    return state, step_metrics


def make_step_fn(config: ml_collections.ConfigDict) -> Callable:
    """The pure (state, batch) step of `config`: `train_step`, or `gan.gan_train_step`.

    With an encoder schedule of its own (see `create_encoder_learning_rate_fn`) the step's
    metrics also hold "learning_rate_encoder".
    """
    kwargs = {
        "space": config.data.color_space,
        "loss_weights": dict(config.losses),
        "learning_rate_fn": optimizer.create_learning_rate_fn(config),
        "seed": config.seed,
        "input_noise_std": config.data.get("input_noise_std", 0.0),
        "loss_options": losses.term_options(config),
    }
    if not gan.enabled(config):
        step_fn = functools.partial(train_step, **kwargs, head=heads.create(config))
    else:
        d_schedule = optimizer.create_learning_rate_fn(gan.discriminator_optimizer_config(config))
        step_fn = functools.partial(
            gan.gan_train_step,
            **kwargs,
            discriminator_learning_rate_fn=d_schedule,
            **gan.schedule(config),
        )
    encoder_schedule = optimizer.create_encoder_learning_rate_fn(config, kwargs["learning_rate_fn"])
    if encoder_schedule is None:
        return step_fn

    def step_with_encoder_rate(state, batch):
        """`step_fn`, also logging the encoder's own rate as "learning_rate_encoder"."""
        step = state.step
        state, step_metrics = step_fn(state, batch)
        return state, {**step_metrics, "learning_rate_encoder": encoder_schedule(step)}

    return step_with_encoder_rate
