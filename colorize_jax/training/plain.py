"""The plain training scheme: the generator alone, one optimizer step on its objective."""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import optax

from colorize_jax.components.builder import Components
from colorize_jax.objectives import losses, step_inputs
from colorize_jax.training.state import TrainState

NETWORKS = ("generator",)


def train_step(
    state: TrainState, batch: Mapping[str, jax.Array], *, components: Components
) -> tuple[TrainState, dict[str, jax.Array]]:
    """One optimizer step of the generator on `components.objective` (`losses.generator_loss`).

    The network sees the (optionally noisy) lightness; the loss terms get the clean inputs and
    the targets with their chroma gain (`step_inputs.prepare`). Metrics: "loss", "loss_<term>"
    for every active term unweighted, "grad_norm", the learning rates and "num_skipped".
    """
    generator = state.generator
    settings = components.step
    clean_inputs, inputs, targets, dropout_rng = step_inputs.prepare(
        batch,
        state.step,
        space=components.head.space,
        seed=settings.seed,
        input_noise_std=settings.input_noise_std,
        target_chroma_gain=settings.target_chroma_gain,
    )

    def loss_fn(params):
        variables = {**generator.variables, "params": params}
        outputs, updates = generator.apply_fn(
            variables,
            inputs,
            train=True,
            mutable=["batch_stats"],
            rngs={"dropout": dropout_rng},
        )
        total, terms = losses.generator_loss(
            components.objective, components.head, outputs, targets, inputs=clean_inputs
        )
        return total, (terms, updates.get("batch_stats", {}))

    (total, (terms, batch_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        generator.params
    )
    new_generator = generator.apply_gradients(grads, batch_stats=batch_stats)
    new_state = state.replace_network("generator", new_generator).replace(step=state.step + 1)
    step_metrics = {
        "loss": total,
        **{f"loss_{name}": value for name, value in terms.items()},
        "grad_norm": optax.tree.norm(grads),
        **learning_rates(components, state.step),
        "num_skipped": jnp.sum(batch["num_skipped"]),
    }
    return new_state, step_metrics


def learning_rates(components: Components, step: jax.Array) -> dict[str, jax.Array]:
    """The learning rate of every network's optimizer at optimizer step `step`.

    "learning_rate" is the generator's, "learning_rate_<network>" another network's, and
    "learning_rate_encoder" (or "learning_rate_<network>_encoder") an encoder's own rate.
    """
    rates = {}
    for name, network in components.networks.items():
        key = "learning_rate" if name == "generator" else f"learning_rate_{name}"
        rates[key] = network.learning_rate_fn(step)
        if network.encoder_learning_rate_fn is not None:
            encoder_key = "learning_rate_encoder" if name == "generator" else f"{key}_encoder"
            rates[encoder_key] = network.encoder_learning_rate_fn(step)
    return rates
