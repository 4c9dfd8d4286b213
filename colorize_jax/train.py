"""Training loop: a jitted, data-parallel train step, periodic evaluation and checkpoints.

`train_step` is a pure function of (state, batch); `train_and_evaluate` holds every side effect:
the input pipeline, checkpoint restore and save, logging, evaluation.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import logging
from etils import epath

from colorize_jax import (
    checkpointing,
    data,
    evaluation,
    gan,
    heads,
    losses,
    models,
    preemption,
    run_config,
    sharding,
    step_inputs,
)
from colorize_jax.reporting import Reporter
from colorize_jax.train_state import NetworkState, TrainState, count_params


def create_learning_rate_fn(config: ml_collections.ConfigDict) -> optax.Schedule:
    """Linear warmup to `learning_rate`, then cosine decay to zero at `num_train_steps`."""
    warmup = min(config.warmup_steps, max(config.num_train_steps - 1, 0))
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=config.learning_rate,
        warmup_steps=warmup,
        decay_steps=max(config.num_train_steps, warmup + 1),
        end_value=config.learning_rate * config.get("final_learning_rate_fraction", 0.0),
    )


def create_encoder_learning_rate_fn(
    config: ml_collections.ConfigDict, learning_rate_fn: optax.Schedule
) -> optax.Schedule | None:
    """The schedule of the network's "encoder" parameters, or None when they share the rest's.

    `learning_rate_fn` times `config.encoder_lr_multiplier`, and 0 for the first
    `config.freeze_encoder_steps` optimizer steps; None when the fields are at their defaults
    (multiplier 1, no frozen steps). Raises ValueError for a negative multiplier or step count.
    """
    multiplier = float(config.get("encoder_lr_multiplier", 1.0))
    frozen_steps = int(config.get("freeze_encoder_steps", 0))
    if multiplier < 0:
        raise ValueError(f"config.encoder_lr_multiplier must be >= 0, got {multiplier}")
    if frozen_steps < 0:
        raise ValueError(f"config.freeze_encoder_steps must be >= 0, got {frozen_steps}")
    if multiplier == 1.0 and frozen_steps == 0:
        return None

    def encoder_learning_rate(step):
        return jnp.where(step < frozen_steps, 0.0, multiplier * learning_rate_fn(step))

    return encoder_learning_rate


def create_optimizer(
    config: ml_collections.ConfigDict, learning_rate_fn: optax.Schedule
) -> optax.GradientTransformation:
    """AdamW on the schedule, with optional global-norm gradient clipping.

    `config.encoder_lr_multiplier` != 1 or `config.freeze_encoder_steps` > 0 give the
    parameters under the network's top-level "encoder" module (a pretrained encoder's) their
    own AdamW (`optax.multi_transform`) on `create_encoder_learning_rate_fn`'s schedule: the
    learning rate times the multiplier, and 0 for the first `freeze_encoder_steps` steps.
    AdamW's update, weight decay included, scales with the rate, so a frozen encoder's
    parameters stay bit-identical; its Adam moments (and step count) still advance on its
    gradients during those steps. Clipping, when on, stays global over all parameters (applied
    before the split). The optimizer's `init`/`update` raise ValueError when the params have no
    top-level "encoder". With the fields at their defaults the optimizer is plain AdamW, the
    state layout of runs without these fields.
    """
    adamw = functools.partial(
        optax.adamw, b1=config.adam_b1, b2=config.adam_b2, weight_decay=config.weight_decay
    )
    encoder_learning_rate_fn = create_encoder_learning_rate_fn(config, learning_rate_fn)
    if encoder_learning_rate_fn is None:
        tx = adamw(learning_rate_fn)
    else:
        model = config.get("model") or {}
        tx = optax.multi_transform(
            {"encoder": adamw(encoder_learning_rate_fn), "other": adamw(learning_rate_fn)},
            functools.partial(
                encoder_labels, fields=_encoder_fields(config), model_name=model.get("name")
            ),
        )
    if config.get("grad_clip_norm"):
        return optax.chain(optax.clip_by_global_norm(config.grad_clip_norm), tx)
    return tx


def _encoder_fields(config: ml_collections.ConfigDict) -> str:
    """The encoder's optimizer fields `config` sets away from their defaults, for messages."""
    fields = []
    if float(config.get("encoder_lr_multiplier", 1.0)) != 1.0:
        fields.append(f"config.encoder_lr_multiplier={config.encoder_lr_multiplier}")
    if int(config.get("freeze_encoder_steps", 0)):
        fields.append(f"config.freeze_encoder_steps={config.freeze_encoder_steps}")
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


