"""Colorizes videos frame by frame, streamed, with optional temporal consistency.

Any colorizer with `render_shape(height, width)` and `predict_ab(uint8 batch) -> CIELAB (a, b)`
(`full_resolution.Colorizer`, `onnx_colorizer.OnnxColorizer`) colorizes a film as it does
photos: the network sees each frame at the render shape and the colour is joined to that
frame's own full-resolution lightness (`full_resolution.recombine`). With a
`temporal.TemporalFilter` each frame's chroma is first blended with the previous output's,
carried along the optical flow.

Frames stream through: a batch of `batch_size` frames is decoded, predicted, filtered, encoded and
dropped before the next one is read, so memory does not grow with the film's length. The last
batch is padded to `batch_size` (repeating its last frame), so a jit-compiled network sees one
shape per film.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

import av
import jax
import numpy as np
from absl import logging
from tqdm import tqdm

from colorize_jax.inference import full_resolution, stages, temporal, video_io

TEMPORAL_MODES = ("flow", "none")
_join_lightness = jax.jit(full_resolution.join_lightness)


class FrameColorizer(Protocol):
    """What `colorize_frames` needs of a colorizer (`Colorizer` and `OnnxColorizer` have it)."""

    def render_shape(self, height: int, width: int) -> tuple[int, int]: ...

    def predict_ab(self, images: np.ndarray) -> np.ndarray: ...


@dataclasses.dataclass
class Timings:
    """Seconds spent per stage, summed over a film (`network`: resizing and prediction;
    `temporal`: flow, masks and blending; `recombine`: joining colour and lightness, and in
    `colorize_video` encoding). Stages that run in threads of their own overlap."""

    network: float = 0.0
    temporal: float = 0.0
    recombine: float = 0.0


def predict_chroma(
    frames: Iterable[np.ndarray],
    model: FrameColorizer,
    *,
    batch_size: int = 8,
    timings: Timings | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(frame, its predicted CIELAB (a, b) at the render shape) for each uint8 RGB frame."""
    if batch_size < 1:
        raise ValueError(f"batch size must be positive, got {batch_size}")
    timings = timings if timings is not None else Timings()
    iterator = iter(frames)
    while batch := list(itertools.islice(iterator, batch_size)):
        start = time.perf_counter()
        shape = model.render_shape(*batch[0].shape[:2])
        small = [full_resolution.resize_rgb(rgb, shape) for rgb in batch]
        small += [small[-1]] * (batch_size - len(small))
        chroma = np.asarray(model.predict_ab(np.stack(small)))
        timings.network += time.perf_counter() - start
        yield from zip(batch, chroma[: len(batch)], strict=True)


def colorize_frames(
    frames: Iterable[np.ndarray],
    model: FrameColorizer,
    *,
    temporal_filter: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    batch_size: int = 8,
    timings: Timings | None = None,
) -> Iterator[np.ndarray]:
    """Colorizes uint8 RGB `frames` in order, lazily: one (H, W, 3) uint8 RGB per frame.

    Without `temporal_filter` each frame is what `model.colorize` makes of it as a photo.
    """
    timings = timings if timings is not None else Timings()
    for rgb, ab in predict_chroma(frames, model, batch_size=batch_size, timings=timings):
        yield finish_frame(rgb, ab, temporal_filter, timings)


def finish_frame(
    rgb: np.ndarray,
    ab: np.ndarray,
    temporal_filter: Callable[[np.ndarray, np.ndarray], np.ndarray] | None,
    timings: Timings,
) -> np.ndarray:
    """Frame `rgb`'s output from its predicted chroma `ab`: filtered (when there is a filter)
    and joined to the frame's lightness (`recombine_frame`); the seconds go to `timings`."""
    start = time.perf_counter()
    if temporal_filter is not None:
        ab = temporal_filter(rgb, ab)
    middle = time.perf_counter()
    output = recombine_frame(rgb, ab)
    timings.temporal += middle - start
    timings.recombine += time.perf_counter() - middle
    return output


