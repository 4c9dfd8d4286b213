"""Photo files for colorization: finding the inputs, reading them whole, naming the outputs.

Inputs are files, folders (searched recursively for `data.IMAGE_EXTENSIONS`) and glob patterns.
Each becomes a `PhotoInput` with the relative name its output takes under the output folder, so a
folder's tree is mirrored and two inputs never share an output. Reading keeps what a colorized
copy must keep: the displayed orientation (EXIF applied), the size and the alpha channel.
"""

from __future__ import annotations

import dataclasses
import glob
import os
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageOps

from colorize_jax.data import decode, sources

OUTPUT_FORMATS = {"png": ".png", "jpeg": ".jpg"}


@dataclasses.dataclass(frozen=True)
class PhotoInput:
    """One input file and the path of its output relative to the output folder (no suffix)."""

    path: str
    output_stem: str


@dataclasses.dataclass(frozen=True)
class Photo:
    """A decoded photo: upright RGB, its alpha if it had one, and whether it had colour."""

    rgb: np.ndarray  # (H, W, 3) uint8; of an image with alpha, its colour channels as stored
    alpha: np.ndarray | None  # (H, W) uint8
    has_colour: bool  # False for gray files and RGB files whose three channels are equal


def find_inputs(
    specs: Sequence[str], extensions: tuple[str, ...] = sources.IMAGE_EXTENSIONS
) -> tuple[list[PhotoInput], list[str]]:
    """Expands files, folders and globs into inputs; returns (inputs, errors for bad specs).

    A file named directly is an input whatever its extension (reading it tells whether it is an
    image); folders and globs contribute only files with one of `extensions` (lower case; by
    default the image ones). Duplicates (the same file reached twice) are kept once.
    """
    found: list[tuple[str, str]] = []  # (path, output stem)
    errors = []
    for spec in specs:
        if os.path.isdir(spec):
            files = sources.list_images(spec, extensions)
            if not files:
                errors.append(f"{spec}: folder has no images ({', '.join(extensions)})")
            root = os.path.abspath(spec)
            for path in files:
                relative = os.path.relpath(os.path.abspath(path), root)
                found.append((path, os.path.join(os.path.basename(root), relative)))
        elif os.path.exists(spec):
            found.append((spec, os.path.basename(spec)))
        elif glob.has_magic(spec):
            matches = sorted(glob.glob(spec, recursive=True))
            images = [p for p in matches if p.lower().endswith(extensions)]
            if not images:
                errors.append(f"{spec}: pattern matches no image files")
            found += [(path, os.path.basename(path)) for path in images if os.path.isfile(path)]
        else:
            errors.append(f"{spec}: no such file or folder")
    inputs, seen, stems = [], set(), set()
    for path, name in found:
        key = os.path.realpath(path)
        if key in seen:
            continue
        seen.add(key)
        stem = unique_stem(os.path.splitext(name)[0], os.path.splitext(name)[1], stems)
        stems.add(stem)
        inputs.append(PhotoInput(path, stem))
    return inputs, errors


def unique_stem(stem: str, extension: str, taken: set[str]) -> str:
    """`stem`, or `stem_EXT` (then `stem_EXT_2`, ...) when an earlier input took that stem."""
    if stem not in taken:
        return stem
    candidate = f"{stem}_{extension.lstrip('.').lower()}" if extension else f"{stem}_"
    number, unique = 2, candidate
    while unique in taken:
        unique, number = f"{candidate}_{number}", number + 1
    return unique


def check_output_dir(inputs: Sequence[PhotoInput], output_dir: str, *, allow_same_dir: bool):
    """Raises ValueError when `output_dir` is the folder of an input, unless allowed."""
    out = os.path.realpath(output_dir)
    if not allow_same_dir:
        for photo in inputs:
            folder = os.path.dirname(os.path.realpath(photo.path))
            if folder == out:
                raise ValueError(
                    f"--output_dir {output_dir} holds the input {photo.path}: choose another "
                    "folder, or pass --allow_same_dir (inputs are never overwritten)"
                )


def output_path(photo: PhotoInput, output_dir: str, fmt: str, suffix: str = "") -> str:
    """Where the output of `photo` goes (`suffix` e.g. "_compare" for the comparison sheet)."""
    if fmt not in OUTPUT_FORMATS:
        raise ValueError(f"unknown output format {fmt!r}: use one of {', '.join(OUTPUT_FORMATS)}")
    return os.path.join(output_dir, photo.output_stem + suffix + OUTPUT_FORMATS[fmt])


def read_photo(path: str) -> Photo:
    """Reads any image file upright (EXIF orientation applied); raises decode.ImageDecodeError.

    Gray, palette, 16-bit, CMYK and RGBA files all become 8-bit RGB (see `data.decode`). The
    alpha channel, if any, is returned separately and the colour channels are kept as stored
    (not composited), so that the output with the same alpha looks like the input recoloured.
    """
    if os.path.isdir(path) or not os.path.exists(path):
        raise decode.ImageDecodeError(f"cannot read {path}: no such file")
    if os.path.getsize(path) == 0:
        raise decode.ImageDecodeError(f"cannot decode image {path}: the file is empty")
    try:
        with Image.open(path) as image:
            image.load()
            image = ImageOps.exif_transpose(image)
            alpha = _alpha(image)
            mode = image.mode
            if alpha is not None:
                image = image.convert("RGBA").convert("RGB")  # drops alpha, keeps the colours
            rgb = decode.decode_image(image, name=path)
    except decode.ImageDecodeError:
        raise
    except Exception as e:  # PIL raises many types for bad files; see data.decode
        raise decode.ImageDecodeError(f"cannot decode image {path}: {e}") from e
    if rgb.size == 0:
        raise decode.ImageDecodeError(f"cannot decode image {path}: it has zero pixels")
    gray_mode = mode in ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")
    has_colour = not gray_mode and not (
        np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2])
    )
    return Photo(rgb=rgb, alpha=alpha, has_colour=has_colour)


def header_size(photo: PhotoInput) -> tuple[int, int]:
    """(shorter, longer) side from the file's header without decoding it; (0, 0) if unreadable."""
    try:
        with Image.open(photo.path) as image:
            return tuple(sorted(image.size))
    except Exception:  # reported when the file is read for real
        return (0, 0)


def write_photo(path: str, rgb: np.ndarray, alpha: np.ndarray | None, fmt: str) -> None:
    """Writes uint8 RGB (plus alpha, PNG only: JPEG has none) to `path`, creating its folder."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    image = Image.fromarray(rgb)
    if alpha is not None and fmt == "png":
        image = Image.fromarray(np.dstack([rgb, alpha]), mode="RGBA")
    temporary = path + ".partial"
    image.save(temporary, format="PNG" if fmt == "png" else "JPEG", quality=95)
    os.replace(temporary, path)  # a killed run never leaves a half-written output


def _alpha(image: Image.Image) -> np.ndarray | None:
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        return np.asarray(image.convert("RGBA"))[..., 3].copy()
    return None
