"""A sheet of photos colorized by a shipped (or trained) model: gray | default | vivid | truth.

  python -m colorize_jax.tools.shipped_sheet --photos=../shared/data/outside/imagenet1k_sample \
      --names=n01531178_goldfinch.jpg,... --out=colorize_jax/assets/shipped_sheet.png \
      [--model=NAME | --workdir=DIR] [--height=160]

Each photo is colorized at full resolution, as `colorize` writes it (default decode, then the
model's vivid decode), and shown scaled to --height pixels beside its gray input and the truth.
"""

from __future__ import annotations

import os

import numpy as np
from absl import app, flags
from PIL import Image

from colorize_jax.evaluation import sheets
from colorize_jax.inference import full_resolution, photo_files
from colorize_jax.models import shipped
from colorize_jax.runtime import cli

FLAGS = flags.FLAGS
TITLES = ("gray input", "default", "vivid", "original")


def define_flags() -> None:
    """The command line's flags."""
    flags.DEFINE_string("model", shipped.DEFAULT_MODEL, "Shipped model (unless --workdir).")
    flags.DEFINE_string("workdir", None, "A trained workdir instead of a shipped model.")
    flags.DEFINE_string("photos", None, "Folder of the photos.")
    flags.DEFINE_list("names", [], "File names in --photos, one row each.")
    flags.DEFINE_integer("height", 160, "Height of each cell, in pixels.")
    flags.DEFINE_string("out", None, "PNG file to write.")


def sheet_rows(default, vivid, images: list[np.ndarray], height: int) -> list[list[np.ndarray]]:
    """Rows of [gray, default, vivid, truth] for uint8 RGB `images`, each scaled to `height`."""
    rows = []
    for image in images:
        cells = [
            full_resolution.gray_version(image),
            default.colorize(image),
            vivid.colorize(image),
            image,
        ]
        width = round(image.shape[1] * height / image.shape[0])
        rows.append(
            [np.asarray(Image.fromarray(c).resize((width, height), Image.LANCZOS)) for c in cells]
        )
    return rows


def main(argv: list[str]) -> None:
    if not (FLAGS.photos and FLAGS.names and FLAGS.out):
        raise app.UsageError("--photos, --names and --out are required")
    source = {"model": None if FLAGS.workdir else FLAGS.model}
    default = full_resolution.Colorizer(FLAGS.workdir, **source)
    vivid = full_resolution.Colorizer(FLAGS.workdir, vivid=True, **source)
    images = [photo_files.read_photo(os.path.join(FLAGS.photos, n)).rgb for n in FLAGS.names]
    rows = sheet_rows(default, vivid, images, FLAGS.height)
    width = max(cell.shape[1] for row in rows for cell in row)
    sheet = sheets.with_column_titles(sheets.grid(rows), TITLES, cell_width=width)
    sheets.write_png(FLAGS.out, sheet)
    print(
        f"wrote {FLAGS.out} ({len(rows)} photos; vivid chroma x{vivid.config.decode_chroma_gain})"
    )


def run() -> None:
    """Runs the command line (also the console script `colorize-jax-shipped-sheet`)."""
    cli.run(main, "colorize_jax.tools.shipped_sheet", define_flags=define_flags)


if __name__ == "__main__":
    run()
