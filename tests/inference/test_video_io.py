"""Tests of colorize_jax.inference.video_io and the test clips of tools.make_test_clips."""

from __future__ import annotations

import os
from fractions import Fraction

import av
import numpy as np
import pytest

from colorize_jax.inference import video_io
from colorize_jax.tools import make_test_clips
from tests.inference import clip_files
from tests.inference.clip_files import FRAMES, HEIGHT, NTSC, WIDTH


def test_every_container_is_read_with_its_exact_rate_and_frame_count(tmp_path):
    source = list(make_test_clips.clip_frames("pan", WIDTH, HEIGHT, 10))
    for extension in (".mp4", ".mov", ".mkv", ".avi", ".webm"):
        path = str(tmp_path / f"pan{extension}")
        make_test_clips.write_clip(path, source, NTSC)
        info = video_io.probe(path)
        assert (info.width, info.height, info.rate) == (WIDTH, HEIGHT, NTSC), extension
        frames = list(video_io.read_frames(path))
        assert len(frames) == 10, extension
        assert frames[0].shape == (HEIGHT, WIDTH, 3) and frames[0].dtype == np.uint8
        assert clip_files.mean_difference(frames[5], source[5]) < 8, extension
        assert video_io.is_video_path(path)


def test_writer_keeps_size_exact_rate_and_count_and_the_colours(tmp_path):
    path = clip_files.clip(tmp_path, "zoom")
    info = video_io.probe(path)
    frames = list(video_io.read_frames(path))
    output = str(tmp_path / "out" / "zoom.mp4")
    with video_io.VideoWriter(output, info, crf=10) as writer:
        for rgb in frames:
            writer.write(rgb)
            assert not os.path.exists(output)  # written under a temporary name until the end
    assert os.listdir(tmp_path / "out") == ["zoom.mp4"]
    assert clip_files.stream_facts(output) == ("h264", NTSC, FRAMES, WIDTH, HEIGHT)
    again = list(video_io.read_frames(output))
    assert max(clip_files.mean_difference(a, b) for a, b in zip(again, frames, strict=True)) < 3


def test_odd_sizes_and_other_rates_are_kept(tmp_path):
    frames = [np.full((47, 63, 3), 40 * i, np.uint8) for i in range(5)]
    info = video_io.VideoInfo(
        path="", width=63, height=47, rate=Fraction(24000, 1001), num_frames=None, codec="",
        start=0.0,
    )  # fmt: skip
    output = str(tmp_path / "odd.mp4")
    with video_io.VideoWriter(output, info, copy_audio=False) as writer:
        for rgb in frames:
            writer.write(rgb)
    assert clip_files.stream_facts(output) == ("h264", Fraction(24000, 1001), 5, 63, 47)
    with pytest.raises(ValueError, match="expected"):
        with video_io.VideoWriter(str(tmp_path / "x.mp4"), info, copy_audio=False) as writer:
            writer.write(np.zeros((48, 64, 3), np.uint8))
    assert os.listdir(tmp_path) == ["odd.mp4"]  # the failed one left nothing behind


def test_audio_is_copied_bit_for_bit(tmp_path):
    path = clip_files.clip(tmp_path, "tone", frames=24)
    info = video_io.probe(path)
    assert info.audio_codecs == ("aac",) and info.audio_kept == (True,)
    assert info.output_extension == ".mp4"
    output = str(tmp_path / "tone_out.mp4")
    with video_io.VideoWriter(output, info) as writer:
        for rgb in video_io.read_frames(path):
            writer.write(255 - rgb)
    copied, original = clip_files.audio_packets(output), clip_files.audio_packets(path)
    assert len(original) > 20 and copied == original  # bytes and timestamps
    assert clip_files.stream_facts(output)[:3] == ("h264", NTSC, 24)


def copy(path: str, output_dir) -> str:
    info = video_io.probe(path)
    output = os.path.join(output_dir, "copy" + info.output_extension)
    with video_io.VideoWriter(output, info) as writer:
        for rgb in video_io.read_frames(path):
            writer.write(rgb)
    return output


