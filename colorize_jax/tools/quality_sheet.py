"""The quality table's sheet (OUT/sheet.png): sample photos colorized by each line, side by side.

Columns: the gray input, every trained row (the "no colour" row excepted), the --sheet_lines
variants, the --sheet_workdir runs, then the original; rows: `quality_report.SHEET_PHOTOS` at
--sheet_size px. Reads the table's FLAGS.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from absl import app, flags

from colorize_jax.tools import quality_report
from colorize_jax.tools.quality_rows import ROWS, Row
from colorize_jax.tools.quality_runs import variant_base, workdir_name

FLAGS = flags.FLAGS


def write_sheet(columns: dict[str, tuple], path: str) -> None:
    """Colorizes `quality_report.sheet_photos` with each column's (workdir, overrides[, step])
    model (step: the table's by default, None for the latest); writes `path`."""
    from colorize_jax.evaluation import sheets
    from colorize_jax.inference import full_resolution
    from colorize_jax.inference.full_resolution import Colorizer

    images = quality_report.sheet_photos(FLAGS.sheet_size)
    rows = [[full_resolution.gray_version(image)] for image in images]
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


def sheet_columns(
    results: dict[str, dict], rows: Sequence[Row] = ROWS
) -> dict[str, tuple[str, dict[str, str]]]:
    """{line name: (workdir, config overrides)} of the trained `rows` and the --sheet_lines."""
    columns = {}
    for row in rows:
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
