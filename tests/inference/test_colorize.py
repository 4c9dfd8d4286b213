"""Tests of colorize_jax.colorize and colorize_jax.inference.photo_files: full-resolution inference.

A tiny U-Net is trained once for a few steps; every test colorizes with it. Lightness, size and
orientation are checked against scikit-image's CIELAB and PIL's own EXIF transpose.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image, ImageOps
from skimage import color

from colorize_jax.inference import full_resolution, photo_files
from tests.tiny_training import REPO


@pytest.fixture(scope="module")
def colorizer(workdir):
    return full_resolution.Colorizer(workdir)


def photo(height=40, width=56, seed=0) -> np.ndarray:
    """A smooth colourful uint8 RGB test image."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    base = np.stack([x, y, 1 - x * y], axis=-1) * 200 + 20
    return np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)


def lightness(rgb: np.ndarray) -> np.ndarray:
    return color.rgb2lab(rgb)[..., 0]


def test_stride_of_the_tiny_unet_is_two_poolings(colorizer):
    assert colorizer.stride == 4  # depth 2: two 2x2 max-pools
    assert colorizer.render_size == 32  # the training size
    assert colorizer.render_shape(480, 640) == (32, 44)  # 42.67 rounded to a multiple of 4


def test_colorize_keeps_size_and_lightness_of_gray_and_rgb(colorizer):
    rgb = photo(53, 71)  # sides that are not multiples of the stride
    gray = (color.rgb2gray(rgb) * 255).round().astype(np.uint8)
    for image, source_l in ((gray, lightness(np.dstack([gray] * 3))), (rgb, lightness(rgb))):
        out = colorizer.colorize(image)
        assert out.shape == (53, 71, 3) and out.dtype == np.uint8
        assert np.abs(lightness(out) - source_l).max() < 0.5
    assert np.abs(color.rgb2lab(out)[..., 1:]).mean() > 0.5  # it did add colour


def test_batch_equals_one_by_one(colorizer):
    images = [photo(40, 56, seed=1), photo(41, 57, seed=2), photo(90, 60, seed=3)]
    together = colorizer.colorize_batch(images)
    for image, batched in zip(images, together, strict=True):
        np.testing.assert_array_equal(batched, colorizer.colorize(image))


def test_render_size_changes_what_the_network_sees(workdir):
    big = full_resolution.Colorizer(workdir, render_size=63)
    assert big.render_size == 64
    assert big.render_shape(100, 300) == (64, 192)


def test_overrides_must_name_existing_fields(workdir):
    with pytest.raises(ValueError, match="unknown config field 'model.no_such'"):
        full_resolution.Colorizer(workdir, overrides={"model.no_such": "1"})


def test_missing_workdir_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json not found"):
        full_resolution.Colorizer(str(tmp_path / "nothing"))


def save_inputs(folder) -> dict[str, np.ndarray]:
    """Writes every input kind; returns {file name: the upright RGB it shows}."""
    os.makedirs(folder, exist_ok=True)
    rgb = photo(45, 61)
    shown = {}

    def save(name, image, **kwargs):
        image.save(os.path.join(folder, name), **kwargs)
        with Image.open(os.path.join(folder, name)) as reread:
            shown[name] = np.asarray(ImageOps.exif_transpose(reread).convert("RGB"))

    save("rgb.jpg", Image.fromarray(rgb), quality=95)
    save("gray.png", Image.fromarray(rgb).convert("L"))
    rgba = np.dstack([rgb, np.tile(np.linspace(0, 255, 61).astype(np.uint8), (45, 1))])
    save("alpha.png", Image.fromarray(rgba, "RGBA"))
    save("palette.png", Image.fromarray(rgb).convert("P", palette=Image.ADAPTIVE))
    deep = (color.rgb2gray(rgb) * 65535).astype(np.uint16)
    save("deep16.png", Image.fromarray(deep))
    # PIL's own conversion clips 16-bit values at 255; the file shows the full range.
    shown["deep16.png"] = np.repeat(np.round(deep / 257.0).astype(np.uint8)[..., None], 3, -1)
    save("cmyk.jpg", Image.fromarray(rgb).convert("CMYK"), quality=95)
    save("cmyk.tif", Image.fromarray(rgb).convert("CMYK"))
    save("photo.webp", Image.fromarray(rgb), lossless=True)
    save("photo.bmp", Image.fromarray(rgb))
    save("photo.tiff", Image.fromarray(rgb))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    save("sideways.jpg", Image.fromarray(rgb), exif=exif, quality=95)
    return shown


