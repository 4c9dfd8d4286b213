"""Tests of image decoding: every file kind and pixel mode against hand-made expectations."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from colorize_jax.data.decode import ImageDecodeError, decode_image, open_rgb


def _pattern(height=24, width=32):
    """A smooth colour image (compresses well, so lossy formats stay close)."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack(
        [x * 255 // (width - 1), y * 255 // (height - 1), (x + y) * 255 // (width + height - 2)],
        axis=-1,
    ).astype(np.uint8)


def _save(tmp_path, name, image, **options):
    path = tmp_path / name
    image.save(path, **options)
    return path


def _png_rgb16(array):
    """A 48-bit RGB PNG written by hand (PIL cannot write 16-bit RGB)."""
    height, width, _ = array.shape
    rows = b"".join(b"\x00" + array[i].astype(">u2").tobytes() for i in range(height))

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("a.png", {}),
        ("a.bmp", {}),
        ("a.tif", {}),
        ("a.tiff", {"compression": "tiff_lzw"}),
        ("a.webp", {"lossless": True}),
    ],
)
def test_lossless_formats_decode_exactly(tmp_path, name, options):
    pixels = _pattern()
    path = _save(tmp_path, name, Image.fromarray(pixels), **options)
    decoded = decode_image(path)
    assert decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded, pixels)


@pytest.mark.parametrize(("name", "options"), [("a.jpg", {"quality": 95}), ("a.webp", {})])
def test_lossy_formats_decode_close_to_the_original(tmp_path, name, options):
    pixels = _pattern()
    path = _save(tmp_path, name, Image.fromarray(pixels), **options)
    decoded = decode_image(str(path))
    assert decoded.shape == pixels.shape and decoded.dtype == np.uint8
    assert np.abs(decoded.astype(int) - pixels).mean() < 3


def test_bytes_path_and_upper_case_extension_agree(tmp_path):
    path = _save(tmp_path, "A.JPEG", Image.fromarray(_pattern()), format="JPEG")
    np.testing.assert_array_equal(decode_image(path.read_bytes()), decode_image(path))


def test_grayscale_is_replicated_to_three_channels(tmp_path):
    gray = _pattern()[..., 0]
    decoded = decode_image(_save(tmp_path, "g.png", Image.fromarray(gray)))
    np.testing.assert_array_equal(decoded, np.repeat(gray[..., None], 3, axis=-1))


def test_bilevel_image(tmp_path):
    bits = _pattern()[..., 0] > 128
    decoded = decode_image(_save(tmp_path, "b.png", Image.fromarray(bits)))
    np.testing.assert_array_equal(decoded[..., 1], np.where(bits, 255, 0))


def test_rgba_is_composited_on_white(tmp_path):
    rgb = _pattern().astype(float)
    alpha = np.linspace(0, 255, rgb.shape[1]).round()[None, :].repeat(rgb.shape[0], 0)
    rgba = np.concatenate([rgb, alpha[..., None]], axis=-1).astype(np.uint8)
    decoded = decode_image(_save(tmp_path, "rgba.png", Image.fromarray(rgba)))
    a = alpha[..., None] / 255
    expected = rgb * a + 255 * (1 - a)
    assert np.abs(decoded - expected).max() <= 0.5 + 1e-9
    np.testing.assert_array_equal(decoded[:, 0], 255)  # fully transparent column: white
    np.testing.assert_array_equal(decoded[:, -1], _pattern()[:, -1])  # opaque column: as is


def test_gray_with_alpha(tmp_path):
    la = Image.merge("LA", [Image.new("L", (4, 3), 100), Image.new("L", (4, 3), 0)])
    np.testing.assert_array_equal(decode_image(_save(tmp_path, "la.png", la)), 255)


def test_palette_images_map_through_the_palette(tmp_path):
    palette = np.array([[255, 0, 0], [0, 128, 0], [10, 20, 30]], np.uint8)
    indices = np.array([[0, 1, 2, 1], [2, 2, 0, 0]], np.uint8)
    image = Image.fromarray(indices, mode="P")
    image.putpalette(palette.ravel().tolist())
    decoded = decode_image(_save(tmp_path, "p.png", image))
    np.testing.assert_array_equal(decoded, palette[indices])
    # With a transparent palette entry, that entry becomes white.
    decoded = decode_image(_save(tmp_path, "pt.png", image, transparency=1))
    expected = palette[indices].copy()
    expected[indices == 1] = 255
    np.testing.assert_array_equal(decoded, expected)


def test_gif_palette(tmp_path):
    image = Image.fromarray(_pattern()).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    decoded = decode_image(_save(tmp_path, "a.gif", image))
    np.testing.assert_array_equal(decoded, np.asarray(image.convert("RGB")))


def test_16_bit_grayscale_is_rescaled(tmp_path):
    values = np.array([[0, 1, 128, 129], [257, 32767, 65534, 65535]], np.uint16)
    expected = np.round(values.astype(float) * 255 / 65535)
    for name in ("g16.png", "g16.tif"):
        decoded = decode_image(_save(tmp_path, name, Image.fromarray(values)))
        np.testing.assert_array_equal(decoded, np.repeat(expected[..., None], 3, axis=-1))


