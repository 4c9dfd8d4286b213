"""An optimizer and its learning-rate schedules from one optimizer section (`config.optimizer`,
`config.discriminator.optimizer`: `presets.optimizer_settings`): AdamW with warm-up and cosine
decay, optional gradient clipping, and a pretrained encoder's own rate and freeze (optax
multi_transform over "encoder" / "other" labels). Every function takes a complete section
(`defaults.complete`)."""

from __future__ import annotations

import functools
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import ml_collections
import optax


def create_learning_rate_fn(
    settings: ml_collections.ConfigDict, num_train_steps: int
) -> optax.Schedule:
    """Linear warmup to `learning_rate`, then cosine decay to the final fraction at
    `num_train_steps`."""
    warmup = min(settings.warmup_steps, max(num_train_steps - 1, 0))
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=settings.learning_rate,
        warmup_steps=warmup,
        decay_steps=max(num_train_steps, warmup + 1),
        end_value=settings.learning_rate * settings.final_learning_rate_fraction,
    )


def create_encoder_learning_rate_fn(
    settings: ml_collections.ConfigDict, learning_rate_fn: optax.Schedule
) -> optax.Schedule | None:
    """The schedule of the network's "encoder" parameters, or None when they share the rest's.

    `learning_rate_fn` times `settings.encoder_lr_multiplier`, and 0 for the first
    `settings.freeze_encoder_steps` optimizer steps; None when the fields are at their defaults
    (multiplier 1, no frozen steps). Raises ValueError for a negative multiplier or step count.
    """
    multiplier = float(settings.encoder_lr_multiplier)
    frozen_steps = int(settings.freeze_encoder_steps)
    if multiplier < 0:
        raise ValueError(f"config.optimizer.encoder_lr_multiplier must be >= 0, got {multiplier}")
    if frozen_steps < 0:
        raise ValueError(f"config.optimizer.freeze_encoder_steps must be >= 0, got {frozen_steps}")
    if multiplier == 1.0 and frozen_steps == 0:
        return None

    def encoder_learning_rate(step):
        return jnp.where(step < frozen_steps, 0.0, multiplier * learning_rate_fn(step))

    return encoder_learning_rate


def create_optimizer(
    settings: ml_collections.ConfigDict,
    learning_rate_fn: optax.Schedule,
    *,
    model_name: str | None = None,
    frozen_encoder: bool = False,
) -> optax.GradientTransformation:
    """AdamW on the schedule, with optional global-norm gradient clipping.

    `settings.encoder_lr_multiplier` != 1 or `settings.freeze_encoder_steps` > 0 give the
    parameters under the network's top-level "encoder" module (a pretrained encoder's) their
    own AdamW (`optax.multi_transform`) on `create_encoder_learning_rate_fn`'s schedule: the
    learning rate times the multiplier, and 0 for the first `freeze_encoder_steps` steps.
    AdamW's update, weight decay included, scales with the rate, so a frozen encoder's
    parameters stay bit-identical; its Adam moments (and step count) still advance on its
    gradients during those steps. Clipping, when on, stays global over all parameters (applied
    before the split). The optimizer's `init`/`update` raise ValueError when the params have no
    top-level "encoder" (`model_name` names the model in that message). With the fields at
    their defaults the optimizer is plain AdamW, the state layout of runs without these fields.
    `frozen_encoder` (a model whose encoder receives no gradient, `model.frozen_encoder`)
    leaves the encoder's parameters untouched (`optax.set_to_zero`: no moments, no weight
    decay) whatever the encoder fields say.
    """
    adamw = functools.partial(
        optax.adamw, b1=settings.adam_b1, b2=settings.adam_b2, weight_decay=settings.weight_decay
    )
    encoder_learning_rate_fn = create_encoder_learning_rate_fn(settings, learning_rate_fn)
    if frozen_encoder:
        tx = optax.multi_transform(
            {"encoder": optax.set_to_zero(), "other": adamw(learning_rate_fn)},
            functools.partial(
                encoder_labels, fields="config.model.frozen_encoder", model_name=model_name
            ),
        )
    elif encoder_learning_rate_fn is None:
        tx = adamw(learning_rate_fn)
    else:
        tx = optax.multi_transform(
            {"encoder": adamw(encoder_learning_rate_fn), "other": adamw(learning_rate_fn)},
            functools.partial(
                encoder_labels, fields=_encoder_fields(settings), model_name=model_name
            ),
        )
    if settings.grad_clip_norm:
        return optax.chain(optax.clip_by_global_norm(settings.grad_clip_norm), tx)
    return tx


def _encoder_fields(settings: ml_collections.ConfigDict) -> str:
    """The encoder's optimizer fields `settings` sets away from their defaults, for messages."""
    fields = []
    if float(settings.encoder_lr_multiplier) != 1.0:
        fields.append(f"config.optimizer.encoder_lr_multiplier={settings.encoder_lr_multiplier}")
    if int(settings.freeze_encoder_steps):
        fields.append(f"config.optimizer.freeze_encoder_steps={settings.freeze_encoder_steps}")
    return " and ".join(fields)


def encoder_labels(
    params: Mapping, *, fields: str = "the encoder's fields", model_name: str | None = None
) -> dict:
    """ "encoder" for the leaves under the top-level "encoder" module, "other" for the rest.

    Raises ValueError naming `fields` (what asked for the split) and `model_name` when `params`
    has no top-level "encoder".
    """
    if "encoder" not in params:
        model = f"model {model_name!r}" if model_name else "this model"
        raise ValueError(
            f"{fields} needs a model with a top-level 'encoder' module (resnet_unet, "
            f"effnet_unet); {model} has none (its top-level modules: {', '.join(sorted(params))})"
        )
    return {
        name: jax.tree_util.tree_map(
            lambda _, n=name: "encoder" if n == "encoder" else "other", tree
        )
        for name, tree in params.items()
    }
