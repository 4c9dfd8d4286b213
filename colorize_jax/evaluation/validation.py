"""Evaluation over the whole validation split: metrics.json and an image sheet.

Each prediction (`inference.predict`) is turned into an 8-bit RGB image rebuilt from the
ground-truth lightness and the predicted colour, and compared with the ground-truth image by the
evaluators named (`evaluators.EVALUATORS`: "pixel", the per-image metrics of `metrics.KEYS`;
"pretrained", those of `pretrained_metrics.KEYS`). Batches are padded with masked examples so
every process runs the same number of steps.

The sums of every batch are added up in float64 on the host, not with `clu.metrics.Average`:
the jitted step already sums over the global (multi-host) batch, so each process gets the same
replicated totals without any merging of per-host states, and float64 keeps the totals exact
over thousands of batches, which the feature moment sums of `fd_effnet` (a covariance from
sum(x x^T) - n mu mu^T) need. clu would add a dependency for none of this.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from etils import epath
from jax.experimental import multihost_utils

from colorize_jax import data
from colorize_jax.colour import colorspace
from colorize_jax.evaluation import sheets
from colorize_jax.evaluation.evaluators import Evaluator, resolve
from colorize_jax.inference import predict
from colorize_jax.objectives import heads
from colorize_jax.runtime import sharding

DEFAULT_EVALUATORS = ("pixel",)


def colorize_batch(
    network: predict.Network, head: heads.Head, images: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Predicts colour for uint8 RGB `images`; returns (gray uint8, colorized uint8) NHWC.

    The colorized image keeps the ground-truth lightness of `images` (`colorspace.decode` with
    the truth); the prediction is `inference.predict`'s, in the colour space `head.space`.
    """
    inputs, predictions = predict.predict(network, head, images)
    rgb = colorspace.decode(inputs, predictions, head.space, truth_rgb=images / 255.0)
    gray = colorspace.to_uint8(jnp.repeat((inputs + 1.0) / 2.0, 3, axis=-1))
    return gray, colorspace.to_uint8(rgb)


def eval_step(
    network: predict.Network,
    head: heads.Head,
    batch: Mapping[str, jax.Array],
    *,
    evaluators: Sequence[tuple[str, Evaluator]],
) -> dict[str, Any]:
    """The sums of one batch: {"evaluators": {name: its batch_sums}, "num_images",
    "num_skipped"}, over the unmasked examples of `batch` (jit-able)."""
    _, colorized = colorize_batch(network, head, batch["image"])
    mask = batch["mask"].astype(jnp.float32)
    return {
        "evaluators": {
            name: evaluator.batch_sums(colorized, batch["image"], mask)
            for name, evaluator in evaluators
        },
        "num_images": jnp.sum(mask),
        "num_skipped": jnp.sum(batch["num_skipped"]).astype(jnp.float32),
    }


@functools.cache
def _jitted(fn, head: heads.Head, **settings):
    return jax.jit(functools.partial(fn, head=head, **settings))


def _as_float64(tree):
    """A pytree of (device) arrays as NumPy float64 arrays, to total them exactly."""
    return jax.tree_util.tree_map(lambda x: np.asarray(x, np.float64), jax.device_get(tree))


