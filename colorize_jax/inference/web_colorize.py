"""What the web app (`colorize_jax.app`) does with uploaded photos, without a browser or Gradio.

An upload is checked (`check_upload`: empty, too large in bytes or pixels, not an image, truncated)
and read as the command line reads files (`photo_files.read_photo`: EXIF orientation, 16-bit,
alpha);
`colorize_uploads` colorizes each readable one with the page's settings and writes its
full-resolution result as `colorize` writes it (same size, lightness and alpha, PNG) into a
folder of the app's temporary directory; the page shows smaller copies (`display_row`). A
Colorizer per setting comes from `SettingsCache`, which shares the model's weights.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from PIL import Image

from colorize_jax.data import decode
from colorize_jax.inference import photo_files, temporal, video, video_io
from colorize_jax.inference.full_resolution import gray_version

DEFAULT_MAX_BYTES = 25 * 2**20
DEFAULT_MAX_PIXELS = 50_000_000
DEFAULT_MAX_VIDEO_BYTES = 500 * 2**20
DISPLAY_SIDE = 768  # the page shows copies whose longer side is at most this
GAP = 8  # white pixels between the images of a display row


class UploadError(ValueError):
    """An upload that cannot be colorized; its message is shown on the page."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """The page's controls: render size (shorter side, px), chroma gain, temperature or None."""

    render_size: int
    chroma_gain: float | None = None
    temperature: float | None = None


@dataclasses.dataclass(frozen=True)
class Controls:
    """What the page offers for a colorizer: defaults, and which decode settings apply."""

    render_size: int
    stride: int
    chroma_gain: float | None  # None: fixed (an exported model)
    vivid_chroma_gain: float | None
    temperature: float | None  # None: the model has no classification head


@dataclasses.dataclass(frozen=True)
class Result:
    """One colorized upload: its name, the full-size images and the written download."""

    name: str
    gray: np.ndarray
    colorized: np.ndarray
    original: np.ndarray | None  # the upload itself when it had colour
    download: str  # PNG path: the full-resolution result, as `colorize` writes it


def controls(colorizer: Any) -> Controls:
    """The defaults of `colorizer` (a `Colorizer` or an exported one) for the page's controls."""
    config, head = getattr(colorizer, "config", None), getattr(colorizer, "head", None)
    if config is None or head is None:  # exported: decode settings fixed at export
        return Controls(colorizer.render_size, colorizer.stride, None, None, None)
    return Controls(
        render_size=colorizer.render_size,
        stride=colorizer.stride,
        chroma_gain=float(head.chroma_gain),
        vivid_chroma_gain=float(config.vivid_chroma_gain),
        temperature=float(head.temperature) if head.classify else None,
    )


class SettingsCache:
    """Colorizers of one model at the settings asked for, the last `size` kept (compiled)."""

    def __init__(self, colorizer: Any, size: int = 4):
        self.colorizer = colorizer
        self.size = size
        self._variants: collections.OrderedDict[Settings, Any] = collections.OrderedDict()

    def get(self, settings: Settings) -> Any:
        """The colorizer at `settings` (ValueError for a setting the model cannot take)."""
        if settings not in self._variants:
            self._variants[settings] = self.colorizer.with_settings(
                render_size=settings.render_size,
                chroma_gain=settings.chroma_gain,
                temperature=settings.temperature,
            )
            while len(self._variants) > self.size:
                self._variants.popitem(last=False)
        self._variants.move_to_end(settings)
        return self._variants[settings]


def check_size(path: str, max_bytes: int) -> None:
    """Raises UploadError when the upload at `path` is missing, empty or over `max_bytes`."""
    name = os.path.basename(path)
    if not os.path.isfile(path):
        raise UploadError(f"{name}: the upload did not arrive; try again")
    size = os.path.getsize(path)
    if size == 0:
        raise UploadError(f"{name}: the file is empty")
    if size > max_bytes:
        raise UploadError(
            f"{name}: {size / 2**20:.1f} MB is over the {max_bytes / 2**20:g} MB limit"
        )


def check_upload(path: str, *, max_bytes: int, max_pixels: int) -> None:
    """Raises UploadError when the file at `path` is missing, empty, too large or has more than
    `max_pixels` pixels by its header (read before decoding, so a huge image costs nothing)."""
    check_size(path, max_bytes)
    name = os.path.basename(path)
    try:
        with Image.open(path) as image:
            width, height = image.size
    except Exception:  # noqa: BLE001 - PIL raises many kinds; reading it says what is wrong
        return
    if width * height > max_pixels:
        raise UploadError(
            f"{name}: {width}x{height} is over the limit of {max_pixels / 1e6:g} megapixels"
        )


