"""The web app's logic without a browser: inference.web_colorize, Colorizer.with_settings and the
page built by inference.web_page (not served)."""

import dataclasses
import os
import types

import numpy as np
import pytest
import skimage.data
from PIL import Image
from skimage.color import rgb2lab

from colorize_jax.inference import web_colorize
from colorize_jax.inference.full_resolution import Colorizer
from colorize_jax.objectives import heads

RENDER = 64


@pytest.fixture(scope="module")
def colorizer():
    return Colorizer.pretrained(render_size=RENDER)


def lightness(rgb: np.ndarray) -> np.ndarray:
    return rgb2lab(rgb)[..., 0]  # scikit-image's CIELAB, independent of colour.colorspace


@pytest.fixture
def uploads(tmp_path):
    """Files as a browser sends them: good photos of several kinds and bad ones."""
    folder = tmp_path / "uploads"
    folder.mkdir()
    chelsea = skimage.data.chelsea()[:201, :303]  # odd sizes, not multiples of the stride
    Image.fromarray(chelsea).save(folder / "cat.png")
    Image.fromarray(skimage.data.camera()[::4, ::3]).save(folder / "camera.jpg", quality=90)
    rgba = np.dstack([skimage.data.coffee()[:120, :150], np.full((120, 150), 200, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(folder / "coffee.png")
    (folder / "notes.txt").write_text("not a photo")
    (folder / "empty.jpg").write_bytes(b"")
    Image.fromarray(chelsea).save(folder / "whole.jpg", quality=90)
    data = (folder / "whole.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (folder / "whole.jpg").unlink()
    return folder


def test_colorize_uploads_keeps_size_lightness_alpha_and_reports_bad_files(
    colorizer, uploads, tmp_path
):
    names = ["cat.png", "camera.jpg", "coffee.png", "notes.txt", "empty.jpg", "truncated.jpg"]
    seen = []
    results, errors = web_colorize.colorize_uploads(
        colorizer,
        [str(uploads / name) for name in names],
        str(tmp_path),
        progress=lambda i, name: seen.append((i, name)),
    )
    assert seen == list(enumerate(names))
    assert [r.name for r in results] == ["cat.png", "camera.jpg", "coffee.png"]
    assert errors == [
        "notes.txt: not an image this app can read (JPEG, PNG, WebP, BMP, TIFF, ...)",
        "empty.jpg: the file is empty",
        "truncated.jpg: the image is truncated (an incomplete download or copy?)",
    ]
    for result in results:
        source = Image.open(uploads / result.name)
        stored = np.asarray(source.convert("RGB"))
        download = Image.open(result.download)
        assert download.size == source.size and result.colorized.shape == stored.shape
        assert os.path.dirname(os.path.dirname(result.download)) == str(tmp_path)
        written = np.asarray(download)
        np.testing.assert_array_equal(written[..., :3], result.colorized)
        # The download keeps the upload's CIELAB lightness, within 8-bit quantization.
        assert np.abs(lightness(written[..., :3]) - lightness(stored)).max() < 0.6
        assert np.abs(lightness(result.gray) - lightness(stored)).max() < 0.6
        assert np.abs(rgb2lab(result.gray)[..., 1:]).max() < 1.0  # the gray has no colour
        assert (result.original is None) == (result.name == "camera.jpg")
    assert Image.open(results[2].download).mode == "RGBA"
    np.testing.assert_array_equal(np.asarray(Image.open(results[2].download))[..., 3], 200)
    assert results[0].colorized.std(axis=-1).mean() > 1  # it did add colour


def test_download_equals_what_the_colorizer_gives(colorizer, uploads, tmp_path):
    (result,), _ = web_colorize.colorize_uploads(colorizer, [str(uploads / "cat.png")], tmp_path)
    expected = colorizer.colorize(np.asarray(Image.open(uploads / "cat.png")))
    np.testing.assert_array_equal(np.asarray(Image.open(result.download)), expected)


def test_two_uploads_of_one_name_get_two_downloads(colorizer, uploads, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    Image.open(uploads / "cat.png").save(other / "cat.png")
    results, _ = web_colorize.colorize_uploads(
        colorizer, [str(uploads / "cat.png"), str(other / "cat.png")], tmp_path
    )
    assert [os.path.basename(r.download) for r in results] == [
        "cat_colorized.png",
        "cat_png_colorized.png",
    ]


def test_with_settings_matches_a_colorizer_built_with_those_settings(colorizer, uploads):
    image = np.asarray(Image.open(uploads / "cat.png"))
    vivid = Colorizer.pretrained(render_size=96, vivid=True)
    variant = colorizer.with_settings(render_size=96, chroma_gain=vivid.head.chroma_gain)
    assert variant.render_size == 96 and colorizer.render_size == RENDER
    assert variant.config.decode_chroma_gain == vivid.config.decode_chroma_gain == 1.25
    assert colorizer.config.decode_chroma_gain == 1.0  # the original is unchanged
    np.testing.assert_array_equal(variant.colorize(image), vivid.colorize(image))
    plain = colorizer.with_settings(chroma_gain=1.0)
    np.testing.assert_array_equal(plain.colorize(image), colorizer.colorize(image))
    with pytest.raises(ValueError, match="no classification head"):
        colorizer.with_settings(temperature=0.2)
    with pytest.raises(ValueError, match="positive"):
        colorizer.with_settings(chroma_gain=0)


def test_settings_cache_reuses_and_bounds_its_colorizers(colorizer):
    cache = web_colorize.SettingsCache(colorizer, size=2)
    first = cache.get(web_colorize.Settings(64, 1.0))
    assert cache.get(web_colorize.Settings(64, 1.0)) is first
    cache.get(web_colorize.Settings(96, 1.0))
    cache.get(web_colorize.Settings(64, 1.0))  # most recent again
    cache.get(web_colorize.Settings(128, 1.5))
    assert cache.get(web_colorize.Settings(64, 1.0)) is first
    assert cache.get(web_colorize.Settings(96, 1.0)).render_size == 96  # rebuilt


def test_controls_offer_temperature_only_with_a_classification_head(colorizer):
    shipped = web_colorize.controls(colorizer)
    assert (shipped.render_size, shipped.chroma_gain, shipped.vivid_chroma_gain) == (64, 1, 1.25)
    assert shipped.temperature is None
    head = heads.Head(space="lab", regression_channels=2, classify=True, temperature=0.3)
    classify = types.SimpleNamespace(
        render_size=128, stride=32, head=head, config=types.SimpleNamespace(vivid_chroma_gain=1.2)
    )
    assert web_colorize.controls(classify).temperature == 0.3
    exported = types.SimpleNamespace(render_size=128, stride=32)
    assert web_colorize.controls(exported) == web_colorize.Controls(128, 32, None, None, None)


def test_check_upload_limits_bytes_and_pixels(tmp_path):
    path = tmp_path / "big.png"
    Image.new("RGB", (400, 300)).save(path)
    web_colorize.check_upload(str(path), max_bytes=10**6, max_pixels=120_000)
    with pytest.raises(web_colorize.UploadError, match=r"big.png: 400x300 is over the limit"):
        web_colorize.check_upload(str(path), max_bytes=10**6, max_pixels=119_999)
    with pytest.raises(web_colorize.UploadError, match=r"big.png: .* over the .* MB limit"):
        web_colorize.check_upload(str(path), max_bytes=100, max_pixels=10**9)
    with pytest.raises(web_colorize.UploadError, match="did not arrive"):
        web_colorize.check_upload(str(tmp_path / "gone.png"), max_bytes=100, max_pixels=100)


def test_display_row_puts_gray_colorized_original_side_by_side():
    big = np.zeros((1000, 2000, 3), np.uint8)
    result = web_colorize.Result("x.png", big, big + 1, big + 2, "x_colorized.png")
    row = web_colorize.display_row(result, side=200)
    assert row.shape == (100, 3 * 200 + 2 * web_colorize.GAP, 3)
    assert row[0, 0, 0] == 0 and row[0, 200 + web_colorize.GAP, 0] == 1 and row[0, -1, 0] == 2
    no_colour = web_colorize.display_row(dataclasses.replace(result, original=None), side=200)
    assert no_colour.shape == (100, 2 * 200 + web_colorize.GAP, 3)
    small = np.zeros((10, 20, 3), np.uint8)
    assert web_colorize.display_copy(small, side=200) is small


def test_summary_names_results_and_failures():
    result = web_colorize.Result("a.png", None, None, None, "")
    text = web_colorize.summary([result, result], ["b.txt: the file is empty"])
    assert text == "Colorized 2 photos: a.png, a.png.\n\nNot colorized: b.txt: the file is empty"
    assert web_colorize.summary([result], []) == "Colorized 1 photo: a.png."


def test_an_exported_model_changes_only_its_render_size():
    from colorize_jax.inference.onnx_colorizer import ExportedColorizer

    metadata = {"color_space": "lab", "stride": 32, "step": 3, "render_size": 64}
    exported = ExportedColorizer(metadata, lambda lightness: np.zeros((*lightness.shape[:3], 2)))
    variant = web_colorize.SettingsCache(exported).get(web_colorize.Settings(100))
    assert (variant.render_size, exported.render_size) == (96, 64)
    assert variant.colorize(np.zeros((40, 50, 3), np.uint8)).shape == (40, 50, 3)
    with pytest.raises(ValueError, match="re-export"):
        exported.with_settings(chroma_gain=1.25)


def test_a_video_upload_is_colorized_as_colorize_does_it(colorizer, tmp_path):
    from tests.inference import clip_files

    path = clip_files.clip(tmp_path, "tone", frames=8)
    done = []
    output = web_colorize.colorize_video_upload(
        colorizer, path, str(tmp_path), on_frame=lambda count, total: done.append((count, total))
    )
    assert os.path.basename(output) == "tone_colorized.mp4"
    facts = ("h264", clip_files.NTSC, 8, clip_files.WIDTH, clip_files.HEIGHT)
    assert clip_files.stream_facts(output) == clip_files.stream_facts(path) == facts
    assert clip_files.audio_packets(output) == clip_files.audio_packets(path)
    assert done == [(count, 8) for count in range(1, 9)]


def test_a_bad_video_upload_names_the_file_not_the_server_path(colorizer, tmp_path):
    (tmp_path / "notes.mp4").write_text("not a video")
    (tmp_path / "empty.mov").write_bytes(b"")
    with pytest.raises(web_colorize.UploadError) as raised:
        web_colorize.colorize_video_upload(colorizer, str(tmp_path / "notes.mp4"), str(tmp_path))
    assert "notes.mp4" in str(raised.value) and str(tmp_path) not in str(raised.value)
    with pytest.raises(web_colorize.UploadError, match="empty.mov: the file is empty"):
        web_colorize.colorize_video_upload(colorizer, str(tmp_path / "empty.mov"), str(tmp_path))
    with pytest.raises(web_colorize.UploadError, match="notes.mp4: .* MB is over the .* limit"):
        web_colorize.colorize_video_upload(
            colorizer, str(tmp_path / "notes.mp4"), str(tmp_path), max_bytes=5
        )
