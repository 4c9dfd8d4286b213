"""Tests of `colorize_jax.evaluate --photos` (evaluation/photo_scores.py): whole photos.

A tiny U-Net is trained once for a few steps. Its scores on scikit-image's photos are checked
against `skimage.metrics.peak_signal_noise_ratio` of the Colorizer's own output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import skimage.data
from PIL import Image
from skimage import metrics

from colorize_jax.evaluation import photo_scores
from colorize_jax.inference import full_resolution
from tests.tiny_training import REPO, tiny_config


@pytest.fixture(scope="module")
def colorizer(workdir):
    return full_resolution.Colorizer(workdir, checkpoint="latest")


def run_evaluate(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "colorize_jax.evaluate", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def photo(height=40, width=56, seed=0) -> np.ndarray:
    """A smooth colourful uint8 RGB test image."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    base = np.stack([x, y, 1 - x * y], axis=-1) * 200 + 20
    return np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)


def test_skimage_photos_are_scored_like_scikit_image_on_the_colorizer_output(
    workdir, colorizer, tmp_path
):
    result = run_evaluate(f"--workdir={workdir}", "--photos=skimage", f"--output_dir={tmp_path}")
    assert result.returncode == 0, result.stderr

    scored = json.loads((tmp_path / photo_scores.RESULTS_FILE).read_text())
    assert scored["names"] == list(photo_scores.SKIMAGE_PHOTOS)
    assert [p["name"] for p in scored["per_photo"]] == scored["names"]
    assert scored["num_images"] == len(photo_scores.SKIMAGE_PHOTOS) >= 6
    assert scored["num_skipped_gray"] == 0 and scored["num_failed"] == 0
    assert scored["step"] == 4 and scored["render_size"] == 32 and scored["photos"] == "skimage"
    folder = os.path.dirname(skimage.data.__file__)
    for entry in scored["per_photo"]:
        with Image.open(os.path.join(folder, entry["name"])) as image:
            original = np.asarray(image.convert("RGB"))
        colorized = colorizer.colorize(original)  # full resolution, the real inference path
        assert (entry["height"], entry["width"]) == original.shape[:2]
        expected = metrics.peak_signal_noise_ratio(original, colorized)
        np.testing.assert_allclose(entry["psnr"], expected, rtol=1e-4, err_msg=entry["name"])
    for key in ("psnr", "ssim", "deltae2000", "colorfulness", "colorfulness_gt", "auc_ab"):
        mean = np.mean([entry[key] for entry in scored["per_photo"]])
        np.testing.assert_allclose(scored[key], mean, rtol=1e-6)
    gap = abs(scored["colorfulness"] - scored["colorfulness_gt"])
    assert scored["colorfulness_gap"] == pytest.approx(gap)
    assert scored["colorfulness_gt"] > 20  # they are colour photos


def test_gray_and_unreadable_photos_of_a_folder_are_skipped_and_counted(colorizer, tmp_path):
    folder = tmp_path / "mine"
    (folder / "sub").mkdir(parents=True)
    Image.fromarray(photo(40, 56)).save(folder / "colour.png")
    Image.fromarray(photo(50, 30, seed=1)).save(folder / "sub" / "colour.jpg", quality=95)
    Image.fromarray(photo()).convert("L").save(folder / "gray.png")
    nearly_gray = np.repeat(photo()[..., :1], 3, axis=-1)
    nearly_gray[::2, :, 0] += 1  # mean |channel difference| 1/3 < 2: no colour to score
    Image.fromarray(nearly_gray).save(folder / "nearly_gray.png")
    (folder / "broken.png").write_bytes(b"not a png")

    scored = photo_scores.evaluate_photos(colorizer.colorize, str(folder))

    assert scored["names"] == ["colour.png", os.path.join("sub", "colour.jpg")]
    assert scored["num_images"] == 2 and len(scored["per_photo"]) == 2
    assert scored["num_skipped_gray"] == 2
    assert sorted(scored["skipped_gray"]) == ["gray.png", "nearly_gray.png"]
    assert scored["failed"] == ["broken.png"] and scored["num_failed"] == 1
    assert scored["per_photo"][1]["height"] == 50

    only_gray = tmp_path / "gray"
    only_gray.mkdir()
    Image.fromarray(photo()).convert("L").save(only_gray / "a.png")
    with pytest.raises(ValueError, match="no colour photos to score .1 gray skipped"):
        photo_scores.evaluate_photos(colorizer.colorize, str(only_gray))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="folder has no images"):
        photo_scores.find_photos(str(tmp_path / "empty"))


def test_a_missing_folder_is_a_one_line_error(workdir, tmp_path):
    missing = tmp_path / "nothing"
    result = run_evaluate(f"--workdir={workdir}", f"--photos={missing}")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last == f"colorize_jax.evaluate: error: --photos={missing}: no such file or folder"
    assert not os.path.exists(os.path.join(workdir, "eval_photos"))


def test_a_given_config_decodes_through_the_colorizer_overrides(workdir, tmp_path):
    saved = json.loads(open(os.path.join(workdir, "config.json")).read())
    overrides, unknown = photo_scores.config_overrides(
        saved, {**saved, "decode_chroma_gain": 3.0, "new_field": 1}
    )
    assert overrides == {"decode_chroma_gain": 3.0} and unknown == ["new_field"]

    Image.fromarray(photo(48, 64)).save(tmp_path / "a.png")
    plain = photo_scores.evaluate_model(workdir, str(tmp_path / "a.png"))
    vivid = photo_scores.evaluate_model(
        workdir, str(tmp_path / "a.png"), config=tiny_config(decode_chroma_gain=3.0)
    )
    assert plain["names"] == vivid["names"] == ["a.png"] and vivid["step"] == 4
    assert vivid["colorfulness"] > plain["colorfulness"] + 1.0