def read_upload(path: str, *, max_bytes: int, max_pixels: int) -> photo_files.Photo:
    """The photo of an upload (see `photo_files.read_photo`); UploadError names what is wrong."""
    check_upload(path, max_bytes=max_bytes, max_pixels=max_pixels)
    try:
        return photo_files.read_photo(path)
    except decode.ImageDecodeError as error:
        raise UploadError(upload_message(os.path.basename(path), str(error))) from None


def upload_message(name: str, error: str) -> str:
    """A short page message for a decode error of upload `name` (no server paths in it)."""
    reason = error.split(": ", 1)[-1] if ": " in error else error
    if "cannot identify image file" in reason:
        reason = "not an image this app can read (JPEG, PNG, WebP, BMP, TIFF, ...)"
    elif "truncated" in reason.lower():
        reason = "the image is truncated (an incomplete download or copy?)"
    return f"{name}: {reason}"


def colorize_uploads(
    colorizer: Any,
    paths: Sequence[str],
    output_dir: str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: Callable[[int, str], None] | None = None,
) -> tuple[list[Result], list[str]]:
    """Colorizes the images at `paths` with `colorizer`; returns (results, error messages).

    Each result's download is written into a new folder under `output_dir`, named after its
    upload (NAME_colorized.png, two uploads never sharing a name). `progress(i, name)` is
    called before the i-th upload.
    """
    folder = tempfile.mkdtemp(prefix="result_", dir=output_dir)
    results, errors, stems = [], [], set()
    for index, path in enumerate(paths):
        name = os.path.basename(path)
        if progress is not None:
            progress(index, name)
        try:
            photo = read_upload(path, max_bytes=max_bytes, max_pixels=max_pixels)
        except UploadError as error:
            errors.append(str(error))
            continue
        colorized = colorizer.colorize_batch([photo.rgb])[0]
        stem = photo_files.unique_stem(*os.path.splitext(name), stems)
        stems.add(stem)
        download = os.path.join(folder, f"{stem}_colorized.png")
        photo_files.write_photo(download, colorized, photo.alpha, "png")
        original = photo.rgb if photo.has_colour else None
        results.append(Result(name, gray_version(photo.rgb), colorized, original, download))
    return results, errors


def display_copy(rgb: np.ndarray, side: int = DISPLAY_SIDE) -> np.ndarray:
    """`rgb` shrunk so that its longer side is at most `side` (unchanged if it already is)."""
    height, width = rgb.shape[:2]
    scale = side / max(height, width)
    if scale >= 1:
        return rgb
    shape = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(rgb).resize(shape, Image.LANCZOS))


def display_row(result: Result, side: int = DISPLAY_SIDE) -> np.ndarray:
    """gray | colorized | original (when the upload had colour) side by side, each shrunk."""
    images = [result.gray, result.colorized] + (
        [result.original] if result.original is not None else []
    )
    images = [display_copy(image, side) for image in images]
    height = images[0].shape[0]
    gap = np.full((height, GAP, 3), 255, np.uint8)
    parts = [part for image in images for part in (image, gap)][:-1]
    return np.concatenate(parts, axis=1)


def summary(results: Sequence[Result], errors: Sequence[str]) -> str:
    """The page's status line: what was colorized, and each failure on its own line."""
    lines = []
    if results:
        names = ", ".join(result.name for result in results)
        lines.append(f"Colorized {len(results)} photo{'s' * (len(results) != 1)}: {names}.")
    lines += [f"Not colorized: {error}" for error in errors]
    return "\n\n".join(lines)


def colorize_video_upload(
    colorizer: Any,
    path: str,
    output_dir: str,
    *,
    temporal_mode: str = "flow",
    strength: float = 0.8,
    max_bytes: int = DEFAULT_MAX_VIDEO_BYTES,
    on_frame: Callable[[int, int | None], None] | None = None,
) -> str:
    """Colorizes the uploaded video at `path` as `colorize` does (`video.colorize_video`: same
    size, rate and frame count, audio copied) into a new folder under `output_dir`; returns the
    output's path. UploadError names what is wrong with the upload."""
    check_size(path, max_bytes)
    name = os.path.basename(path)
    try:
        info = video_io.probe(path)
        folder = tempfile.mkdtemp(prefix="video_", dir=output_dir)
        stem = os.path.splitext(name)[0] + "_colorized"
        result = video.colorize_video(
            colorizer,
            path,
            video.output_path(folder, stem, info),
            temporal_mode=temporal_mode,
            settings=temporal.TemporalSettings(strength=strength),
            progress=False,
            info=info,
            on_frame=on_frame,
        )
    except video_io.VideoError as error:
        reason = str(error).replace(path, name)  # no server paths on the page
        raise UploadError(reason) from None
    return result.output
