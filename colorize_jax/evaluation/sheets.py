"""Image sheets: grids of uint8 images for TensorBoard and PNG files."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np
from etils import epath
from PIL import Image, ImageDraw, ImageFont
from skimage.util import montage


def grid(rows: Sequence[Sequence[np.ndarray]], *, pad: int = 2, fill: int = 255) -> np.ndarray:
    """Lays out rows of HxWx3 uint8 images (each cell padded to the largest) into one image.

    Cells are `pad` pixels apart and from the border; a smaller image sits at its cell's top
    left, and a row shorter than the longest ends in empty cells, all of `fill`. The layout is
    scikit-image's `montage`, which takes tiles of one size: the cells are brought to it here.
    """
    cells = [[_as_rgb(image) for image in row] for row in rows]
    if not cells or not cells[0]:
        raise ValueError("an image sheet needs at least one image")
    cell_h = max(image.shape[0] for row in cells for image in row)
    cell_w = max(image.shape[1] for row in cells for image in row)
    num_cols = max(len(row) for row in cells)
    tiles = np.full((len(cells) * num_cols, cell_h, cell_w, 3), fill, np.uint8)
    for r, row in enumerate(cells):
        for c, image in enumerate(row):
            tiles[r * num_cols + c, : image.shape[0], : image.shape[1]] = image
    return montage(
        tiles,
        fill=(fill,) * 3,  # one value per channel: montage indexes it by channel
        grid_shape=(len(cells), num_cols),
        padding_width=pad,
        channel_axis=-1,
    )


def comparison_rows(
    gray: np.ndarray, prediction: np.ndarray, truth: np.ndarray
) -> list[list[np.ndarray]]:
    """One row per image: gray input | prediction | ground truth (each a batch, NHWC uint8)."""
    return [[g, p, t] for g, p, t in zip(gray, prediction, truth, strict=True)]


def write_png(path: str | epath.Path, image: np.ndarray) -> None:
    """Writes a uint8 image as PNG, creating parent directories."""
    path = epath.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        Image.fromarray(_as_rgb(image)).save(f, format="PNG")


def _as_rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise TypeError(f"sheet images must be uint8, got {image.dtype}")
    if image.ndim == 2:
        image = image[..., None]
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    return image


def with_column_titles(sheet: np.ndarray, titles: Sequence[str], *, cell_width: int, pad: int = 2):
    """`sheet` (from `grid`) with a white strip above naming each column (wrapped to fit)."""
    font = ImageFont.load_default()
    chars_per_line = max(4, cell_width // 6)  # the default bitmap font is about 6 px wide
    wrapped = [textwrap.wrap(title, chars_per_line) or [""] for title in titles]
    line_height = 12
    strip_height = line_height * max(len(lines) for lines in wrapped) + 2 * pad
    strip = Image.new("RGB", (sheet.shape[1], strip_height), (255, 255, 255))
    draw = ImageDraw.Draw(strip)
    for column, lines in enumerate(wrapped):
        left = pad + column * (cell_width + pad)
        for number, line in enumerate(lines):
            draw.text((left + 2, pad + number * line_height), line, fill=(0, 0, 0), font=font)
    return np.concatenate([np.asarray(strip), sheet], axis=0)
