"""Makes colour test clips with known motion from scikit-image's photos, encoded with PyAV.

  python -m colorize_jax.tools.make_test_clips --output_dir=clips [--width=640 --height=360
      --seconds=3 --rate=30000/1001]

Clips (`CLIPS`), each `seconds` long at the exact rate `rate`:
  pan     a window sliding right across `coffee` at `pan_speed` pixels per frame
  zoom    a window shrinking about the centre of `chelsea` (to 60% of its width at the end)
  object  a square cut from `rocket` moving diagonally over `astronaut`, (2, 1) px per frame
          (scaled with the clip's height; the background is still)
  cut     a slow pan across `astronaut`, then a hard cut to a slow pan across `coffee`
  tone    the pan, with a 440 Hz sine tone as an AAC audio track (for the audio copy)

The frame functions (`pan_frames`, ...) are generators of uint8 RGB frames; `write_clip` encodes
any frames (H.264 at CRF 12 in mp4 by default; the container follows the file's extension, so
mov, mkv, avi (MPEG-4 part 2) and webm (VP9) test the reader).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from fractions import Fraction

import av
import cv2
import numpy as np
from absl import flags

CLIPS = ("pan", "zoom", "object", "cut", "tone")
TONE_HZ, SAMPLE_RATE = 440.0, 48000
# Video codec and pixel format per container: what each conventionally carries.
CODECS = {
    ".mp4": ("libx264", "yuv420p"),
    ".mov": ("libx264", "yuv420p"),
    ".mkv": ("libx264", "yuv420p"),
    ".avi": ("mpeg4", "yuv420p"),
    ".webm": ("libvpx-vp9", "yuv420p"),
}
FORMATS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi", ".webm": "webm"}


def photo(name: str) -> np.ndarray:
    """scikit-image's colour photo `name` ("coffee", "chelsea", "astronaut", "rocket") as RGB."""
    import skimage.data

    return np.ascontiguousarray(getattr(skimage.data, name)()[..., :3])


