"""Geometric augmentation and resizing of decoded RGB images (pure functions, seeded by a rng).

Training: a random resized crop (a box covering a uniform share in [min_scale, 1] of the image
area, with a log-uniform aspect ratio in [3/4, 4/3], at a uniform position) resized to a square,
then a horizontal flip with probability 1/2. Evaluation: the shorter side resized to the target
size and the centre square kept.

Crops and resizes are done in one PIL call (`Image.resize(..., box=...)`) with an antialiased
bicubic filter (after a block-averaging reduction when the scale factor is large). The box has
sub-pixel coordinates, so the crop covers the same part of the picture whatever scale the JPEG
was decoded at (see `decode.open_rgb(min_size=...)`).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

ASPECT_RATIO_RANGE = (3 / 4, 4 / 3)
RESAMPLING = Image.Resampling.BICUBIC
# Large reductions first average integer blocks (Image.reduce): 2-7x faster on big images for
# a mean error of about 0.3/255 more than the exact filter.
REDUCING_GAP = 2.0
Box = tuple[float, float, float, float]  # (left, top, right, bottom) in pixels.


def random_crop_box(
    width: int,
    height: int,
    rng: np.random.Generator,
    *,
    min_scale: float,
    ratio_range: tuple[float, float] = ASPECT_RATIO_RANGE,
    attempts: int = 10,
) -> Box:
    """Samples a crop box of area share in [min_scale, 1] and aspect (w/h) in `ratio_range`.

    Draws up to `attempts` candidates and keeps the first that fits inside the image; if none
    fits (very elongated images), falls back to the largest centred box whose aspect ratio is
    the image's own, clamped to `ratio_range`.
    """
    area = width * height
    log_low, log_high = math.log(ratio_range[0]), math.log(ratio_range[1])
    for _ in range(attempts):
        crop_area = area * rng.uniform(min_scale, 1.0)
        ratio = math.exp(rng.uniform(log_low, log_high))
        crop_width = math.sqrt(crop_area * ratio)
        crop_height = math.sqrt(crop_area / ratio)
        if crop_width <= width and crop_height <= height:
            left = rng.uniform(0.0, width - crop_width)
            top = rng.uniform(0.0, height - crop_height)
            return (left, top, left + crop_width, top + crop_height)
    ratio = min(max(width / height, ratio_range[0]), ratio_range[1])
    crop_width = min(width, height * ratio)
    crop_height = min(height, width / ratio)
    return _centred_box(width, height, crop_width, crop_height)


def centre_square_box(width: int, height: int) -> Box:
    """The largest centred square of a width x height image."""
    side = min(width, height)
    return _centred_box(width, height, side, side)


def resize_box(image: Image.Image, box: Box, size: int) -> np.ndarray:
    """Resizes the `box` region of an RGB `image` to a size x size uint8 array."""
    resized = image.resize((size, size), RESAMPLING, box=box, reducing_gap=REDUCING_GAP)
    return np.asarray(resized)


def random_resized_crop(
    image: Image.Image,
    size: int,
    rng: np.random.Generator,
    *,
    min_scale: float,
    flip: bool,
    max_rotation: float = 0.0,
) -> np.ndarray:
    """Training augmentation: random resized crop to size x size, maybe a small rotation
    (uniform in +-`max_rotation` degrees) and a mirror flip."""
    box = random_crop_box(image.width, image.height, rng, min_scale=min_scale)
    if max_rotation > 0:
        pixels = rotated_crop(image, box, size, rng.uniform(-max_rotation, max_rotation))
    else:
        pixels = resize_box(image, box, size)
    if flip and rng.random() < 0.5:
        pixels = np.ascontiguousarray(pixels[:, ::-1])
    return pixels


def rotated_crop(image: Image.Image, box: Box, size: int, degrees: float) -> np.ndarray:
    """The `box` region resized, rotated by `degrees` and cropped to its inscribed square.

    The crop is first resized to size * (|cos| + |sin|), so that after the rotation the centred
    size x size square lies wholly inside the rotated content (no empty corners).
    """
    theta = math.radians(degrees)
    enlarged = math.ceil(size * (abs(math.cos(theta)) + abs(math.sin(theta))))
    patch = image.resize((enlarged, enlarged), RESAMPLING, box=box, reducing_gap=REDUCING_GAP)
    patch = patch.rotate(degrees, resample=Image.Resampling.BILINEAR)
    offset = (enlarged - size) / 2
    return resize_box(patch, (offset, offset, offset + size, offset + size), size)


def centre_crop(image: Image.Image, size: int) -> np.ndarray:
    """Evaluation view: shorter side resized to `size`, then the centre size x size square."""
    return resize_box(image, centre_square_box(image.width, image.height), size)


def train_decode_size(size: int, min_scale: float) -> int:
    """The smallest image side that keeps full resolution in every training crop.

    The narrowest crop side is at least sqrt(min_scale * 3/4) times the image's shorter side,
    so decoding at a shorter side of size / sqrt(min_scale * 3/4) never upsamples a crop that
    the full-size image would have downsampled.
    """
    return math.ceil(size / math.sqrt(min_scale * ASPECT_RATIO_RANGE[0]))


def _centred_box(width: float, height: float, crop_width: float, crop_height: float) -> Box:
    left = (width - crop_width) / 2
    top = (height - crop_height) / 2
    return (left, top, left + crop_width, top + crop_height)