def recombine_frame(rgb: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """`full_resolution.recombine` for a film's frames: the same join of colour and lightness,
    compiled (a film has one frame shape, so it compiles once); within one 8-bit level of it."""
    ab = full_resolution.upsample_ab(ab, *rgb.shape[:2])
    return np.asarray(_join_lightness(rgb, ab))


@dataclasses.dataclass(frozen=True)
class VideoResult:
    """What `colorize_video` did."""

    output: str
    num_frames: int
    seconds: float
    scene_cuts: int  # detected by the temporal filter (0 without one)
    timings: Timings


def output_path(output_dir: str, output_stem: str, info: video_io.VideoInfo, taken=()) -> str:
    """OUTPUT_DIR/STEM.mp4 (.mkv when the audio needs it); STEM_colorized.EXT when that is a
    path in `taken` (the real paths of the inputs), so an input is never overwritten."""
    path = os.path.join(output_dir, output_stem + info.output_extension)
    if os.path.realpath(path) in taken:
        path = os.path.join(output_dir, output_stem + "_colorized" + info.output_extension)
    return path


def colorize_video(
    model: FrameColorizer,
    input_path: str,
    output_path: str,
    *,
    temporal_mode: str = "flow",
    settings: temporal.TemporalSettings | None = None,
    crf: float = video_io.DEFAULT_CRF,
    batch_size: int = 8,
    progress: bool | None = None,
    info: video_io.VideoInfo | None = None,
    on_frame: Callable[[int, int | None], None] | None = None,
) -> VideoResult:
    """Colorizes the video file `input_path` into `output_path` (H.264, same size, exact frame
    rate and count, audio copied; see `video_io.VideoWriter`).

    `temporal_mode` "flow" blends along the optical flow (`settings`), "none" colorizes frame by
    frame. A progress bar (frames/s, ETA) goes to stderr; `progress` None: only on a terminal.
    `on_frame(frames done, frames in the film or None)` is called after each frame is written.
    Raises `video_io.VideoError` (one line naming the file) for a bad input; the output is then
    not written.
    """
    if temporal_mode not in TEMPORAL_MODES:
        raise ValueError(f"unknown temporal mode {temporal_mode!r}: use flow or none")
    info = info or video_io.probe(input_path)
    if info.dropped_audio:
        logging.warning(
            "%s: audio (%s) cannot go in %s unchanged: left out",
            input_path,
            ", ".join(info.dropped_audio),
            info.output_extension,
        )
    filter_ = temporal.TemporalFilter(settings) if temporal_mode == "flow" else None
    timings, start = Timings(), time.perf_counter()
    bar = tqdm(
        total=info.num_frames,
        desc=os.path.basename(input_path),
        unit="frame",
        file=sys.stderr,
        disable=None if progress is None else not progress,
        leave=False,
    )
    frames = stages.read_ahead(_same_size(video_io.read_frames(input_path), info), batch_size)
    try:
        with bar, video_io.VideoWriter(output_path, info, crf=crf) as writer:

            def finish(item: tuple[np.ndarray, np.ndarray]) -> None:
                writer.write(finish_frame(*item, filter_, timings))
                bar.update()
                if on_frame is not None:
                    on_frame(writer.num_frames, info.num_frames)

            # Decoding, the network and the rest (flow, recombining, encoding) in three threads.
            with stages.Consumer(finish, depth=batch_size) as finishing:
                for item in predict_chroma(frames, model, batch_size=batch_size, timings=timings):
                    finishing.put(item)
    except av.FFmpegError as error:  # encoding or muxing; decoding raises VideoError itself
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise video_io.VideoError(
            f"cannot write the colorized {input_path} to {output_path}: {reason}"
        ) from None
    finally:
        frames.close()  # stops the decoding thread when the film ends early
    return VideoResult(
        output=output_path,
        num_frames=writer.num_frames,
        seconds=time.perf_counter() - start,
        scene_cuts=filter_.num_cuts if filter_ is not None else 0,
        timings=timings,
    )


def _same_size(frames: Iterable[np.ndarray], info: video_io.VideoInfo) -> Iterator[np.ndarray]:
    for index, rgb in enumerate(frames):
        if rgb.shape[:2] != (info.height, info.width):
            raise video_io.VideoError(
                f"cannot colorize video {info.path}: frame {index} is {rgb.shape[1]}x"
                f"{rgb.shape[0]}, the stream {info.width}x{info.height} (size changes mid-stream)"
            )
        yield rgb