def test_16_bit_rgb_png(tmp_path):
    values = np.random.default_rng(0).integers(0, 65536, (5, 6, 3)).astype(np.uint16)
    path = tmp_path / "rgb16.png"
    path.write_bytes(_png_rgb16(values))
    decoded = decode_image(path)
    assert np.abs(decoded - values / 257).max() <= 1


def test_cmyk(tmp_path):
    cmyk = np.array(
        [[[0, 0, 0, 0], [255, 0, 0, 0], [0, 255, 0, 0], [0, 0, 255, 0], [0, 0, 0, 255]]],
        np.uint8,
    )
    expected = np.array([[[255, 255, 255], [0, 255, 255], [255, 0, 255], [255, 255, 0], [0, 0, 0]]])
    image = Image.frombytes("CMYK", (5, 1), cmyk.tobytes())
    np.testing.assert_array_equal(decode_image(_save(tmp_path, "c.tif", image)), expected)
    big = image.resize((40, 8), Image.Resampling.NEAREST)
    decoded = decode_image(_save(tmp_path, "c.jpg", big, quality=95))
    centres = decoded[4, 4::8].astype(int)  # middle of each colour block
    assert np.abs(centres - expected[0]).max() <= 12


@pytest.mark.parametrize(("orientation", "turns"), [(3, 2), (6, -1), (8, 1)])
def test_exif_orientation_is_applied(tmp_path, orientation, turns):
    pixels = np.zeros((16, 32, 3), np.uint8)
    pixels[:, :16] = (255, 0, 0)  # left half red
    pixels[:, 16:] = (0, 0, 255)  # right half blue
    pixels[:8, :16] = (0, 255, 0)  # top-left quarter green
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = _save(tmp_path, "r.jpg", Image.fromarray(pixels), exif=exif, quality=95, subsampling=0)
    decoded = decode_image(path).astype(int)
    expected = np.rot90(pixels, k=turns).astype(int)  # np.rot90: k=1 is counter-clockwise
    assert decoded.shape == expected.shape
    assert np.abs(decoded - expected).mean() < 3


def test_jpeg_draft_decodes_smaller_but_not_below_min_size(tmp_path):
    pixels = np.asarray(Image.fromarray(_pattern()).resize((800, 600), Image.Resampling.BICUBIC))
    path = _save(tmp_path, "big.jpg", Image.fromarray(pixels), quality=95)
    full = open_rgb(path)
    small = open_rgb(path, min_size=100)
    assert full.size == (800, 600)
    assert small.size == (200, 150)  # 1/4 scale: 1/8 would be 100 x 75
    reference = np.asarray(full.resize(small.size, Image.Resampling.BOX)).astype(int)
    assert np.abs(np.asarray(small).astype(int) - reference).mean() < 3
    assert open_rgb(path, min_size=700).size == (800, 600)
    png = _save(tmp_path, "big.png", Image.fromarray(pixels))
    assert open_rgb(png, min_size=100).size == (800, 600)  # only JPEGs are drafted


def test_arrays_of_every_kind():
    pixels = _pattern()
    np.testing.assert_array_equal(decode_image(pixels), pixels)
    np.testing.assert_array_equal(decode_image(pixels[..., :1]), np.repeat(pixels[..., :1], 3, -1))
    np.testing.assert_array_equal(decode_image(pixels.astype(np.float32) / 255), pixels)
    np.testing.assert_array_equal(decode_image(pixels.astype(np.uint16) * 257), pixels)
    opaque = np.concatenate([pixels, np.full(pixels.shape[:2] + (1,), 255, np.uint8)], axis=-1)
    np.testing.assert_array_equal(decode_image(opaque), pixels)
    with pytest.raises(ImageDecodeError, match="unsupported shape"):
        decode_image(np.zeros((4, 4, 2), np.uint8))


def test_pil_image_input():
    pixels = _pattern()
    ycbcr = Image.fromarray(pixels).convert("YCbCr")
    assert np.abs(decode_image(ycbcr).astype(int) - pixels).max() <= 3
    gray = Image.fromarray(pixels[..., 0])
    np.testing.assert_array_equal(decode_image(gray)[..., 2], pixels[..., 0])


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty.jpg", b""),
        ("text.jpg", b"this is not an image at all\n" * 10),
        ("garbage.png", bytes(range(256)) * 4),
    ],
)
def test_unreadable_files_raise_naming_the_file(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageDecodeError, match=name):
        decode_image(path)


def test_truncated_jpeg_and_png_raise(tmp_path):
    for name in ("t.jpg", "t.png"):
        buffer = io.BytesIO()
        Image.fromarray(_pattern(64, 64)).save(
            buffer, format=name.split(".")[1].replace("jpg", "jpeg")
        )
        path = tmp_path / name
        path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        with pytest.raises(ImageDecodeError, match=name):
            decode_image(path)


def test_missing_file_and_bytes_name(tmp_path):
    with pytest.raises(ImageDecodeError, match="nowhere.png"):
        decode_image(tmp_path / "nowhere.png")
    with pytest.raises(ImageDecodeError, match="record 7"):
        decode_image(b"\x00\x01", name="record 7")
