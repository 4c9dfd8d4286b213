"""Trains and evaluates a list of configs for one budget and writes a markdown comparison table.

  python -m colorize_jax.quality_table --source=folder:../shared/data/imagenette128 \
      --steps=60 --out=runs/table [--only=unet_lab,cnn_lab] [--ab_prior=PRIOR.npz]

Each row is a separate `colorize_jax.main` process on the `cpu` preset (64 px crops), trained for
`--steps` steps and evaluated on the first `--eval_examples` validation images. A row's
variants (e.g. the decode temperatures of a classifier) evaluate that row's checkpoint again with
other settings (`colorize_jax.evaluate`), each a line of its own. A row whose evaluation at that
step already exists is reused, so an interrupted table resumes where it stopped; one evaluated
before the pretrained networks' metrics existed (`quality_report.PERCEPTUAL_KEYS`) has its
checkpoint evaluated again, not retrained. The rows are `quality_rows.ROWS`. Rows of the
classify loss use the ab prior of --ab_prior, or compute OUT/ab_prior.npz from the training
split first. Writes OUT/table.md and prints it, and OUT/sheet.png: scikit-image's sample photos
(`quality_report.SHEET_PHOTOS`) colorized by every trained row (plus --sheet_lines), at their
training size.

With --photos (default "skimage": `photo_evaluation.SKIMAGE_PHOTOS`, outside the training
classes; "" turns it off), every line is also scored on those photos at full resolution
(`colorize_jax.evaluate --photos`, reused like the rest) into OUT/table_photos.md, printed too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from absl import app, flags

from colorize_jax.tools import quality_report
from colorize_jax.tools.quality_rows import (  # noqa: F401  (the rows live there; known here too)
    CHROMA_GAIN_SWEEP,
    ROWS,
    TEMPERATURE_SWEEP,
    UNBIASED_SWEEP,
    Row,
)

FLAGS = flags.FLAGS


def define_flags() -> None:
    """The command line's flags; defined when run as a program, so that importing is free."""
    flags.DEFINE_string("source", None, "Data source of every row, e.g. folder:PATH.")
    flags.DEFINE_integer("steps", 60, "Training steps of every row.")
    flags.DEFINE_integer("eval_examples", 1000, "Validation images evaluated (0: all).")
    flags.DEFINE_string("out", "runs/table", "Directory for the rows' workdirs and table.md.")
    flags.DEFINE_list("only", [], "Names of the rows to run (default: all).")
    flags.DEFINE_string("preset", "cpu", "Preset of every config.")
    flags.DEFINE_list(
        "sheet_lines", [], "Variant lines (e.g. 'unet_lab_classify T=0.6') added to the sheet."
    )
    flags.DEFINE_multi_string(
        "sheet_workdir",
        [],
        "TITLE=DIR[,KEY=VALUE...]: another trained workdir (its latest checkpoint, with those "
        "config overrides, e.g. decode_chroma_gain=1.6) as a column of the sheet.",
    )
    flags.DEFINE_integer("sheet_size", 128, "Side of each image of the sheet, in pixels.")
    flags.DEFINE_string(
        "ab_prior", "", "ab prior (.npz) of the classify rows; default OUT/ab_prior.npz."
    )
    flags.DEFINE_string(
        "photos",
        "skimage",
        "Also score every line on these whole photos (OUT/table_photos.md): 'skimage', a "
        "folder, file or glob; '' for none.",
    )
    flags.mark_flag_as_required("source")


def write_no_colour_row(row: Row, workdir: str) -> None:
    """Evaluates the "no colour" baseline (predicted ab = 0) like a trained row."""
    import jax.numpy as jnp

    from colorize_jax.evaluation import evaluator as evaluation
    from colorize_jax.runtime import sharding
    from colorize_jax.training.state import NetworkState

    config = config_flags_load(row.config, FLAGS.preset)
    config.data.source = FLAGS.source
    config.data.max_eval_examples = FLAGS.eval_examples
    mesh = sharding.create_mesh()
    gray = NetworkState(
        params={},
        batch_stats={},
        opt_state=(),
        apply_fn=lambda variables, x, train: jnp.zeros(x.shape[:-1] + (2,)),
        tx=None,
    )
    config.data.color_space = "lab"
    results, _ = evaluation.evaluate_and_write(
        gray, evaluation.create_dataset(config, mesh), mesh, config, workdir, step=FLAGS.steps
    )
    with open(os.path.join(workdir, "metrics.jsonl"), "w") as f:
        f.write(json.dumps({"step": 0, "model/num_params": 0}) + "\n")