def evaluate(
    network: predict.Network,
    head: heads.Head,
    eval_batches: Iterable[Mapping[str, np.ndarray]],
    mesh: jax.sharding.Mesh,
    *,
    evaluators: str | Iterable[str] = DEFAULT_EVALUATORS,
    num_sheet_images: int = 8,
) -> tuple[dict[str, float], np.ndarray | None]:
    """Runs the evaluators over every batch; returns (results, comparison sheet or None).

    `network` has `apply_fn(variables, inputs, train=False)` and `variables`; `head` reads its
    outputs (`objectives.heads`). `evaluators` are names of `evaluators.EVALUATORS` (ValueError
    for an unknown one). The results hold each evaluator's figures, `num_images` (unmasked
    images) and `num_skipped` (unreadable files). The sheet has up to `num_sheet_images` rows
    of gray | colorized | truth.
    """
    resolved = resolve(evaluators)
    step_fn = _jitted(eval_step, head, evaluators=resolved)
    totals = None
    sheet_rows: list[list[np.ndarray]] = []
    for local_batch in eval_batches:
        batch = sharding.to_global_arrays(
            {key: local_batch[key] for key in ("image", "mask", "num_skipped")}, mesh
        )
        sums = _as_float64(step_fn(network, batch=batch))
        totals = sums if totals is None else jax.tree_util.tree_map(np.add, totals, sums)
        if len(sheet_rows) < num_sheet_images:
            sheet_rows += _sheet_rows(network, head, batch, num_sheet_images - len(sheet_rows))
    if totals is None:
        raise ValueError("the evaluation split yielded no batches: check config.data.eval_split")
    count = float(totals["num_images"])
    if count == 0:
        raise ValueError("the evaluation split has no readable images")
    results: dict[str, Any] = {}
    for name, evaluator in resolved:
        figures = evaluator.finish(totals["evaluators"][name], count)
        if set(figures) != set(evaluator.keys):
            raise ValueError(
                f"evaluator {name!r} reported {sorted(figures)}, not its keys "
                f"{sorted(evaluator.keys)}"
            )
        results.update((key, figures[key]) for key in evaluator.keys)
    results["num_images"] = int(count)
    results["num_skipped"] = int(totals["num_skipped"])
    sheet = sheets.grid(sheet_rows) if sheet_rows else None
    return results, sheet


def _sheet_rows(network, head, batch, limit: int) -> list[list[np.ndarray]]:
    gray, colorized = _jitted(colorize_batch, head)(network, images=batch["image"])
    gathered = multihost_utils.process_allgather(
        {"gray": gray, "pred": colorized, "truth": batch["image"], "mask": batch["mask"]},
        tiled=True,
    )
    keep = np.flatnonzero(gathered["mask"])[:limit]
    return sheets.comparison_rows(
        gathered["gray"][keep], gathered["pred"][keep], gathered["truth"][keep]
    )


def write_results(
    workdir: str,
    results: Mapping[str, Any],
    sheet: np.ndarray | None,
    *,
    step: int,
    eval_dir: str | None = None,
) -> epath.Path:
    """Writes metrics.json (and sheet.png) from the primary process; returns their directory.

    The directory is `eval_dir`, by default DIR/eval of the `workdir`.
    """
    eval_dir = epath.Path(eval_dir) if eval_dir else epath.Path(workdir) / "eval"
    if jax.process_index() != 0:
        return eval_dir
    eval_dir.mkdir(parents=True, exist_ok=True)
    payload = {**results, "step": int(step)}
    (eval_dir / "metrics.json").write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    if sheet is not None:
        sheets.write_png(eval_dir / "sheet.png", sheet)
    logging.info(
        "eval step %d: %s",
        step,
        ", ".join(f"{k} {v:.4g}" for k, v in results.items() if isinstance(v, float)),
    )
    return eval_dir


def create_dataset(config, mesh: jax.sharding.Mesh) -> data.EvalDataset:
    """This process's share of the validation split, in batches of the configured size."""
    return data.create_eval_dataset(
        config,
        batch_size=sharding.process_batch_size(config.eval_per_device_batch_size, mesh),
        process_index=jax.process_index(),
        process_count=jax.process_count(),
    )


def evaluate_and_write(
    network: predict.Network,
    head: heads.Head,
    eval_dataset: Iterable[Mapping[str, np.ndarray]],
    mesh: jax.sharding.Mesh,
    workdir: str,
    *,
    step: int,
    evaluators: str | Iterable[str] = DEFAULT_EVALUATORS,
    num_sheet_images: int = 8,
    eval_dir: str | None = None,
) -> tuple[dict[str, float], np.ndarray | None]:
    """`evaluate`, then `write_results` (to `eval_dir`, by default DIR/eval of `workdir`);
    returns both results."""
    results, sheet = evaluate(
        network,
        head,
        eval_dataset,
        mesh,
        evaluators=evaluators,
        num_sheet_images=num_sheet_images,
    )
    write_results(workdir, results, sheet, step=step, eval_dir=eval_dir)
    return results, sheet
