"""Decoding any common image file (bytes, path or array) into an 8-bit RGB image.

Every input kind ends as RGB with 8 bits per channel, upright:

- EXIF orientation is applied (phone photos are stored sideways with a rotation tag);
- grayscale (L, 1, I;16, I, F) is replicated to three channels;
- 16-bit and 32-bit integer data are rescaled from 0..65535 to 0..255 (rounded; PIL would clip);
- float data are taken as 0..1 when their maximum is at most 1, else as 0..255;
- transparency (RGBA, LA, PA, palette with a transparent colour) is composited on white, so that
  transparent regions look like the page they would be shown on instead of arbitrary colours;
- palette, CMYK, YCbCr and the other PIL modes are converted by PIL.

Anything PIL cannot read (corrupt, truncated, empty or not an image at all) raises
`ImageDecodeError`, whose message names the file.

For speed, `open_rgb` can ask the JPEG decoder for a reduced-size image (`Image.draft`, which
decodes at 1/2, 1/4 or 1/8 scale in the DCT domain) when the caller needs only a smaller image.
"""

from __future__ import annotations

import io
import os

import numpy as np
from PIL import Image, ImageOps

ImageInput = bytes | str | os.PathLike | np.ndarray | Image.Image

_WHITE = 255


class ImageDecodeError(ValueError):
    """An image that cannot be read: corrupt, truncated, empty, missing or not an image."""


def open_rgb(
    data: ImageInput, *, name: str | None = None, min_size: int | None = None
) -> Image.Image:
    """Returns `data` as an upright 8-bit RGB PIL image.

    Args:
      data: encoded bytes, a file path, a numpy array (HxW, HxWx1, HxWx3 or HxWx4) or a PIL image.
      name: how to call the image in error messages (defaults to the path, if any).
      min_size: if given, JPEGs may be decoded at a reduced scale as long as both sides stay at
        least `min_size` pixels (EXIF rotation does not matter: the bound is the same for both).

    Raises:
      ImageDecodeError: the data cannot be decoded.
    """
    if name is None:
        name = os.fspath(data) if isinstance(data, str | os.PathLike) else "<image data>"
    if isinstance(data, np.ndarray):
        return _array_to_image(data, name)
    if isinstance(data, Image.Image):
        return _to_rgb(data, name)
    try:
        source = io.BytesIO(data) if isinstance(data, bytes) else data
        with Image.open(source) as image:
            if min_size:
                image.draft(None, (min_size, min_size))
            image.load()
            ImageOps.exif_transpose(image, in_place=True)
            return _to_rgb(image, name)
    except ImageDecodeError:
        raise
    except Exception as e:
        # Mostly OSError (unidentified, truncated or missing files), but corrupt headers of some
        # formats raise SyntaxError, ValueError, EOFError or struct.error, and huge images
        # DecompressionBombError: a bad file among millions must not stop a run, so anything
        # raised while reading means "unreadable".
        raise ImageDecodeError(f"cannot decode image {name}: {e}") from e


def decode_image(
    data: ImageInput, *, name: str | None = None, min_size: int | None = None
) -> np.ndarray:
    """Returns `data` decoded as a uint8 array of shape (height, width, 3); see `open_rgb`."""
    return np.asarray(open_rgb(data, name=name, min_size=min_size))


def _to_rgb(image: Image.Image, name: str) -> Image.Image:
    """Converts a loaded PIL image of any mode to 8-bit RGB."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode.startswith("I") or mode == "F":
        return _array_to_image(np.asarray(image), name)
    if mode == "P":
        has_alpha = "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
        mode = image.mode
    if mode in ("RGBA", "LA", "PA", "RGBa"):
        return _composite_on_white(np.asarray(image.convert("RGBA")))
    try:
        return image.convert("RGB")
    except ValueError as e:
        raise ImageDecodeError(f"cannot convert image {name} from mode {mode} to RGB") from e


def _array_to_image(array: np.ndarray, name: str) -> Image.Image:
    """Converts an HxW, HxWx1, HxWx3 or HxWx4 array of any numeric dtype to an RGB image."""
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise ImageDecodeError(f"image {name} has unsupported shape {array.shape}")
    array = _to_uint8(array)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    if array.shape[-1] == 4:
        return _composite_on_white(array)
    return Image.fromarray(np.ascontiguousarray(array))


def _to_uint8(array: np.ndarray) -> np.ndarray:
    """Rescales integer, boolean or float pixel data to uint8 (see the module docstring)."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if np.issubdtype(array.dtype, np.integer):
        # 16-bit range; 32-bit integer images (PIL mode I) hold 16-bit data in practice.
        wide = np.clip(array.astype(np.int64), 0, 65535)
        return ((wide * 255 + 32767) // 65535).astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating):
        values = np.nan_to_num(array.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        if values.size and values.max() <= 1.0:
            values = values * 255.0
        return np.clip(np.round(values), 0, 255).astype(np.uint8)
    raise ImageDecodeError(f"unsupported pixel type {array.dtype}")


def _composite_on_white(rgba: np.ndarray) -> Image.Image:
    """Blends an HxWx4 uint8 array over a white background (integer, rounded)."""
    rgb = rgba[..., :3].astype(np.uint16)
    alpha = rgba[..., 3:].astype(np.uint16)
    blended = (rgb * alpha + _WHITE * (255 - alpha) + 127) // 255
    return Image.fromarray(blended.astype(np.uint8))