def run_cli(*args, cache_dir) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "colorize_jax.colorize", f"--compilation_cache_dir={cache_dir}"]
        + list(args),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_every_input_kind_bad_inputs_and_compare_sheets(workdir, tmp_path):
    inputs = tmp_path / "in"
    shown = save_inputs(inputs)
    (inputs / "empty.png").write_bytes(b"")
    (inputs / "notes.jpg").write_text("not an image")
    (inputs / "truncated.png").write_bytes((inputs / "gray.png").read_bytes()[:60])
    before = {p.name: p.read_bytes() for p in inputs.iterdir()}
    out, cache = tmp_path / "out", tmp_path / "cache"

    result = run_cli(
        f"--workdir={workdir}",
        f"--output_dir={out}",
        "--compare",
        str(inputs),
        str(tmp_path / "missing.jpg"),
        cache_dir=cache,
    )

    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    for bad in ("empty.png", "notes.jpg", "truncated.png", "missing.jpg"):
        assert sum(bad in line for line in errors) == 1, (bad, errors)
    assert len(errors) == 4
    assert f"colorized {len(shown)} images" in result.stderr and "4 failed" in result.stderr
    # Inputs sharing a stem: the first in sorted order keeps it, the others add their extension.
    stems = {"cmyk.tif": "cmyk_tif", "photo.tiff": "photo_tiff", "photo.webp": "photo_webp"}
    for name, upright in shown.items():
        stem = stems.get(name, os.path.splitext(name)[0])
        colorized = np.asarray(Image.open(out / "in" / f"{stem}.png"))
        assert colorized.shape[:2] == upright.shape[:2], name
        rgb = colorized[..., :3]
        assert np.abs(lightness(rgb) - lightness(upright)).max() < 0.5, name
        sheet = np.asarray(Image.open(out / "in" / f"{stem}_compare.png"))
        panels = 2 if name in ("gray.png", "deep16.png") else 3
        assert sheet.shape[1] == panels * (upright.shape[1] + 2) + 2, name
    alpha = np.asarray(Image.open(out / "in" / "alpha.png"))
    assert alpha.shape[-1] == 4
    ramp = np.tile(np.linspace(0, 255, 61).astype(np.uint8), (45, 1))
    np.testing.assert_array_equal(alpha[..., 3], ramp)
    assert np.asarray(Image.open(out / "in" / "sideways.png")).shape[:2] == (61, 45)
    assert {p.name: p.read_bytes() for p in inputs.iterdir()} == before
    assert any(cache.iterdir())  # compilations were cached for the next run


def test_cli_refuses_an_input_folder_and_never_overwrites(workdir, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(photo()).save(folder / "a.png")
    original = (folder / "a.png").read_bytes()

    refused = run_cli(
        f"--workdir={workdir}", f"--output_dir={folder}", str(folder / "a.png"), cache_dir=""
    )
    assert refused.returncode == 1
    assert "--allow_same_dir" in refused.stderr and "a.png" in refused.stderr
    assert os.listdir(folder) == ["a.png"]

    allowed = run_cli(
        f"--workdir={workdir}",
        f"--output_dir={folder}",
        "--allow_same_dir",
        "--format=jpeg",
        str(folder / "a.png"),
        str(folder / "*.png"),
        cache_dir="",
    )
    assert allowed.returncode == 0, allowed.stderr
    assert (folder / "a.png").read_bytes() == original
    assert sorted(os.listdir(folder)) == ["a.jpg", "a.png"]

    same_name = run_cli(
        f"--workdir={workdir}",
        f"--output_dir={folder}",
        "--allow_same_dir",
        str(folder / "a.png"),
        cache_dir="",
    )
    assert same_name.returncode == 0, same_name.stderr
    assert (folder / "a.png").read_bytes() == original
    assert "a_colorized.png" in os.listdir(folder)


def test_cli_without_inputs_or_with_a_bad_workdir(tmp_path):
    no_inputs = run_cli(f"--workdir={tmp_path}", f"--output_dir={tmp_path}/o", cache_dir="")
    assert no_inputs.returncode != 0 and "at least one INPUT" in no_inputs.stderr
    Image.fromarray(photo()).save(tmp_path / "a.png")
    bad = run_cli(
        f"--workdir={tmp_path}/none",
        f"--output_dir={tmp_path}/o",
        str(tmp_path / "a.png"),
        cache_dir="",
    )
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines()[-1].startswith("colorize_jax.colorize: error: ")
    assert "config.json not found" in bad.stderr


def test_find_inputs_names_outputs_uniquely(tmp_path):
    (tmp_path / "a").mkdir()
    for name in ("a/x.png", "a/x.jpg", "y.png"):
        Image.fromarray(photo(8, 8)).save(tmp_path / name)
    inputs, errors = photo_files.find_inputs(
        [str(tmp_path / "a"), str(tmp_path / "y.png"), str(tmp_path / "a" / "x.png")]
    )
    assert errors == []
    assert [p.output_stem for p in inputs] == [
        os.path.join("a", "x"),
        os.path.join("a", "x_png"),
        "y",
    ]