def test_audio_an_mp4_cannot_carry_goes_in_matroska_or_is_left_out(tmp_path):
    pcm = clip_files.with_audio(tmp_path, ".mkv", "pcm_u8")  # Matroska carries it, mp4 not
    info = video_io.probe(pcm)
    assert info.output_extension == ".mkv" and info.dropped_audio == ()
    output = copy(pcm, tmp_path / "pcm")
    assert output.endswith("copy.mkv")
    assert clip_files.audio_packets(output) == clip_files.audio_packets(pcm)
    assert clip_files.stream_facts(output)[:3] == ("h264", 25, 6)
    adpcm = clip_files.with_audio(tmp_path, ".avi", "adpcm_ms")  # neither does
    info = video_io.probe(adpcm)
    assert info.output_extension == ".mp4" and info.dropped_audio == ("adpcm_ms",)
    output = copy(adpcm, tmp_path / "adpcm")
    with av.open(output) as container:
        assert [s.type for s in container.streams] == ["video"]


def test_an_interrupted_write_leaves_no_file(tmp_path):
    path = clip_files.clip(tmp_path, "pan", frames=6)
    before = open(path, "rb").read()
    output = str(tmp_path / "out.mp4")
    with pytest.raises(KeyboardInterrupt):
        with video_io.VideoWriter(output, video_io.probe(path)) as writer:
            for index, rgb in enumerate(video_io.read_frames(path)):
                writer.write(rgb)
                if index == 3:
                    raise KeyboardInterrupt
    assert sorted(os.listdir(tmp_path)) == ["pan.mp4"]
    assert open(path, "rb").read() == before
    with pytest.raises(ValueError, match="it is the input"):
        video_io.VideoWriter(path, video_io.probe(path))


@pytest.mark.parametrize(
    "make, reason",
    [
        (clip_files.not_a_video, "not a video file, or truncated"),
        (clip_files.truncated, "not a video file, or truncated"),
        (clip_files.audio_only, "no video stream (streams: audio)"),
        (clip_files.unknown_codec, "unsupported codec"),
        (lambda folder: str(folder / "missing.mp4"), "no such file"),
    ],
)
def test_bad_inputs_are_one_line_errors_naming_the_file(tmp_path, make, reason):
    path = make(tmp_path)
    for read in (video_io.probe, lambda p: list(video_io.read_frames(p))):
        with pytest.raises(video_io.VideoError) as error:
            read(path)
        message = str(error.value)
        assert path in message and reason in message and "\n" not in message


def test_a_file_that_ends_early_is_reported_after_its_frames(tmp_path):
    # moov at the front (as VideoWriter writes): the file opens, then its frames run out.
    source = clip_files.clip(tmp_path, "pan")
    whole = str(tmp_path / "whole.mp4")
    with video_io.VideoWriter(whole, video_io.probe(source)) as writer:
        for rgb in video_io.read_frames(source):
            writer.write(rgb)
    data = open(whole, "rb").read()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(video_io.VideoError, match="truncated or damaged") as error:
        list(video_io.read_frames(str(cut)))
    assert str(cut) in str(error.value)


def test_the_pan_clip_moves_as_stated():
    frames = list(make_test_clips.pan_frames(make_test_clips.photo("coffee"), 40, 30, 4, speed=3))
    np.testing.assert_array_equal(frames[1][:, :-3], frames[0][:, 3:])
    cut = list(make_test_clips.clip_frames("cut", 40, 30, 8))
    assert clip_files.mean_difference(cut[3], cut[4]) > 20  # the hard cut
    np.testing.assert_array_equal(cut[5][:, :-1], cut[4][:, 1:])  # one pixel a frame


@pytest.mark.parametrize("degrees", [90, -90, 180])
def test_a_phone_videos_display_rotation_is_applied(tmp_path, degrees):
    source = list(make_test_clips.clip_frames("object", WIDTH, HEIGHT, 4))
    path = str(tmp_path / "rotated.mp4")
    with av.open(path, "w") as output:
        stream = output.add_stream("libx264", rate=25, options={"crf": "10"})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.set_display_rotation(degrees)  # counter-clockwise, as phones record it
        for index, rgb in enumerate(source):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = index
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))

    info = video_io.probe(path)
    upright = [np.rot90(rgb, degrees // 90) for rgb in source]  # np.rot90: counter-clockwise
    assert (info.height, info.width) == upright[0].shape[:2]
    assert info.rotation == degrees % 360
    frames = list(video_io.read_frames(path))
    assert [f.shape for f in frames] == [u.shape for u in upright]
    assert clip_files.mean_difference(frames[2], upright[2]) < 6
    assert clip_files.mean_difference(frames[2], np.rot90(upright[2], 2)) > 20  # not turned over

    output = str(tmp_path / "upright.mp4")  # written upright, without a rotation to apply
    with video_io.VideoWriter(output, info) as writer:
        for rgb in frames:
            writer.write(rgb)
    again = video_io.probe(output)
    assert (again.width, again.height, again.rotation) == (info.width, info.height, 0)