def make_init_fn(config: ml_collections.ConfigDict, model) -> Callable[[jax.Array], TrainState]:
    """The pure function rng -> initial TrainState (each network with its optimizer)."""
    size = config.data.image_size
    tx = create_optimizer(config, create_learning_rate_fn(config))
    if gan.enabled(config):
        d_config = gan.discriminator_optimizer_config(config)
        d_tx = create_optimizer(d_config, create_learning_rate_fn(d_config))
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
        "learning_rate_fn": create_learning_rate_fn(config),
        "seed": config.seed,
        "input_noise_std": config.data.get("input_noise_std", 0.0),
        "loss_options": losses.term_options(config),
    }
    if not gan.enabled(config):
        step_fn = functools.partial(train_step, **kwargs, head=heads.create(config))
    else:
        d_schedule = create_learning_rate_fn(gan.discriminator_optimizer_config(config))
        step_fn = functools.partial(
            gan.gan_train_step,
            **kwargs,
            discriminator_learning_rate_fn=d_schedule,
            **gan.schedule(config),
        )
    encoder_schedule = create_encoder_learning_rate_fn(config, kwargs["learning_rate_fn"])
    if encoder_schedule is None:
        return step_fn

    def step_with_encoder_rate(state, batch):
        """`step_fn`, also logging the encoder's own rate as "learning_rate_encoder"."""
        step = state.step
        state, step_metrics = step_fn(state, batch)
        return state, {**step_metrics, "learning_rate_encoder": encoder_schedule(step)}

    return step_with_encoder_rate


def train_and_evaluate(
    config: ml_collections.ConfigDict,
    workdir: str,
    *,
    stop_after_steps: int | None = None,
    allow_config_change: bool = False,
) -> dict[str, float]:
    """Trains `config`'s model in `workdir`, resuming from its latest checkpoint if any.

    `stop_after_steps` ends this invocation early (with a checkpoint) after that many steps, e.g.
    to fit a job's time limit; the learning-rate schedule still follows `num_train_steps`.
    SIGTERM does the same at the next step boundary (see `preemption`). A checkpoint of a
    structurally different config is refused unless `allow_config_change` (see `run_config`).
    A non-finite loss, gradient or state stops the run before anything is saved.
    Returns the last evaluation's metrics (also written to `workdir/eval/metrics.json`); empty
    when this invocation stopped early without evaluating.
    """
    losses.validate(config.losses)
    gan.validate_config(config)
    head = heads.create(config)
    epath.Path(workdir).mkdir(parents=True, exist_ok=True)
    manager = checkpointing.create_manager(workdir, best_metric=config.best_metric)
    start_step = manager.latest_step() or 0
    if start_step:
        try:
            changed = run_config.check_resume(
                config, workdir, start_step, allow_change=allow_config_change
            )
        except run_config.ConfigChangedError:
            manager.close()
            raise
        if changed:
            logging.warning("resuming with a changed model config: %s", "; ".join(changed))
    run_config.save(config, workdir)

    mesh = sharding.create_mesh()
    model = models.create_model(config.model, head.num_outputs)
    state = create_train_state(config, model, jax.random.key(config.seed), mesh)
    logging.info(
        "model %s: %s parameters; %d devices over %d processes; global batch %d",
        config.model.name,
        f"{count_params(state.generator.params):,}",
        mesh.size,
        jax.process_count(),
        sharding.global_batch_size(config.per_device_batch_size, mesh),
    )
    process = {"process_index": jax.process_index(), "process_count": jax.process_count()}
    train_iter = data.create_train_iterator(
        config,
        batch_size=sharding.process_batch_size(config.per_device_batch_size, mesh),
        **process,
    )
    eval_dataset = evaluation.create_dataset(config, mesh)

    if start_step:
        logging.info("resuming from the checkpoint at step %d in %s", start_step, workdir)
        state = checkpointing.restore(
            manager, start_step, checkpointing.abstract_like(state), train_iter
        )
    end_step = config.num_train_steps
    if stop_after_steps is not None:
        end_step = min(end_step, start_step + stop_after_steps)

    step_fn = jax.jit(
        make_step_fn(config),
        in_shardings=(sharding.replicated(mesh), sharding.batch_sharded(mesh)),
        out_shardings=(sharding.replicated(mesh), sharding.replicated(mesh)),
        donate_argnums=0,
    )
    reporter = Reporter(
        workdir,
        total_steps=config.num_train_steps,
        enabled=jax.process_index() == 0,
        resume_step=start_step,
    )
    num_params = {"num_params": count_params(state.generator.params)}
    if "discriminator" in state.networks:
        num_params["num_params_discriminator"] = count_params(
            state.networks["discriminator"].params
        )
    reporter.scalars(start_step, num_params, "model/")
    run_eval = functools.partial(
        _evaluate_and_report, eval_dataset, mesh, config, workdir, reporter
    )
    examples_per_step = sharding.global_batch_size(config.per_device_batch_size, mesh)
    pending: list[dict[str, jax.Array]] = []
    results: dict[str, float] = {}
    skipped_files = 0
    preempted_at = None
    with preemption.PreemptionWatch() as watch:
        try:
            for step in range(start_step + 1, end_step + 1):
                batch = sharding.to_global_arrays(next(train_iter), mesh)
                state, step_metrics = step_fn(state, batch)
                pending.append(step_metrics)
                if step == start_step + 1:
                    reporter.start(step)  # throughput figures exclude compilation
                if watch.should_stop(step):
                    preempted_at = step
                is_last = step == end_step or preempted_at is not None
                do_eval = preempted_at is None and (
                    step % config.eval_every_steps == 0 or step == config.num_train_steps
                )
                do_save = do_eval or is_last or step % config.checkpoint_every_steps == 0
                if step % config.log_every_steps == 0 or do_save:
                    # Checked before every save, so a non-finite state never reaches a checkpoint.
                    summary, skipped = _summarize(pending, step)
                    skipped_files += skipped
                    pending = []
                    shown = {k: v for k, v in summary.items() if k.startswith("loss")}
                    timing = reporter.progress(step, shown, examples_per_step=examples_per_step)
                    reporter.scalars(
                        step, {**summary, **timing, "skipped_files": skipped_files}, "train/"
                    )
                if do_eval:
                    results = run_eval(state, step)
                    reporter.start(step)  # evaluation time is not training time
                if do_save:
                    _check_finite_state(state, step)
                    checkpointing.save(
                        manager, step, state, train_iter, metrics=results if do_eval else None
                    )
                if preempted_at is not None:
                    break
        finally:
            manager.wait_until_finished()
            manager.close()
            if hasattr(train_iter, "close"):
                train_iter.close()  # stops grain's worker processes
    if preempted_at is not None:
        logging.warning(
            "preempted: saved the checkpoint at step %d; run the same command to resume",
            preempted_at,
        )
        reporter.close()
        return results
    if not results and end_step == config.num_train_steps:
        results = run_eval(state, int(state.step))  # nothing left to train: evaluate what is here
    reporter.close()
    return results


