"""Training loop: a jitted, data-parallel train step, periodic evaluation and checkpoints.

`train_and_evaluate` is where a training config enters: it completes it once
(`components.defaults.complete`), builds the model side from it (`components.builder.build`:
networks, optimizers, head, objective) and reads the run's schedule fields itself (steps,
logging, evaluation and checkpoint intervals, batch sizes, evaluators), as flax's examples do.
The scheme's step (`schemes.make_step_fn`) is a pure function of (state, batch);
`train_and_evaluate` holds every side effect: the input pipeline, checkpoint restore and save,
logging, evaluation.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from etils import epath

from colorize_jax import data
from colorize_jax.components import builder, defaults
from colorize_jax.evaluation import validation
from colorize_jax.runtime import checkpointing, preemption, sharding
from colorize_jax.runtime.reporting import Reporter
from colorize_jax.training import run_config, schemes
from colorize_jax.training.state import TrainState, count_params


def train_and_evaluate(
    config: ml_collections.ConfigDict,
    workdir: str,
    *,
    stop_after_steps: int | None = None,
    allow_config_change: bool = False,
) -> dict[str, float]:
    """Trains `config`'s model in `workdir`, resuming from its latest checkpoint if any.

    `config` may leave fields out (a config file's): they take `presets`' defaults here.
    `stop_after_steps` ends this invocation early (with a checkpoint) after that many steps, e.g.
    to fit a job's time limit; the learning-rate schedule still follows `num_train_steps`.
    SIGTERM does the same at the next step boundary (see `preemption`). A checkpoint of a
    structurally different config is refused unless `allow_config_change` (see `run_config`).
    A non-finite loss, gradient or state stops the run before anything is saved.
    Returns the last evaluation's metrics (also written to `workdir/eval/metrics.json`); empty
    when this invocation stopped early without evaluating.
    """
    config = defaults.complete(config)
    components = builder.build(config)
    schemes.get(components)  # an unknown scheme or a missing network fails before any I/O
    epath.Path(workdir).mkdir(parents=True, exist_ok=True)
    manager = checkpointing.create_manager(
        workdir,
        best_metric=config.best_metric,
        save_interval_steps=config.checkpoint_every_steps,
    )
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
    state = schemes.create_train_state(components, jax.random.key(config.seed), mesh)
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
    eval_dataset = validation.create_dataset(config, mesh)

    if start_step:
        logging.info("resuming from the checkpoint at step %d in %s", start_step, workdir)
        state = checkpointing.restore(
            manager, start_step, checkpointing.abstract_like(state), train_iter
        )
    end_step = config.num_train_steps
    if stop_after_steps is not None:
        end_step = min(end_step, start_step + stop_after_steps)

    step_fn = jax.jit(
        schemes.make_step_fn(components),
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
    num_params = {
        "num_params" if name == "generator" else f"num_params_{name}": count_params(net.params)
        for name, net in state.networks.items()
    }
    reporter.scalars(start_step, num_params, "model/")
    run_eval = functools.partial(
        _evaluate_and_report,
        eval_dataset,
        mesh,
        components.head,
        workdir,
        reporter,
        evaluators=tuple(config.evaluators),
        num_sheet_images=config.num_sheet_images,
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
                if len(pending) >= 2:
                    # At most two steps in flight: without this bound, asynchronous dispatch runs
                    # dozens of steps ahead of the computation (measured: 33 on 1 CPU core), and a
                    # SIGTERM would be answered only when all of them are computed.
                    jax.block_until_ready(pending[-2])
                if step == start_step + 1:
                    reporter.start(step)  # throughput figures exclude compilation
                if watch.should_stop(step):
                    preempted_at = step
                is_last = step == end_step or preempted_at is not None
                do_eval = preempted_at is None and (
                    step % config.eval_every_steps == 0 or step == config.num_train_steps
                )
                do_save = checkpointing.should_save(manager, step, force=do_eval or is_last)
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


def _evaluate_and_report(
    eval_dataset, mesh, head, workdir, reporter, state, step, *, evaluators, num_sheet_images
):
    results, sheet = validation.evaluate_and_write(
        state.generator,
        head,
        eval_dataset,
        mesh,
        workdir,
        step=step,
        evaluators=evaluators,
        num_sheet_images=num_sheet_images,
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
                "Lower config.optimizer.learning_rate or set config.optimizer.grad_clip_norm."
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
            "Lower config.optimizer.learning_rate or set config.optimizer.grad_clip_norm."
        )
