"""One row of the quality table: trained and evaluated in subprocesses, reused when it exists.

A row is a `colorize_jax.main` process (its config on --preset, trained for --steps steps and
evaluated on --eval_examples validation images) in OUT/NAME; each variant re-evaluates that
checkpoint with other settings (`colorize_jax.evaluate`) in OUT/NAME/variants/LABEL. An
evaluation at --steps is reused; one made before the pretrained networks' metrics existed
(`quality_report.PERCEPTUAL_KEYS`) is evaluated again from the checkpoint, not retrained. The
"no colour" row is evaluated in this process (`quality_baseline`). Reads the table's FLAGS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from absl import flags

from colorize_jax.tools import quality_report
from colorize_jax.tools.quality_baseline import write_no_colour_row
from colorize_jax.tools.quality_rows import Row

FLAGS = flags.FLAGS


def workdir_name(row: Row) -> str:
    """The row's directory under --out (and its --only name): its name, alphanumerics and _."""
    return "".join(c if c.isalnum() or c == "_" else "_" for c in row.name).strip("_")


def variant_base(name: str) -> str:
    """A row's name without its default decode setting ("... T=0.38" -> "...")."""
    return name.rsplit(" T=", 1)[0]


def config_overrides(row: Row) -> dict[str, str]:
    """The --config.KEY=VALUE settings of a row (without its variants')."""
    args = {
        "data.source": FLAGS.source,
        "num_train_steps": str(FLAGS.steps),
        "optimizer.warmup_steps": str(max(1, FLAGS.steps // 10)),
        "eval_every_steps": str(FLAGS.steps),
        "checkpoint_every_steps": str(FLAGS.steps),
        "log_every_steps": str(max(1, FLAGS.steps // 10)),
        "data.max_eval_examples": str(FLAGS.eval_examples),
        **row.overrides,
    }
    if row.uses_prior:
        args["classify.prior_path"] = prior_path()
    return args


def command(row: Row, workdir: str) -> list[str]:
    """The `colorize_jax.main` command line of one row."""
    return [
        sys.executable,
        "-m",
        "colorize_jax.main",
        f"--config={row.config}:{FLAGS.preset}",
        f"--workdir={workdir}",
        *(f"--config.{key}={value}" for key, value in config_overrides(row).items()),
    ]


def variant_command(row: Row, overrides: dict[str, str], eval_dir: str) -> list[str]:
    """The `colorize_jax.evaluate` command line of one variant of a trained row."""
    args = {**config_overrides(row), **overrides}
    return [
        sys.executable,
        "-m",
        "colorize_jax.evaluate",
        f"--config={row.config}:{FLAGS.preset}",
        f"--workdir={os.path.join(FLAGS.out, workdir_name(row))}",
        f"--step={FLAGS.steps}",
        f"--output_dir={eval_dir}",
        *(f"--config.{key}={value}" for key, value in args.items()),
    ]


def prior_path() -> str:
    """The ab prior of the classify rows: --ab_prior, else OUT/ab_prior.npz (computed once)."""
    if FLAGS.ab_prior:
        return os.path.abspath(FLAGS.ab_prior)
    path = os.path.abspath(os.path.join(FLAGS.out, "ab_prior.npz"))
    if not os.path.exists(path):
        print(f"computing the ab prior of {FLAGS.source} into {path}", flush=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "colorize_jax.tools.ab_prior",
                f"--config=configs/unet_lab_classify.py:{FLAGS.preset}",
                f"--config.data.source={FLAGS.source}",
                f"--output={path}",
            ],
            check=True,
        )
    return path


def evaluated(eval_dir: str, *, complete: bool = True) -> bool:
    """Whether `eval_dir` holds an evaluation after `--steps` steps (`complete`: one with the
    `quality_report.PERCEPTUAL_KEYS` metrics too)."""
    path = os.path.join(eval_dir, "metrics.json")
    if not os.path.exists(path):
        return False
    metrics = json.load(open(path))
    if metrics["step"] != FLAGS.steps:
        return False
    return not complete or all(key in metrics for key in quality_report.PERCEPTUAL_KEYS)


def finished(workdir: str) -> bool:
    """Whether the row's run exists and was evaluated after `--steps` steps (maybe without the
    pretrained networks' metrics, which `run_row` then adds by evaluating its checkpoint again)."""
    if not os.path.exists(os.path.join(workdir, "table_timing.json")):
        return False
    return evaluated(os.path.join(workdir, "eval"), complete=False)


def run_row(row: Row, *, complete: bool = True) -> dict[str, dict]:
    """Trains and evaluates one row and its variants, reusing what exists for this budget.

    `complete`: evaluate again what was evaluated without the pretrained networks' metrics
    (`quality_report.PERCEPTUAL_KEYS`; else their cells stay empty). Returns the table lines:
    {line name: figures}.
    """
    workdir = os.path.join(FLAGS.out, workdir_name(row))
    if not finished(workdir):
        os.makedirs(workdir, exist_ok=True)
        start = time.perf_counter()
        if row.no_colour:
            write_no_colour_row(row, workdir)
        else:
            print(f"[{row.name}] training: {' '.join(command(row, workdir))}", flush=True)
            with open(os.path.join(workdir, "train.log"), "w") as log:
                subprocess.run(command(row, workdir), check=True, stdout=log, stderr=log)
        with open(os.path.join(workdir, "table_timing.json"), "w") as f:
            json.dump({"minutes": (time.perf_counter() - start) / 60}, f)
    elif complete and not evaluated(os.path.join(workdir, "eval")):
        print(
            f"[{row.name}] evaluating the checkpoint again for {quality_report.PERCEPTUAL_KEYS}",
            flush=True,
        )
        if row.no_colour:
            write_no_colour_row(row, workdir)
        else:
            with open(os.path.join(workdir, "eval.log"), "w") as log:
                cmd = variant_command(row, {}, os.path.join(workdir, "eval"))
                subprocess.run(cmd, check=True, stdout=log, stderr=log)
    lines = {row.name: quality_report.collect(workdir)}
    for label, overrides in row.variants:
        eval_dir = os.path.join(workdir, "variants", workdir_name(Row(label, "")))
        if not evaluated(eval_dir, complete=complete):
            print(f"[{row.name}] evaluating {label}", flush=True)
            os.makedirs(eval_dir, exist_ok=True)
            with open(eval_dir + ".log", "w") as log:
                cmd = variant_command(row, overrides, eval_dir)
                subprocess.run(cmd, check=True, stdout=log, stderr=log)
        lines[f"{variant_base(row.name)} {label}"] = quality_report.collect(workdir, eval_dir)
    return lines
