"""Tests of colorize_jax.inference.video and the video inputs of colorize_jax.colorize."""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest
from PIL import Image
from skimage import color

from colorize_jax.inference import full_resolution, onnx_colorizer, video, video_io
from tests.inference import clip_files
from tests.inference.clip_files import FRAMES, HEIGHT, NTSC, WIDTH
from tests.inference.test_colorize import photo, run_cli


@pytest.fixture(scope="module")
def colorizer(workdir):
    return full_resolution.Colorizer(workdir)


def test_frame_by_frame_is_the_photo_path(colorizer, tmp_path):
    frames = list(video_io.read_frames(clip_files.clip(tmp_path, "object", frames=6)))
    streamed = list(video.colorize_frames(frames, colorizer, batch_size=4))  # 4 + 2 (padded)
    for frame, out in zip(frames, streamed, strict=True):
        # The compiled join of colour and lightness: within one 8-bit level of the photo path.
        assert np.abs(out.astype(int) - colorizer.colorize(frame)).max() <= 1


def test_flow_output_keeps_each_frames_lightness(colorizer, tmp_path):
    path = clip_files.clip(tmp_path, "pan", frames=6)
    output = str(tmp_path / "out.mp4")
    result = video.colorize_video(colorizer, path, output, crf=0, batch_size=4, progress=False)
    assert result.num_frames == 6 and result.scene_cuts == 0
    frames, colorized = list(video_io.read_frames(path)), list(video_io.read_frames(output))
    for frame, out in zip(frames, colorized, strict=True):
        # Lossless H.264 still rounds through 8-bit YUV: lightness within ~1.5 L.
        assert np.abs(color.rgb2lab(out)[..., 0] - color.rgb2lab(frame)[..., 0]).mean() < 1.5


def test_frames_stream_through(colorizer):
    consumed = []

    def endless():
        for index in itertools.count():
            consumed.append(index)
            yield photo(HEIGHT, WIDTH, seed=index % 3)

    first = list(itertools.islice(video.colorize_frames(endless(), colorizer, batch_size=2), 3))
    assert len(first) == 3 and len(consumed) == 4  # two batches of two read, nothing more


def test_an_interrupted_film_leaves_no_output(tmp_path):
    path = clip_files.clip(tmp_path, "pan", frames=12)

    class Interrupted:
        calls = 0

        def render_shape(self, height, width):
            return height // 2, width // 2

        def predict_ab(self, images):
            self.calls += 1
            if self.calls == 2:
                raise KeyboardInterrupt
            return np.zeros((*images.shape[:3], 2), np.float32)

    with pytest.raises(KeyboardInterrupt):
        video.colorize_video(Interrupted(), path, str(tmp_path / "out.mp4"), batch_size=4)
    assert os.listdir(tmp_path) == ["pan.mp4"]


def test_cli_colorizes_videos_beside_photos_and_reports_bad_ones(workdir, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    tone = clip_files.clip(inputs, "tone", frames=FRAMES)
    clip_files.clip(inputs, "cut", ".mkv", frames=FRAMES)
    Image.fromarray(photo()).save(inputs / "a.png")
    bad = [
        clip_files.not_a_video(inputs),
        clip_files.truncated(inputs),
        clip_files.audio_only(inputs),
        clip_files.unknown_codec(inputs),
    ]
    for name in ("pan.mp4", "zoom.mp4"):  # made by truncated() and unknown_codec()
        os.remove(inputs / name)
    before = {p.name: p.read_bytes() for p in inputs.iterdir()}
    out = tmp_path / "out"

    result = run_cli(f"--workdir={workdir}", f"--output_dir={out}", str(inputs), cache_dir="")

    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 4, errors
    for path in bad:
        assert sum(path in line for line in errors) == 1, (path, errors)
    assert "colorized 1 images and 2 videos" in result.stderr and "4 failed" in result.stderr
    assert sorted(os.listdir(out / "in")) == ["a.png", "cut.mp4", "tone.mp4"]
    assert clip_files.stream_facts(str(out / "in" / "tone.mp4")) == (
        "h264", NTSC, FRAMES, WIDTH, HEIGHT,
    )  # fmt: skip
    assert clip_files.audio_packets(str(out / "in" / "tone.mp4")) == clip_files.audio_packets(tone)
    assert clip_files.stream_facts(str(out / "in" / "cut.mp4"))[2] == FRAMES
    assert {p.name: p.read_bytes() for p in inputs.iterdir()} == before


def test_cli_temporal_none_and_same_folder_naming(workdir, tmp_path):
    path = clip_files.clip(tmp_path, "zoom", frames=6)
    original = open(path, "rb").read()
    result = run_cli(
        f"--workdir={workdir}",
        f"--output_dir={tmp_path}",
        "--allow_same_dir",
        "--temporal=none",
        "--crf=23",
        path,
        cache_dir="",
    )
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(tmp_path)) == ["zoom.mp4", "zoom_colorized.mp4"]
    assert open(path, "rb").read() == original
    assert clip_files.stream_facts(str(tmp_path / "zoom_colorized.mp4"))[2] == 6


def test_an_exported_models_colorizer_takes_the_same_path(tmp_path):
    metadata = {"color_space": "lab", "stride": 4, "step": 0, "render_size": 32}

    def predict(lightness):  # a NumPy stand-in for the ONNX session: a warm cast
        return np.full((*lightness.shape[:3], 2), [0.15, 0.2], np.float32)

    model = onnx_colorizer.ExportedColorizer(metadata, predict)
    path = clip_files.clip(tmp_path, "zoom", frames=5)
    frames = list(video_io.read_frames(path))
    streamed = list(video.colorize_frames(frames, model, batch_size=2))
    for frame, out in zip(frames, streamed, strict=True):
        assert np.abs(out.astype(int) - model.colorize(frame)).max() <= 1
    result = video.colorize_video(model, path, str(tmp_path / "out.mp4"), progress=False)
    assert result.num_frames == 5
    warm = list(video_io.read_frames(result.output))[2]
    assert (color.rgb2lab(warm)[..., 1:].mean(axis=(0, 1)) > 5).all()


def test_cli_refuses_a_temporal_strength_outside_zero_to_one(tmp_path):
    path = clip_files.clip(tmp_path, "pan", frames=4)
    result = run_cli(
        f"--output_dir={tmp_path / 'out'}", "--temporal_strength=1.5", path, cache_dir=""
    )
    assert result.returncode == 1
    assert "--temporal_strength: temporal strength must be in [0, 1], got 1.5" in result.stderr
    assert not (tmp_path / "out").exists()
