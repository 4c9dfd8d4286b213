"""Image sheets: the grid layout (scikit-image's montage) against hand-built arrays."""

from __future__ import annotations

import numpy as np
import pytest

from colorize_jax.evaluation import sheets


def colour(height: int, width: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)


def test_equal_cells_are_pad_apart_and_from_the_border():
    a, b, c, d = (colour(3, 4, seed) for seed in range(4))
    expected = np.full((2 * 3 + 3 * 2, 2 * 4 + 3 * 2, 3), 255, np.uint8)
    expected[2:5, 2:6], expected[2:5, 8:12] = a, b
    expected[7:10, 2:6], expected[7:10, 8:12] = c, d
    np.testing.assert_array_equal(sheets.grid([[a, b], [c, d]]), expected)


def test_smaller_images_sit_top_left_and_short_rows_end_in_fill():
    big = colour(4, 5, 0)
    small = colour(2, 3, 1)
    gray = np.arange(6, dtype=np.uint8).reshape(2, 3)  # 2-D: repeated into three channels
    one_channel = np.full((3, 2, 1), 77, np.uint8)
    sheet = sheets.grid([[big, small, gray], [one_channel]], pad=1, fill=9)

    expected = np.full((2 * 4 + 3 * 1, 3 * 5 + 4 * 1, 3), 9, np.uint8)
    expected[1:5, 1:6] = big
    expected[1:3, 7:10] = small
    expected[1:3, 13:16] = gray[..., None]
    expected[6:9, 1:3] = 77
    np.testing.assert_array_equal(sheet, expected)
    assert sheet.dtype == np.uint8


def test_no_padding_concatenates():
    a, b = colour(2, 2, 0), colour(2, 2, 1)
    np.testing.assert_array_equal(sheets.grid([[a], [b]], pad=0), np.concatenate([a, b]))


def test_an_empty_sheet_and_non_uint8_images_are_refused():
    with pytest.raises(ValueError, match="at least one image"):
        sheets.grid([[]])
    with pytest.raises(TypeError, match="uint8"):
        sheets.grid([[np.zeros((2, 2, 3), np.float32)]])


def test_comparison_rows_and_column_titles():
    batch = np.stack([colour(4, 4, seed) for seed in range(2)])
    rows = sheets.comparison_rows(batch, batch, batch)
    assert len(rows) == 2 and all(len(row) == 3 for row in rows)
    sheet = sheets.grid(rows)
    titled = sheets.with_column_titles(sheet, ["gray", "prediction", "truth"], cell_width=4)
    assert titled.shape[1] == sheet.shape[1] and titled.shape[0] > sheet.shape[0]
    np.testing.assert_array_equal(titled[-sheet.shape[0] :], sheet)
