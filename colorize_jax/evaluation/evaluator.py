"""Evaluation over the whole validation split: metrics.json and an image sheet.

Each prediction is turned into an 8-bit RGB image rebuilt from the ground-truth lightness and the
predicted colour, and compared with the ground-truth image. The pixel metrics (`METRIC_KEYS`,
`metrics.image_metrics`) are means over images. With `perceptual_metrics` (the config's
`eval_perceptual_metrics`) the pretrained networks' metrics of `pretrained_metrics` are added
(`PERCEPTUAL_METRIC_KEYS`: LPIPS, top-1 agreement, and `fd_effnet`, a distance between the
feature distributions of the whole colorized and true sets). Batches are padded with masked
examples so every process runs the same number of steps; the sums of every batch are added up
in float64 on the host.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from etils import epath
from jax.experimental import multihost_utils

from colorize_jax import data
from colorize_jax.colour import colorspace
from colorize_jax.evaluation import metrics, pretrained_metrics, sheets
from colorize_jax.objectives import heads
from colorize_jax.runtime import sharding

# What is evaluated: a restored `inference.restore.Generator` or training's `NetworkState`, i.e.
# anything with `apply_fn(variables, inputs, train=False)` and `variables`.
Network = Any

METRIC_KEYS = (
    "psnr",
    "ssim",
    "deltae2000",
    "colorfulness",
    "colorfulness_gt",
    "delta_colorfulness",
    "auc_ab",
    "acc_de2.3",
    "acc_de10",
)
PERCEPTUAL_METRIC_KEYS = pretrained_metrics.KEYS


def colorize_batch(
    network: Network, images: jax.Array, *, space: str, head: heads.Head | None = None
) -> tuple[jax.Array, jax.Array]:
    """Predicts colour for uint8 RGB `images`; returns (gray uint8, colorized uint8) NHWC.

    The colorized image keeps the ground-truth lightness of `images`. `head` turns the
    network's outputs into the colour target (see `heads`); None: they are the target.
    """
    inputs, _ = colorspace.encode(images, space)
    predictions = network.apply_fn(network.variables, inputs, train=False)
    if head is not None:
        predictions = head.predict(predictions)
    rgb = colorspace.decode(
        inputs, predictions.astype(jnp.float32), space, truth_rgb=images / 255.0
    )
    gray = colorspace.to_uint8(jnp.repeat((inputs + 1.0) / 2.0, 3, axis=-1))
    return gray, colorspace.to_uint8(rgb)


def eval_step(
    network: Network,
    batch: Mapping[str, jax.Array],
    *,
    space: str,
    head: heads.Head | None = None,
    perceptual_metrics: bool = False,
):
    """Sums of each per-image metric over the unmasked examples of `batch`, and their count.

    `perceptual_metrics` adds `pretrained_metrics.batch_sums` (feature moment sums included).
    """
    _, colorized = colorize_batch(network, batch["image"], space=space, head=head)
    per_image = metrics.image_metrics(colorized, batch["image"])
    mask = batch["mask"].astype(jnp.float32)
    sums = {name: jnp.sum(per_image[name] * mask) for name in METRIC_KEYS}
    if perceptual_metrics:
        sums.update(pretrained_metrics.batch_sums(colorized, batch["image"], batch["mask"]))
    sums["num_images"] = jnp.sum(mask)
    sums["num_skipped"] = jnp.sum(batch["num_skipped"]).astype(jnp.float32)
    return sums


@functools.cache
def _jitted(fn, space: str, head: heads.Head | None, **settings):
    return jax.jit(functools.partial(fn, space=space, head=head, **settings))


def evaluate(
    network: Network,
    eval_batches: Iterable[Mapping[str, np.ndarray]],
    mesh: jax.sharding.Mesh,
    *,
    space: str,
    num_sheet_images: int = 8,
    head: heads.Head | None = None,
    perceptual_metrics: bool = False,
) -> tuple[dict[str, float], np.ndarray | None]:
    """Runs the metrics over every batch; returns (mean metrics, comparison sheet or None).

    `head` turns the network's outputs into the colour target (see `heads`); None: they are.
    `perceptual_metrics` adds those of `PERCEPTUAL_METRIC_KEYS` (see `pretrained_metrics`).
    """
    step_fn = _jitted(eval_step, space, head, perceptual_metrics=perceptual_metrics)
    totals = None
    sheet_rows: list[list[np.ndarray]] = []
    for local_batch in eval_batches:
        batch = sharding.to_global_arrays(
            {key: local_batch[key] for key in ("image", "mask", "num_skipped")}, mesh
        )
        sums = pretrained_metrics.as_float64(step_fn(network, batch))
        totals = sums if totals is None else jax.tree_util.tree_map(np.add, totals, sums)
        if len(sheet_rows) < num_sheet_images:
            sheet_rows += _sheet_rows(
                network, batch, space, head, num_sheet_images - len(sheet_rows)
            )
    if totals is None:
        raise ValueError("the evaluation split yielded no batches: check config.data.eval_split")
    count = float(totals.pop("num_images"))
    if count == 0:
        raise ValueError("the evaluation split has no readable images")
    results = {name: float(totals[name]) / count for name in METRIC_KEYS}
    if perceptual_metrics:
        results.update(pretrained_metrics.results(totals, count))
    results["num_images"] = int(count)
    results["num_skipped"] = int(totals["num_skipped"])
    sheet = sheets.grid(sheet_rows) if sheet_rows else None
    return results, sheet


def _sheet_rows(network, batch, space: str, head, limit: int) -> list[list[np.ndarray]]:
    gray, colorized = _jitted(colorize_batch, space, head)(network, batch["image"])
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
    network: Network,
    eval_dataset: Iterable[Mapping[str, np.ndarray]],
    mesh: jax.sharding.Mesh,
    config,
    workdir: str,
    *,
    step: int,
    eval_dir: str | None = None,
) -> tuple[dict[str, float], np.ndarray | None]:
    """`evaluate` with the config's settings, then `write_results`; returns both results."""
    results, sheet = evaluate(
        network,
        eval_dataset,
        mesh,
        space=config.data.color_space,
        num_sheet_images=config.num_sheet_images,
        head=heads.create(config),
        perceptual_metrics=bool(config.get("eval_perceptual_metrics", False)),
    )
    write_results(workdir, results, sheet, step=step, eval_dir=eval_dir)
    return results, sheet
