"""Tiny video files for the video tests: good clips from `tools.make_test_clips`, and bad ones."""

from __future__ import annotations

import os
from fractions import Fraction

import av
import numpy as np

from colorize_jax.tools import make_test_clips

WIDTH, HEIGHT, FRAMES = 64, 48, 16
NTSC = Fraction(30000, 1001)


def clip(folder, name: str = "pan", extension: str = ".mp4", *, frames: int = FRAMES) -> str:
    """Clip `name` of `make_test_clips` (64x48 at 30000/1001), with its tone for "tone"."""
    path = os.path.join(folder, f"{name}{extension}")
    audio = make_test_clips.tone(frames / NTSC) if name == "tone" else None
    source = make_test_clips.clip_frames(name, WIDTH, HEIGHT, frames)
    make_test_clips.write_clip(path, source, NTSC, audio=audio)
    return path


def with_audio(folder, extension: str, codec: str) -> str:
    """Six frames of the pan clip (64x48 at 25 fps) with a 0.24 s tone in audio codec `codec`."""
    path = os.path.join(folder, f"{codec}{extension}")
    with av.open(path, "w") as output:
        video = output.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        audio = output.add_stream(codec, rate=make_test_clips.SAMPLE_RATE)
        audio.layout = "mono"
        for index, rgb in enumerate(make_test_clips.clip_frames("pan", WIDTH, HEIGHT, 6)):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = index
            output.mux(video.encode(frame))
        output.mux(video.encode(None))
        samples = (make_test_clips.tone(0.24) * 32767).astype(np.int16)
        sound = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        sound.sample_rate, sound.pts = make_test_clips.SAMPLE_RATE, 0
        output.mux(audio.encode(sound))
        output.mux(audio.encode(None))
    return path


def audio_only(folder) -> str:
    """An mp4 holding only an AAC tone."""
    path = os.path.join(folder, "audio_only.mp4")
    with av.open(path, "w") as output:
        stream = output.add_stream("aac", rate=make_test_clips.SAMPLE_RATE)
        stream.layout = "mono"
        sound = av.AudioFrame.from_ndarray(make_test_clips.tone(0.5), format="flt", layout="mono")
        sound.sample_rate, sound.pts = make_test_clips.SAMPLE_RATE, 0
        output.mux(stream.encode(sound))
        output.mux(stream.encode(None))
    return path


def unknown_codec(folder) -> str:
    """The pan clip with its H.264 sample entry renamed 'zzzz': a codec FFmpeg does not know."""
    data = open(clip(folder, "pan", frames=6), "rb").read()
    path = os.path.join(folder, "unknown_codec.mp4")
    with open(path, "wb") as f:
        f.write(data.replace(b"avc1", b"zzzz"))
    return path


def truncated(folder) -> str:
    """The first half of an mp4 whose index (moov) is at its end."""
    data = open(clip(folder, "zoom", frames=8), "rb").read()
    path = os.path.join(folder, "truncated.mp4")
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
    return path


def not_a_video(folder) -> str:
    path = os.path.join(folder, "notes.mp4")
    with open(path, "w") as f:
        f.write("not a video\n" * 20)
    return path


def audio_packets(path: str) -> list[tuple[bytes, int | None]]:
    """(bytes, pts) of every audio packet of `path`, in order."""
    with av.open(path) as container:
        stream = container.streams.audio[0]
        return [(bytes(p), p.pts) for p in container.demux(stream) if p.size]


def stream_facts(path: str) -> tuple[str, Fraction, int, int, int]:
    """(video codec, average rate, frames decoded, width, height) of `path`."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        count = sum(1 for _ in container.decode(stream))
        context = stream.codec_context
        return context.name, stream.average_rate, count, context.width, context.height


def mean_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(a.astype(np.int16) - b.astype(np.int16))))