def config_flags_load(path: str, preset: str):
    """`get_config(preset)` of a config file."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("table_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(preset)


def workdir_name(row: Row) -> str:
    return "".join(c if c.isalnum() or c == "_" else "_" for c in row.name).strip("_")


def config_overrides(row: Row) -> dict[str, str]:
    """The --config.KEY=VALUE settings of a row (without its variants')."""
    args = {
        "data.source": FLAGS.source,
        "num_train_steps": str(FLAGS.steps),
        "warmup_steps": str(max(1, FLAGS.steps // 10)),
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
                "colorize_jax.ab_prior",
                f"--config=configs/unet_lab_classify.py:{FLAGS.preset}",
                f"--config.data.source={FLAGS.source}",
                f"--output={path}",
            ],
            check=True,
        )
    return path


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


def variant_base(name: str) -> str:
    """A row's name without its default decode setting ("... T=0.38" -> "...")."""
    return name.rsplit(" T=", 1)[0]


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


def photos_dir(workdir: str, label: str | None = None) -> str:
    """Where the photo evaluation of a row (`label` None) or of one of its variants goes."""
    if label is None:
        return os.path.join(workdir, "eval_photos")
    return os.path.join(workdir, "variants", workdir_name(Row(label, "")), "photos")


def photos_evaluated(output_dir: str) -> bool:
    """Whether `output_dir` holds a photo evaluation of --photos after `--steps` steps."""
    from colorize_jax.evaluation import photos as photo_evaluation

    path = os.path.join(output_dir, photo_evaluation.RESULTS_FILE)
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
    from colorize_jax.evaluation import photos as photo_evaluation

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
                results = photo_evaluation.evaluate_photos(photo_evaluation.no_colour, FLAGS.photos)
                photo_evaluation.write_results(output_dir, results | {"step": FLAGS.steps})
            else:
                with open(output_dir + ".log", "w") as log:
                    cmd = photos_command(row, overrides, output_dir)
                    subprocess.run(cmd, check=True, stdout=log, stderr=log)
        lines[name] = quality_report.collect(workdir, output_dir, photo_evaluation.RESULTS_FILE)
    return lines


def photos_markdown(results: dict[str, dict]) -> str:
    """OUT/table_photos.md: a line naming the photos, then the table of `results` (no speeds)."""
    first = next(iter(results.values()), {})
    names = ", ".join(os.path.splitext(name)[0] for name in first.get("names", []))
    caption = (
        f"Whole photos (--photos={FLAGS.photos}: {first.get('num_images', 0)} colour photos, "
        f"{names}), colorized at full resolution by colorize.Colorizer at the training size."
    )
    return caption + "\n\n" + quality_report.markdown(results, training=False)


def write_sheet(columns: dict[str, tuple], path: str) -> None:
    """Colorizes `quality_report.sheet_photos` with each column's (workdir, overrides[, step])
    model (step: the table's by default, None for the latest); writes `path`."""
    from colorize_jax.evaluation import sheets
    from colorize_jax.inference import colorizer as colorize
    from colorize_jax.inference.colorizer import Colorizer

    images = quality_report.sheet_photos(FLAGS.sheet_size)
    rows = [[colorize.gray_version(image)] for image in images]
    for workdir, overrides, *step in columns.values():
        step = step[0] if step else FLAGS.steps
        colorizer = Colorizer(workdir, step=step, checkpoint="latest", overrides=overrides)
        for row, image in zip(rows, colorizer.colorize_batch(images), strict=True):
            row.append(image)
    for row, image in zip(rows, images, strict=True):
        row.append(image)
    titles = ["gray input", *columns, "original"]
    sheet = sheets.with_column_titles(sheets.grid(rows), titles, cell_width=FLAGS.sheet_size)
    sheets.write_png(path, sheet)
    print(f"wrote {path}", flush=True)


def sheet_columns(results: dict[str, dict]) -> dict[str, tuple[str, dict[str, str]]]:
    """{line name: (workdir, config overrides)} of the trained rows and the --sheet_lines."""
    columns = {}
    for row in ROWS:
        workdir = os.path.join(FLAGS.out, workdir_name(row))
        if row.no_colour or row.name not in results:
            continue
        columns[row.name] = (workdir, {})
        for label, overrides in row.variants:
            name = f"{variant_base(row.name)} {label}"
            if name in FLAGS.sheet_lines:
                columns[name] = (workdir, overrides)
    missing = sorted(set(FLAGS.sheet_lines) - set(columns))
    if missing:
        raise app.UsageError(f"--sheet_lines names no finished line: {missing}")
    for spec in FLAGS.sheet_workdir:
        title, _, rest = spec.partition("=")
        workdir, *settings = rest.split(",")
        if not title or not workdir or not all("=" in item for item in settings):
            raise app.UsageError(f"--sheet_workdir={spec!r}: use TITLE=DIR[,KEY=VALUE...]")
        columns[title] = (workdir, dict(item.split("=", 1) for item in settings), None)
    return columns


def main(argv: list[str]) -> None:
    del argv
    names = [workdir_name(row) for row in ROWS]
    unknown = sorted(set(FLAGS.only) - set(names))
    if unknown:
        raise app.UsageError(f"--only has unknown rows {unknown}; rows: {', '.join(names)}")
    results, photo_results = {}, {}
    for row in ROWS:
        selected = not FLAGS.only or workdir_name(row) in FLAGS.only
        if selected:
            results.update(run_row(row))
        elif finished(os.path.join(FLAGS.out, workdir_name(row))):
            # Rows run earlier for this budget keep their place, as they were evaluated.
            results.update(run_row(row, complete=False))
        else:
            continue
        table = quality_report.markdown(results)
        with open(os.path.join(FLAGS.out, "table.md"), "w") as f:
            f.write(table)
        if FLAGS.photos:  # rows outside --only keep the photo lines they have
            photo_results.update(run_row_photos(row, compute=selected))
            photos_table = photos_markdown(photo_results)
            with open(os.path.join(FLAGS.out, "table_photos.md"), "w") as f:
                f.write(photos_table)
    print(table)
    if FLAGS.photos:
        print(photos_table)
    write_sheet(sheet_columns(results), os.path.join(FLAGS.out, "sheet.png"))
