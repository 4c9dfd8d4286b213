"""Tests of colorize_jax.evaluation.video_metrics (E_warp, CDC) against hand computations, and of
`evaluate --video` (evaluation.videos)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.spatial import distance

from colorize_jax.evaluation import metrics, video_metrics, video_scores
from colorize_jax.inference import full_resolution, video_io
from tests.evaluation.test_photo_scores import run_evaluate
from tests.inference import clip_files


def test_warp_error_is_the_masked_mean_squared_difference_to_the_warped_next_frame():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (4, 5, 3)).astype(np.uint8)
    following = rng.integers(0, 256, (4, 5, 3)).astype(np.uint8)
    flow = np.zeros((4, 5, 2), np.float32)
    flow[..., 0] = 1.0  # pixel (y, x) of frame t is at (y, x + 1) in frame t + 1
    mask = np.ones((4, 5), bool)
    mask[:, -1] = False  # x + 1 leaves the frame
    mask[0, 0] = False  # say, occluded
    # By hand: the pixels (y, x), x < 4, but (0, 0); three channels each, RGB in [0, 1].
    total, count = 0.0, 0
    for y in range(4):
        for x in range(4):
            if (y, x) == (0, 0):
                continue
            for c in range(3):
                total += ((int(frame[y, x, c]) - int(following[y, x + 1, c])) / 255.0) ** 2
                count += 1
    expected = total / count
    assert video_metrics.warp_error(frame, following, flow, mask) == pytest.approx(expected, 1e-6)
    assert video_metrics.warp_error(frame, following, flow, np.zeros((4, 5), bool)) == 0.0
    same = np.roll(frame, 1, axis=1)  # frame t + 1 is frame t moved right: no error
    assert video_metrics.warp_error(frame, same, flow, mask) == pytest.approx(0.0, abs=1e-12)


def test_js_divergence_matches_scipy_and_its_bounds():
    p = np.float64([0.5, 0.5, 0.0, 0.0])
    q = np.float64([1.0, 0.0, 0.0, 0.0])
    # Their mean m = (0.75, 0.25, 0, 0).
    by_hand = 0.5 * (0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25))
    by_hand += 0.5 * (1.0 * math.log(1.0 / 0.75))
    assert video_metrics.js_divergence(p, q) == pytest.approx(by_hand)
    assert video_metrics.js_divergence(p, q) == pytest.approx(distance.jensenshannon(p, q) ** 2)
    assert video_metrics.js_divergence(p, np.float64([0, 0, 1, 0])) == pytest.approx(math.log(2))
    assert video_metrics.js_divergence(p, p) == 0.0


def test_cdc_by_hand_on_tiny_clips():
    black = np.zeros((2, 2, 3), np.uint8)
    white = np.full((2, 2, 3), 255, np.uint8)
    half = np.concatenate([black[:1], white[:1]])  # two black, two white pixels
    hist = video_metrics.channel_histograms
    np.testing.assert_array_equal(hist(half)[:, [0, 255]], [[0.5, 0.5]] * 3)
    ln2 = math.log(2)
    # [black, black, white]: d = 1 pairs give 0 and ln 2, d = 2 gives ln 2; d = 4 has no pair.
    assert video_metrics.cdc([hist(f) for f in (black, black, white)]) == pytest.approx(
        (ln2 / 2 + ln2) / 2
    )
    # Five frames, every dilation: JS(black, half) = JS(half, white) = j, JS(black, white) = ln 2.
    j = 0.5 * (0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)) + 0.5 * math.log(1 / 0.75)
    clip = [black, half, white, half, black]
    d1 = (j + j + j + j) / 4
    d2 = (ln2 + 0.0 + ln2) / 3  # (black, white), (half, half), (white, black)
    d4 = 0.0  # (black, black)
    assert video_metrics.cdc([hist(f) for f in clip]) == pytest.approx((d1 + d2 + d4) / 3)
    # Channels are averaged: only the red channel changes.
    red = black.copy()
    red[..., 0] = 255
    assert video_metrics.cdc([hist(black), hist(red)]) == pytest.approx(ln2 / 3)
    assert video_metrics.cdc([hist(black)]) == 0.0


class Flicker:
    """A per-frame 'colorizer' whose colour jumps from frame to frame: chroma from lightness plus
    a random offset per frame."""

    def __init__(self):
        self.rng = np.random.default_rng(0)

    def render_shape(self, height, width):
        return height // 2, width // 2

    def predict_ab(self, images):
        x = images[..., 0].astype(np.float32) / 255.0
        base = np.stack([40 * (x - 0.5), 30 * (0.5 - x)], axis=-1)
        return base + self.rng.normal(0, 6, (len(images), 1, 1, 2)).astype(np.float32)


@pytest.mark.parametrize("name", ["pan", "object"])
def test_flow_lowers_warp_error_and_cdc_of_a_flickering_colorizer(tmp_path, name):
    report = video_scores.evaluate_clip(Flicker(), clip_files.clip(tmp_path, name), batch_size=4)
    none, flow = report["modes"]["none"], report["modes"]["flow"]
    assert flow["warp_error"] < 0.7 * none["warp_error"]
    assert flow["cdc"] < none["cdc"]
    assert report["flow_vs_none"]["warp_error_change"] < -0.3
    assert report["flow_vs_none"]["psnr_change_db"] > -0.5


def test_evaluate_clip_scores_each_frame_like_the_photo_metrics(workdir, tmp_path):
    model = full_resolution.Colorizer(workdir, checkpoint="latest")
    path = clip_files.clip(tmp_path, "cut", frames=10)
    report = video_scores.evaluate_clip(model, path, batch_size=4)
    assert report["num_frames"] == 10 and report["rate"] == "30000/1001"
    none = report["modes"]["none"]
    assert set(metrics.KEYS) <= set(none) and len(none["per_frame"]["psnr"]) == 10
    assert report["input_scene_cuts"] == 1
    assert len(none["per_frame"]["warp_error"]) == 8  # 9 pairs, less the one across the cut
    assert report["warp_error_original"] > 0 and report["warp_error_gray"] > 0
    assert report["modes"]["flow"]["scene_cuts"] == 1
    # Frame 0 of "none" is the photo path on the grayed frame, scored by image_metrics.
    first = next(video_io.read_frames(path))
    colorized = model.colorize(full_resolution.gray_version(first))
    psnr = float(metrics.psnr(colorized[None], first[None])[0])
    # (the compiled join of colour and lightness is within one 8-bit level of the photo path)
    assert none["per_frame"]["psnr"][0] == pytest.approx(psnr, abs=0.02)
    assert "| cut.mp4 | flow |" in video_scores.table({"clips": [report]})


def test_evaluate_command_with_video(workdir, tmp_path):
    path = clip_files.clip(tmp_path, "zoom", frames=8)
    result = run_evaluate(f"--workdir={workdir}", f"--video={path}", f"--output_dir={tmp_path}")
    assert result.returncode == 0, result.stderr
    assert "| zoom.mp4 | none |" in result.stdout and "| zoom.mp4 | flow |" in result.stdout
    scored = json.loads((tmp_path / "video_metrics.json").read_text())
    assert scored["step"] == 4 and len(scored["clips"]) == 1
    assert set(scored["clips"][0]["modes"]) == {"none", "flow"}
    bad = run_evaluate(f"--workdir={workdir}", f"--video={tmp_path}/none.mp4")
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines()[-1].startswith("colorize_jax.evaluate: error: ")
