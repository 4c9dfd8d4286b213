"""Adversarial (pix2pix) training: a discriminator beside the generator, one jitted step for both.

A config turns this on with `config.discriminator` (its model, e.g. a PatchGAN, and its optimizer
fields) and one adversarial term in `config.losses` (see `adversarial.GAN_LOSSES`). Each step of
`gan_train_step` generates one batch of colourings, updates the discriminator on them (detached)
and on the ground truth, then updates the generator on its regression terms plus the weighted
adversarial term against the just-updated discriminator, as pix2pix does.

`config.gan` holds DeOldify's "NoGAN" warm-up, decided on the step counter inside the compiled
step: the first `pretrain_generator_steps` steps train the generator alone without the
adversarial term, the next `pretrain_discriminator_steps` train the discriminator alone, and both
train from then on. A network that sits out a step keeps its parameters, statistics and optimizer
state exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax

from colorize_jax import models
from colorize_jax.colour import colorspace
from colorize_jax.objectives import adversarial, losses, step_inputs
from colorize_jax.training.state import NetworkState, TrainState

# Fields `optimizer.create_learning_rate_fn` and `create_optimizer` read; the discriminator
# takes each from `config.discriminator` when set there, else from the top level (the generator).
OPTIMIZER_FIELDS = (
    "learning_rate",
    "warmup_steps",
    "num_train_steps",
    "final_learning_rate_fraction",
    "adam_b1",
    "adam_b2",
    "weight_decay",
    "grad_clip_norm",
)


def enabled(config: ml_collections.ConfigDict) -> bool:
    """Whether `config` trains adversarially (it has a `discriminator`)."""
    return bool(config.get("discriminator"))


def validate_config(config: ml_collections.ConfigDict) -> None:
    """Raises ValueError unless a discriminator and exactly one adversarial term go together."""
    _, gan_term = adversarial.split_weights(config.losses)
    if enabled(config) and gan_term is None:
        raise ValueError(
            "config.discriminator is set but config.losses gives no adversarial term a non-zero "
            f"weight; use one of {', '.join(sorted(adversarial.GAN_LOSSES))}"
        )
    if not enabled(config) and gan_term is not None:
        raise ValueError(
            f"loss term {gan_term[0]!r} needs a discriminator: set config.discriminator "
            "(see configs/pix2pix_lab.py)"
        )


def discriminator_optimizer_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """The optimizer and schedule fields of the discriminator, as a config of their own."""
    own = config.discriminator
    return ml_collections.ConfigDict(
        {
            name: own.get(name, config.get(name))
            for name in OPTIMIZER_FIELDS
            if name in own or name in config
        }
    )


def create_discriminator(config: ml_collections.ConfigDict):
    """The discriminator network of `config.discriminator.model`, one logit channel out."""
    return models.create_model(config.discriminator.model, 1)


def discriminator_channels(space: str) -> int:
    """Input channels of a conditional discriminator: the lightness plus the colour target."""
    return 1 + colorspace.target_channels(space)


def make_init_fn(
    config: ml_collections.ConfigDict, tx: optax.GradientTransformation
) -> Callable[[jax.Array], NetworkState]:
    """The pure function rng -> the discriminator's initial NetworkState (with optimizer `tx`)."""
    model = create_discriminator(config)
    size = config.data.image_size
    channels = discriminator_channels(config.data.color_space)

    def init(rng: jax.Array) -> NetworkState:
        dummy = jnp.zeros((1, size, size, channels), jnp.float32)
        variables = model.init({"params": rng}, dummy, train=False)
        return NetworkState.create(apply_fn=model.apply, variables=variables, tx=tx)

    return init


def schedule(config: ml_collections.ConfigDict) -> dict[str, int | float]:
    """`gan_train_step`'s kwargs of `config` beyond the regression step's: the NoGAN warm-up
    lengths of `config.gan` (zeros when absent) and `config.data.target_chroma_gain` (1)."""
    gan = config.get("gan") or {}
    return {
        "pretrain_generator_steps": int(gan.get("pretrain_generator_steps", 0)),
        "pretrain_discriminator_steps": int(gan.get("pretrain_discriminator_steps", 0)),
        "target_chroma_gain": float(config.data.get("target_chroma_gain", 1.0)),
    }


def _select(condition: jax.Array, new: Any, old: Any) -> Any:
    """`new` where `condition` holds, else `old`, leaf by leaf (a masked update)."""
    return jax.tree_util.tree_map(lambda a, b: jnp.where(condition, a, b), new, old)


