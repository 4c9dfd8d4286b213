"""The adversarial (pix2pix) scheme: a discriminator beside the generator, one jitted step for both.

A config selects it with `config.scheme = "adversarial"`, `config.discriminator` (its model,
e.g. a PatchGAN, and its optimizer section) and one adversarial term in `config.losses` (kind
"adversarial" in `objectives.terms`). Each step generates one batch of colourings, updates the
discriminator on them (detached) and on the ground truth, then updates the generator on its
objective (`losses.generator_loss`, the adversarial term against the just-updated
discriminator), as pix2pix does. The discriminator sees the lightness with the colour the head
decodes, so any head trains adversarially (a classification head through its annealed mean).

`config.gan` holds DeOldify's "NoGAN" warm-up, decided on the step counter inside the compiled
step: the first `pretrain_generator_steps` steps train the generator alone without the
adversarial term, the next `pretrain_discriminator_steps` train the discriminator alone, and both
train from then on. A network that sits out a step keeps its parameters, statistics and optimizer
state exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import optax

from colorize_jax.components.builder import Components
from colorize_jax.objectives import gan_losses, losses, step_inputs
from colorize_jax.objectives.terms import TERMS
from colorize_jax.training.plain import learning_rates
from colorize_jax.training.state import TrainState

NETWORKS = ("generator", "discriminator")


def _select(condition: jax.Array, new: Any, old: Any) -> Any:
    """`new` where `condition` holds, else `old`, leaf by leaf (a masked update)."""
    return jax.tree_util.tree_map(lambda a, b: jnp.where(condition, a, b), new, old)


def train_step(
    state: TrainState, batch: Mapping[str, jax.Array], *, components: Components
) -> tuple[TrainState, dict[str, jax.Array]]:
    """One discriminator update, then one generator update (each subject to the NoGAN phase).

    Metrics: "loss" (the generator's objective, the adversarial term left out in the generator
    warm-up), "loss_<term>" for every active term unweighted (the adversarial one is the
    generator's side), "loss_discriminator", "d_real" and "d_fake" (mean raw discriminator
    outputs, before its update, on the ground truth and on the generated batch: logits for
    gan_vanilla and gan_hinge, scores for gan_lsgan), "d_accuracy" (share of patches it
    classifies right), the gradient norms and learning rates of both networks, and "gan_phase"
    (1: generator warm-up, 2: discriminator warm-up, 3: both). The discriminator takes as real
    the targets with their chroma gain, which the other terms fit too.
    """
    objective, head, settings = components.objective, components.head, components.step
    gan_name = objective.adversarial
    gan_loss = TERMS[gan_name].gan
    generator, discriminator = state.generator, state.networks["discriminator"]

    # As in plain.train_step, so that the generator warm-up trains exactly like regression.
    inputs, generator_inputs, targets, dropout_rng = step_inputs.prepare(
        batch,
        state.step,
        space=head.space,
        seed=settings.seed,
        input_noise_std=settings.input_noise_std,
        target_chroma_gain=settings.target_chroma_gain,
    )

    generator_warmup = state.step < settings.pretrain_generator_steps
    discriminator_warmup = ~generator_warmup & (
        state.step < settings.pretrain_generator_steps + settings.pretrain_discriminator_steps
    )
    weights = {
        **objective.weights,
        gan_name: jnp.where(generator_warmup, 0.0, objective.weights[gan_name]),
    }

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
    outputs, generator_vjp, generator_stats = jax.vjp(generate, generator.params, has_aux=True)
    fake = head.loss_prediction(outputs)

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

    def generator_objective(outputs):
        # The discriminator's statistics updates from this pass are dropped: the generator's
        # update leaves every part of the discriminator as its own update left it.
        return losses.generator_loss(
            objective,
            head,
            outputs,
            targets,
            inputs=inputs,
            discriminate=lambda colours: discriminate(new_discriminator.variables, colours)[0],
            weights=weights,
        )

    (g_loss, terms), d_outputs = jax.value_and_grad(generator_objective, has_aux=True)(outputs)
    (g_grads,) = generator_vjp(d_outputs)
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
        "loss_discriminator": d_loss,
        "d_real": jnp.mean(real_logits),
        "d_fake": jnp.mean(fake_logits),
        "d_accuracy": gan_losses.accuracy(real_logits, fake_logits, gan_loss.threshold),
        "grad_norm": optax.tree.norm(g_grads),
        "grad_norm_discriminator": optax.tree.norm(d_grads),
        **learning_rates(components, state.step - 1),
        "gan_phase": phase.astype(jnp.float32),
        "num_skipped": jnp.sum(batch["num_skipped"]),
    }
    return state, step_metrics