def _evaluate_and_report(eval_dataset, mesh, config, workdir, reporter, state, step):
    results, sheet = evaluation.evaluate_and_write(
        state.generator, eval_dataset, mesh, config, workdir, step=step
    )
    reporter.scalars(step, results, "eval/")
    if sheet is not None:
        reporter.image(step, "eval/gray_prediction_truth", sheet)
    reporter.flush()
    return results


def _summarize(pending: list[dict[str, jax.Array]], step: int) -> tuple[dict[str, float], int]:
    """Means of the pending step metrics (of the steps up to `step`) and the skipped-file count.

    Raises FloatingPointError naming the first step whose loss or gradient norm is not finite.
    """
    fetched = jax.device_get(pending)
    first = step - len(fetched) + 1
    for offset, metrics in enumerate(fetched):
        bad = [
            name
            for name, value in metrics.items()
            if name.startswith(("loss", "grad_norm")) and not np.all(np.isfinite(value))
        ]
        if bad:
            raise FloatingPointError(
                f"non-finite {' and '.join(bad)} at step {first + offset} (found by step "
                f"{step}); stopped without saving, the last checkpoint is kept unchanged. "
                "Lower config.learning_rate or set config.grad_clip_norm."
            )
    skipped = int(sum(m["num_skipped"] for m in fetched))
    summary = {
        key: float(np.mean([m[key] for m in fetched])) for key in fetched[0] if key != "num_skipped"
    }
    return summary, skipped


@jax.jit
def _all_finite(state: TrainState) -> jax.Array:
    leaves = [
        jnp.all(jnp.isfinite(leaf))
        for leaf in jax.tree_util.tree_leaves(state)
        if jnp.issubdtype(leaf.dtype, jnp.inexact)
    ]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def _check_finite_state(state: TrainState, step: int) -> None:
    """Raises FloatingPointError if any parameter, statistic or optimizer value is not finite."""
    if not bool(_all_finite(state)):
        raise FloatingPointError(
            f"non-finite values in the train state at step {step} (parameters, batch statistics "
            "or optimizer state); stopped without saving, the last checkpoint is kept unchanged. "
            "Lower config.learning_rate or set config.grad_clip_norm."
        )