def gan_train_step(
    state: TrainState,
    batch: Mapping[str, jax.Array],
    *,
    space: str,
    loss_weights: Mapping[str, float],
    learning_rate_fn: optax.Schedule,
    discriminator_learning_rate_fn: optax.Schedule,
    seed: int,
    input_noise_std: float = 0.0,
    pretrain_generator_steps: int = 0,
    pretrain_discriminator_steps: int = 0,
    target_chroma_gain: float = 1.0,
    loss_options: Mapping[str, Mapping] | None = None,
) -> tuple[TrainState, dict[str, jax.Array]]:
    """One discriminator update, then one generator update (each subject to the NoGAN phase).

    Metrics: "loss" (the generator's objective: weighted regression terms plus the weighted
    adversarial term, the latter left out in the generator warm-up), "loss_<term>" for every
    active term unweighted (the adversarial one is the generator's side), "loss_discriminator",
    "d_real" and "d_fake" (mean raw discriminator outputs, before its update, on the ground truth
    and on the generated batch: logits for gan_vanilla and gan_hinge, scores for gan_lsgan),
    "d_accuracy" (share of patches it classifies right), the gradient norms and learning rates
    of both networks, and "gan_phase" (1: generator warm-up, 2: discriminator warm-up, 3: both).
    `target_chroma_gain` multiplies the targets' chroma (see `step_inputs.prepare`): the
    regression terms fit, and the discriminator takes as real, the boosted colours. The
    regression terms also get the clean inputs and `loss_options` (see `steps.train_step`).
    """
    regression_weights, gan_term = adversarial.split_weights(loss_weights)
    if gan_term is None:
        raise ValueError("gan_train_step needs an adversarial term with a non-zero weight")
    gan_name, gan_weight = gan_term
    gan_loss = adversarial.GAN_LOSSES[gan_name]
    generator, discriminator = state.generator, state.networks["discriminator"]

    # As in steps.train_step, so that the generator warm-up trains exactly like regression.
    inputs, generator_inputs, targets, dropout_rng = step_inputs.prepare(
        batch,
        state.step,
        space=space,
        seed=seed,
        input_noise_std=input_noise_std,
        target_chroma_gain=target_chroma_gain,
    )

    generator_warmup = state.step < pretrain_generator_steps
    discriminator_warmup = ~generator_warmup & (
        state.step < pretrain_generator_steps + pretrain_discriminator_steps
    )
    adversarial_weight = jnp.where(generator_warmup, 0.0, gan_weight)

    def generate(params):
        predictions, updates = generator.apply_fn(
            {**generator.variables, "params": params},
            generator_inputs,
            train=True,
            mutable=["batch_stats"],
            rngs={"dropout": dropout_rng},
        )
        return predictions.astype(jnp.float32), updates.get("batch_stats", {})

    # One generator forward pass serves both updates; its pullback is applied at the end.
    fake, generator_vjp, generator_stats = jax.vjp(generate, generator.params, has_aux=True)

    def discriminate(variables, colours):
        pairs = jnp.concatenate([inputs, colours], axis=-1)
        return discriminator.apply_fn(variables, pairs, train=True, mutable=["batch_stats"])

    def discriminator_loss(params):
        # `fake` is a plain value here: no gradient flows back into the generator.
        variables = {**discriminator.variables, "params": params}
        real_logits, updates = discriminate(variables, targets)
        fake_logits, updates = discriminate({**variables, **updates}, fake)
        loss = gan_loss.discriminator(real_logits, fake_logits)
        return loss, (real_logits, fake_logits, updates.get("batch_stats", {}))

    (d_loss, (real_logits, fake_logits, d_stats)), d_grads = jax.value_and_grad(
        discriminator_loss, has_aux=True
    )(discriminator.params)
    new_discriminator = _select(
        ~generator_warmup,
        discriminator.apply_gradients(d_grads, batch_stats=d_stats),
        discriminator,
    )

    def generator_objective(predictions):
        total, terms = losses.weighted_sum(
            regression_weights,
            predictions,
            targets,
            space=space,
            inputs=inputs,
            options=loss_options,
        )
        # The discriminator's statistics updates from this pass are dropped: the generator's
        # update leaves every part of the discriminator as its own update left it.
        logits, _ = discriminate(new_discriminator.variables, predictions)
        adversarial_loss = gan_loss.generator(logits)
        return total + adversarial_weight * adversarial_loss, (terms, adversarial_loss)

    (g_loss, (terms, g_adversarial)), d_predictions = jax.value_and_grad(
        generator_objective, has_aux=True
    )(fake)
    (g_grads,) = generator_vjp(d_predictions)
    new_generator = _select(
        ~discriminator_warmup,
        generator.apply_gradients(g_grads, batch_stats=generator_stats),
        generator,
    )

    state = state.replace(
        step=state.step + 1,
        networks={**state.networks, "generator": new_generator, "discriminator": new_discriminator},
    )
    phase = jnp.where(generator_warmup, 1, jnp.where(discriminator_warmup, 2, 3))
    step_metrics = {
        "loss": g_loss,
        **{f"loss_{name}": value for name, value in terms.items()},
        f"loss_{gan_name}": g_adversarial,
        "loss_discriminator": d_loss,
        "d_real": jnp.mean(real_logits),
        "d_fake": jnp.mean(fake_logits),
        "d_accuracy": adversarial.accuracy(real_logits, fake_logits, gan_loss.threshold),
        "grad_norm": optax.tree.norm(g_grads),
        "grad_norm_discriminator": optax.tree.norm(d_grads),
        "learning_rate": learning_rate_fn(state.step - 1),
        "learning_rate_discriminator": discriminator_learning_rate_fn(state.step - 1),
        "gan_phase": phase.astype(jnp.float32),
        "num_skipped": jnp.sum(batch["num_skipped"]),
    }
    return state, step_metrics
