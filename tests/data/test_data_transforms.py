"""Tests of crop sampling and resizing against hand computations and scikit-image."""

import math

import numpy as np
import pytest
import skimage.data
import skimage.transform
from PIL import Image

from colorize_jax.data import transforms


@pytest.mark.parametrize(("width", "height"), [(320, 480), (500, 333), (64, 64)])
def test_random_crop_boxes_respect_scale_ratio_and_bounds(width, height):
    rng = np.random.default_rng(0)
    areas, ratios = [], []
    for _ in range(500):
        left, top, right, bottom = transforms.random_crop_box(width, height, rng, min_scale=0.35)
        assert 0 <= left < right <= width + 1e-9 and 0 <= top < bottom <= height + 1e-9
        areas.append((right - left) * (bottom - top) / (width * height))
        ratios.append((right - left) / (bottom - top))
    areas, ratios = np.array(areas), np.array(ratios)
    assert areas.min() >= 0.35 - 1e-9 and areas.max() <= 1 + 1e-9
    assert ratios.min() >= 3 / 4 - 1e-9 and ratios.max() <= 4 / 3 + 1e-9
    # Spread over the whole range, not stuck at one value.
    assert areas.min() < 0.45 and areas.max() > 0.85
    assert ratios.min() < 0.8 and ratios.max() > 1.25


def test_random_crop_box_is_deterministic_per_seed():
    def boxes(seed):
        rng = np.random.default_rng(seed)
        return [transforms.random_crop_box(300, 200, rng, min_scale=0.2) for _ in range(5)]

    assert boxes(1) == boxes(1)
    assert boxes(1) != boxes(2)


def test_elongated_images_fall_back_to_a_centred_box():
    rng = np.random.default_rng(0)
    box = transforms.random_crop_box(1000, 10, rng, min_scale=0.9)
    # Aspect 100:1 clamps to 4:3; the box spans the full height, centred horizontally.
    assert box == pytest.approx((500 - 40 / 6, 0, 500 + 40 / 6, 10))


def test_centre_square_box():
    assert transforms.centre_square_box(300, 200) == (50, 0, 250, 200)
    assert transforms.centre_square_box(20, 30) == (0, 5, 20, 25)


def test_centre_crop_without_scaling_is_the_middle_square():
    pixels = np.random.default_rng(0).integers(0, 256, (48, 80, 3), dtype=np.uint8)
    out = transforms.centre_crop(Image.fromarray(pixels), 48)
    np.testing.assert_array_equal(out, pixels[:, 16:64])


def test_centre_crop_matches_scikit_image_resize():
    pixels = skimage.data.coffee()  # 400 x 600
    out = transforms.centre_crop(Image.fromarray(pixels), 64)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    square = pixels[:, 100:500]
    reference = skimage.transform.resize(square, (64, 64), anti_aliasing=True, order=3)
    assert np.abs(out / 255 - reference).mean() < 0.015


def test_random_resized_crop_matches_a_reference_crop_of_the_box():
    pixels = skimage.data.astronaut()
    image = Image.fromarray(pixels)
    out = transforms.random_resized_crop(
        image, 32, np.random.default_rng(3), min_scale=0.3, flip=False
    )
    left, top, right, bottom = transforms.random_crop_box(
        512, 512, np.random.default_rng(3), min_scale=0.3
    )
    region = pixels[round(top) : round(bottom), round(left) : round(right)]
    reference = skimage.transform.resize(region, (32, 32), anti_aliasing=True, order=3)
    assert np.abs(out / 255 - reference).mean() < 0.03


def test_flip_mirrors_the_same_crop():
    image = Image.fromarray(skimage.data.chelsea())
    mirrored = 0
    for seed in range(12):
        plain = transforms.random_resized_crop(
            image, 16, np.random.default_rng(seed), min_scale=0.5, flip=False
        )
        maybe = transforms.random_resized_crop(
            image, 16, np.random.default_rng(seed), min_scale=0.5, flip=True
        )
        if not np.array_equal(plain, maybe):
            np.testing.assert_array_equal(maybe, plain[:, ::-1])
            mirrored += 1
    assert 2 <= mirrored <= 10  # about half of them


def test_solid_colour_stays_solid():
    image = Image.new("RGB", (90, 50), (12, 200, 77))
    out = transforms.random_resized_crop(
        image, 8, np.random.default_rng(0), min_scale=0.1, flip=True
    )
    np.testing.assert_array_equal(out, np.broadcast_to([12, 200, 77], (8, 8, 3)))


def test_train_decode_size_keeps_every_crop_at_full_resolution():
    assert transforms.train_decode_size(64, 0.35) == math.ceil(64 / math.sqrt(0.35 * 0.75)) == 125
    size, min_scale = 64, 0.35
    short = transforms.train_decode_size(size, min_scale)
    rng = np.random.default_rng(0)
    for width, height in [(short, short), (short, 3 * short), (2 * short, short)]:
        for _ in range(300):
            left, top, right, bottom = transforms.random_crop_box(
                width, height, rng, min_scale=min_scale
            )
            assert min(right - left, bottom - top) >= size - 1e-6


def test_rotated_crop_has_no_empty_corners_and_is_seeded():
    from PIL import Image

    from colorize_jax.data import transforms

    image = Image.fromarray(np.full((120, 160, 3), 200, np.uint8))
    crops = []
    for _ in range(2):
        rng = np.random.default_rng(7)
        crops.append(
            transforms.random_resized_crop(
                image, 48, rng, min_scale=0.5, flip=True, max_rotation=15.0
            )
        )
    np.testing.assert_array_equal(crops[0], crops[1])
    assert crops[0].shape == (48, 48, 3)
    # A uniform image stays uniform: a rotation that left black corners would show them.
    assert crops[0].min() >= 195


def test_rotated_crop_turns_the_content():
    from PIL import Image

    from colorize_jax.data import transforms

    stripes = np.zeros((64, 64, 3), np.uint8)
    stripes[:, ::8] = 255  # vertical lines
    image = Image.fromarray(stripes)
    straight = transforms.rotated_crop(image, (0, 0, 64, 64), 32, 0.0)
    turned = transforms.rotated_crop(image, (0, 0, 64, 64), 32, 30.0)
    # Vertical lines: every row of the straight crop is the same; after turning, rows differ.
    assert np.abs(np.diff(straight.astype(int), axis=0)).max() == 0
    assert np.abs(np.diff(turned.astype(int), axis=0)).mean() > 10