def _fit(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """`image` scaled (keeping its aspect) so that it covers height x width at least."""
    scale = max(height / image.shape[0], width / image.shape[1])
    size = (max(width, round(image.shape[1] * scale)), max(height, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def pan_frames(
    image: np.ndarray, width: int, height: int, num_frames: int, speed: int = 2
) -> Iterator[np.ndarray]:
    """A width x height window moving right by `speed` whole pixels per frame across `image`
    (scaled so the window never leaves it): the flow from frame t+1 to t is (+speed, 0)."""
    travel = speed * (num_frames - 1)
    scale = max(height / image.shape[0], (width + travel) / image.shape[1])
    size = (round(image.shape[1] * scale) + 1, round(image.shape[0] * scale) + 1)
    big = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    top = (big.shape[0] - height) // 2
    for t in range(num_frames):
        yield big[top : top + height, speed * t : speed * t + width].copy()


def zoom_frames(
    image: np.ndarray, width: int, height: int, num_frames: int, end_scale: float = 0.6
) -> Iterator[np.ndarray]:
    """A centred window shrinking linearly to `end_scale` of its size, shown at width x height."""
    big = _fit(image, height, width)
    cy, cx = big.shape[0] / 2, big.shape[1] / 2
    for t in range(num_frames):
        scale = 1.0 + (end_scale - 1.0) * t / max(1, num_frames - 1)
        half_w, half_h = width * scale / 2, height * scale / 2
        # An affine map from the output frame to the window: sub-pixel exact, no rounding jitter.
        matrix = np.float32([[scale, 0, cx - half_w], [0, scale, cy - half_h]])
        yield cv2.warpAffine(
            big, matrix, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        )


def object_frames(
    background: np.ndarray, thing: np.ndarray, width: int, height: int, num_frames: int
) -> Iterator[np.ndarray]:
    """A square cut from `thing` (a third of the height) moving over a still `background` by
    (2, 1) pixels per frame at 360 lines (scaled with `height`, at least (1, 1))."""
    scene = _fit(background, height, width)[:height, :width]
    side = max(4, height // 3)
    square = cv2.resize(_fit(thing, side, side)[:side, :side], (side, side))
    step_x = max(1, round(2 * height / 360))
    step_y = max(1, round(height / 360))
    for t in range(num_frames):
        frame = scene.copy()
        x = (4 + step_x * t) % max(1, width - side)
        y = (4 + step_y * t) % max(1, height - side)
        frame[y : y + side, x : x + side] = square
        yield frame


def cut_frames(
    first: np.ndarray, second: np.ndarray, width: int, height: int, num_frames: int
) -> Iterator[np.ndarray]:
    """A one-pixel-per-frame pan across `first`, then (at num_frames // 2) across `second`."""
    half = num_frames // 2
    yield from pan_frames(first, width, height, half, speed=1)
    yield from pan_frames(second, width, height, num_frames - half, speed=1)


def clip_frames(name: str, width: int, height: int, num_frames: int) -> Iterator[np.ndarray]:
    """The frames of clip `name` (one of `CLIPS`)."""
    speed = max(1, round(2 * height / 360))
    if name in ("pan", "tone"):
        return pan_frames(photo("coffee"), width, height, num_frames, speed)
    if name == "zoom":
        return zoom_frames(photo("chelsea"), width, height, num_frames)
    if name == "object":
        return object_frames(photo("astronaut"), photo("rocket"), width, height, num_frames)
    if name == "cut":
        return cut_frames(photo("astronaut"), photo("coffee"), width, height, num_frames)
    raise ValueError(f"unknown clip {name!r}: one of {', '.join(CLIPS)}")


def tone(seconds: float, hz: float = TONE_HZ, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A sine tone, (1, samples) float32 in [-0.3, 0.3]."""
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)[None]


def write_clip(
    path: str,
    frames: Iterable[np.ndarray],
    rate: Fraction | int = Fraction(30000, 1001),
    *,
    crf: int = 12,
    audio: np.ndarray | None = None,
) -> int:
    """Encodes uint8 RGB `frames` at the exact `rate` (`CODECS` by the extension); `audio`
    (1, samples) float32 at 48 kHz becomes an AAC track. Returns the number of frames."""
    extension = os.path.splitext(path)[1].lower()
    codec, pix_fmt = CODECS[extension]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    count = 0
    with av.open(path, "w", format=FORMATS[extension]) as output:
        stream = output.add_stream(codec, rate=Fraction(rate))
        stream.pix_fmt = pix_fmt
        stream.options = {"crf": str(crf)} if codec == "libx264" else {"qscale": "2"}
        if codec == "libvpx-vp9":
            stream.options = {"crf": str(crf + 10), "b": "0", "deadline": "realtime"}
        audio_stream = None
        if audio is not None:
            audio_stream = output.add_stream("aac", rate=SAMPLE_RATE)
            audio_stream.layout = "mono"
        for rgb in frames:
            if count == 0:
                stream.height, stream.width = rgb.shape[:2]
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.pts = count
            output.mux(stream.encode(frame))
            count += 1
        output.mux(stream.encode(None))
        if audio_stream is not None:
            sound = av.AudioFrame.from_ndarray(audio, format="flt", layout="mono")
            sound.sample_rate, sound.pts = SAMPLE_RATE, 0
            output.mux(audio_stream.encode(sound))
            output.mux(audio_stream.encode(None))
    return count


def make_clips(
    output_dir: str,
    *,
    width: int = 640,
    height: int = 360,
    num_frames: int = 90,
    rate: Fraction = Fraction(30000, 1001),
    names: Iterable[str] = CLIPS,
) -> dict[str, str]:
    """Writes each clip of `names` as OUTPUT_DIR/NAME.mp4; returns {name: path}."""
    paths = {}
    for name in names:
        path = os.path.join(output_dir, f"{name}.mp4")
        audio = tone(num_frames / rate) if name == "tone" else None
        write_clip(path, clip_frames(name, width, height, num_frames), rate, audio=audio)
        paths[name] = path
    return paths


def define_flags() -> None:
    """The command line's flags; defined when run as a program, so that importing is free."""
    flags.DEFINE_string("output_dir", "runs/test_clips", "Folder for the clips.")
    flags.DEFINE_integer("width", 640, "Frame width.")
    flags.DEFINE_integer("height", 360, "Frame height.")
    flags.DEFINE_float("seconds", 3.0, "Length of each clip.")
    flags.DEFINE_string("rate", "30000/1001", "Frame rate, exact (a fraction).")
    flags.DEFINE_list("clips", list(CLIPS), "Which clips.")


def main(argv: list[str]) -> None:
    del argv
    flags_ = flags.FLAGS
    rate = Fraction(flags_.rate)
    paths = make_clips(
        flags_.output_dir,
        width=flags_.width,
        height=flags_.height,
        num_frames=round(flags_.seconds * rate),
        rate=rate,
        names=flags_.clips,
    )
    for name, path in paths.items():
        print(f"{name}: {path}")


def run() -> None:
    """Runs the command line (also the console script `colorize-jax-make-test-clips`)."""
    from colorize_jax.runtime import cli  # imported when run, so that importing stays free

    cli.run(main, "colorize_jax.tools.make_test_clips", define_flags=define_flags)


if __name__ == "__main__":
    run()
