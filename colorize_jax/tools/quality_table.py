"""Trains and evaluates a list of configs for one budget and writes a markdown comparison table.

  python -m colorize_jax.tools.quality_table --source=folder:../shared/data/imagenette128 \
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

With --photos (default "skimage": `photo_scores.SKIMAGE_PHOTOS`, outside the training
classes; "" turns it off), every line is also scored on those photos at full resolution
(`colorize_jax.evaluate --photos`, reused like the rest) into OUT/table_photos.md, printed too.

This module holds the flags and runs the rows in order. The parts: `quality_rows` (the rows),
`quality_runs` (one row trained and evaluated in subprocesses), `quality_baseline` (the "no
colour" row), `quality_photos` (the photo scores), `quality_sheet` (the sheet) and
`quality_report` (the figures and the markdown).
"""

from __future__ import annotations

import os

from absl import app, flags

from colorize_jax.tools import quality_report
from colorize_jax.tools.quality_photos import photos_markdown, run_row_photos
from colorize_jax.tools.quality_rows import ROWS
from colorize_jax.tools.quality_runs import finished, run_row, workdir_name
from colorize_jax.tools.quality_sheet import sheet_columns, write_sheet

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


def main(argv: list[str]) -> None:
    """Runs the selected rows in order, rewriting the tables after each; then the sheet."""
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
    write_sheet(sheet_columns(results, ROWS), os.path.join(FLAGS.out, "sheet.png"))


def run() -> None:
    """Runs the command line (also the console script `colorize-jax-quality-table`)."""
    from colorize_jax.runtime import cli  # imported when run, so that importing stays free

    cli.run(main, "colorize_jax.tools.quality_table", define_flags=define_flags)


if __name__ == "__main__":
    run()
