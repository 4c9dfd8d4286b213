"""The quality table's photo scores: every line on --photos, whole (OUT/table_photos.md).

A trained row, or one of its variants, is scored by `colorize_jax.evaluate --photos` from its
checkpoint; the "no colour" row by `photo_scores.no_colour` in this process. Scores that exist
for this budget and these photos are reused. Reads the table's FLAGS.
"""

from __future__ import annotations

import json
import os
import subprocess

from absl import flags

from colorize_jax.tools import quality_report
from colorize_jax.tools.quality_rows import Row
from colorize_jax.tools.quality_runs import variant_base, variant_command, workdir_name

FLAGS = flags.FLAGS


def photos_dir(workdir: str, label: str | None = None) -> str:
    """Where the photo evaluation of a row (`label` None) or of one of its variants goes."""
    if label is None:
        return os.path.join(workdir, "eval_photos")
    return os.path.join(workdir, "variants", workdir_name(Row(label, "")), "photos")


def photos_evaluated(output_dir: str) -> bool:
    """Whether `output_dir` holds a photo evaluation of --photos after `--steps` steps."""
    from colorize_jax.evaluation import photo_scores

    path = os.path.join(output_dir, photo_scores.RESULTS_FILE)
    if not os.path.exists(path):
        return False
    results = json.load(open(path))
    return results["step"] == FLAGS.steps and results.get("photos") == FLAGS.photos


def photos_command(row: Row, overrides: dict[str, str], output_dir: str) -> list[str]:
    """The `colorize_jax.evaluate --photos` command line of a trained row or of a variant."""
    return [*variant_command(row, overrides, output_dir), f"--photos={FLAGS.photos}"]


def run_row_photos(row: Row, *, compute: bool = True) -> dict[str, dict]:
    """Scores a finished row and its variants on --photos; returns {line name: figures}.

    Evaluations that exist for this budget are reused; the others are run when `compute`, else
    their lines are left out. The "no colour" baseline (ab = 0) is scored in this process.
    """
    from colorize_jax.evaluation import photo_scores

    workdir = os.path.join(FLAGS.out, workdir_name(row))
    evaluations = [(row.name, None, {})]
    evaluations += [(f"{variant_base(row.name)} {label}", label, o) for label, o in row.variants]
    lines = {}
    for name, label, overrides in evaluations:
        output_dir = photos_dir(workdir, label)
        if not photos_evaluated(output_dir):
            if not compute:
                continue
            print(f"[{name}] scoring on the photos {FLAGS.photos}", flush=True)
            os.makedirs(output_dir, exist_ok=True)
            if row.no_colour:
                results = photo_scores.evaluate_photos(photo_scores.no_colour, FLAGS.photos)
                photo_scores.write_results(output_dir, results | {"step": FLAGS.steps})
            else:
                with open(output_dir + ".log", "w") as log:
                    cmd = photos_command(row, overrides, output_dir)
                    subprocess.run(cmd, check=True, stdout=log, stderr=log)
        lines[name] = quality_report.collect(workdir, output_dir, photo_scores.RESULTS_FILE)
    return lines


def photos_markdown(results: dict[str, dict]) -> str:
    """OUT/table_photos.md: a line naming the photos, then the table of `results` (no speeds)."""
    first = next(iter(results.values()), {})
    names = ", ".join(os.path.splitext(name)[0] for name in first.get("names", []))
    caption = (
        f"Whole photos (--photos={FLAGS.photos}: {first.get('num_images', 0)} colour photos, "
        f"{names}), colorized at full resolution by full_resolution.Colorizer at the training size."
    )
    return caption + "\n\n" + quality_report.markdown(results, training=False)
