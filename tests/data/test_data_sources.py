"""Tests of the image sources: folder trees, the demo photos and a real prepared TFDS dataset."""

import io
import os
import sys

import numpy as np
import pytest
import skimage.data
import tensorflow_datasets as tfds
from PIL import Image

from colorize_jax import data, presets
from colorize_jax.data import sources
from colorize_jax.data.decode import decode_image


def _write_image(path, colour=(10, 20, 30), size=(12, 8)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def _relative(paths, root):
    return [os.path.relpath(path, root).replace(os.sep, "/") for path in paths]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("demo", ("demo", "")),
        ("folder:/data/photos", ("folder", "/data/photos")),
        ("folder:C:/x", ("folder", "C:/x")),
        ("tfds:imagenette/320px-v2", ("tfds", "imagenette/320px-v2")),
    ],
)
def test_parse_source(spec, expected):
    assert sources.parse_source(spec) == expected


@pytest.mark.parametrize("spec", ["imagenet", "tfds:", "folder:", "s3:bucket", "Demo", ""])
def test_unknown_sources_list_the_valid_forms(spec):
    with pytest.raises(data.DataSourceError, match=r"tfds:NAME\[/CONFIG\], folder:PATH, demo"):
        sources.open_source(spec, "train")


def test_folder_with_split_subfolders(tmp_path):
    for name in ["train/b/2.PNG", "train/a/1.jpg", "train/a/0.JPEG", "train/c.webp", "val/x.bmp"]:
        _write_image(tmp_path / name)
    (tmp_path / "train" / "notes.txt").write_text("not an image")
    (tmp_path / "train" / ".hidden.jpg").write_bytes(b"")
    _write_image(tmp_path / "train" / ".cache" / "skipped.png")
    _write_image(tmp_path / "val" / "y.TIFF")

    train = sources.open_source(f"folder:{tmp_path}", "train")
    assert _relative(train.paths, tmp_path / "train") == [
        "a/0.JPEG",
        "a/1.jpg",
        "b/2.PNG",
        "c.webp",
    ]
    assert train[1] == {
        "image": str(tmp_path / "train/a/1.jpg"),
        "name": str(tmp_path / "train/a/1.jpg"),
    }
    for split in ("validation", "val"):
        val = sources.open_source(f"folder:{tmp_path}", split)
        assert _relative(val.paths, tmp_path / "val") == ["x.bmp", "y.TIFF"]
    with pytest.raises(data.DataSourceError, match=r"none for split 'test'.*test/"):
        sources.open_source(f"folder:{tmp_path}", "test")


def test_validation_subfolder_name(tmp_path):
    _write_image(tmp_path / "train" / "a.png")
    _write_image(tmp_path / "validation" / "b.png")
    assert len(sources.open_source(f"folder:{tmp_path}", "validation")) == 1


def test_folder_without_subfolders_is_split_by_a_stable_hash(tmp_path):
    for i in range(200):
        _write_image(tmp_path / f"group{i % 3}" / f"img{i:03d}.png", size=(2, 2))
    spec = f"folder:{tmp_path}"
    train = sources.open_source(spec, "train", val_fraction=0.2).paths
    val = sources.open_source(spec, "validation", val_fraction=0.2).paths
    assert set(train).isdisjoint(val)
    assert sorted(train + val) == sorted(sources.list_images(str(tmp_path)))
    assert 20 <= len(val) <= 60  # about 40
    # Membership follows the relative path alone: adding files does not move existing ones.
    for i in range(200, 260):
        _write_image(tmp_path / f"img{i:03d}.png", size=(2, 2))
    val_after = sources.open_source(spec, "val", val_fraction=0.2).paths
    assert set(val) <= set(val_after)
    expected = {p for p in val_after if sources.held_out_score(os.path.relpath(p, tmp_path)) < 0.2}
    assert set(val_after) == expected
    with pytest.raises(data.DataSourceError, match="split 'extra' is not defined"):
        sources.open_source(spec, "extra")


def test_tiny_folder_still_holds_one_image_out(tmp_path):
    for name in ("a.png", "b.png", "c.png"):
        _write_image(tmp_path / name)
    val = sources.open_source(f"folder:{tmp_path}", "validation", val_fraction=0.0).paths
    train = sources.open_source(f"folder:{tmp_path}", "train", val_fraction=0.0).paths
    assert len(val) == 1 and len(train) == 2 and set(val).isdisjoint(train)


def test_missing_empty_and_non_directory_folders(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(data.DataSourceError, match=f"folder source '{missing}' does not exist"):
        sources.open_source(f"folder:{missing}", "train")
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "readme.txt").write_text("no images here")
    with pytest.raises(data.DataSourceError, match=r"no images found in folder .*empty.*\.jpg"):
        sources.open_source(f"folder:{tmp_path / 'empty'}", "train")
    file = _write_image(tmp_path / "single.png")
    with pytest.raises(data.DataSourceError, match="is not a directory"):
        sources.open_source(f"folder:{file}", "train")
    (tmp_path / "split" / "train").mkdir(parents=True)
    with pytest.raises(data.DataSourceError, match=r"no images found in folder .*train"):
        sources.open_source(f"folder:{tmp_path / 'split'}", "train")


def test_demo_source_is_nine_colour_photographs():
    demo = sources.open_source("demo", "train")
    assert len(demo) == 9
    for i in range(len(demo)):
        record = demo[i]
        pixels = decode_image(record["image"])
        assert pixels.ndim == 3 and min(pixels.shape[:2]) >= 256
        # Colour, not gray: channels differ noticeably.
        assert np.abs(pixels[..., 0].astype(int) - pixels[..., 2]).mean() > 5, record["name"]
    np.testing.assert_array_equal(decode_image(demo[0]["image"]), skimage.data.astronaut())


# A real TFDS builder; preparing it needs no TensorFlow because examples hold encoded PNGs
# (numpy images would be encoded with tf.image).
class TinyColourImages(tfds.core.GeneratorBasedBuilder):
    VERSION = tfds.core.Version("1.0.0")
    SIZES = {"train": 5, "validation": 3}
    # TFDS 4.9.10 locates the checksums file of a builder defined in a package through the
    # `importlib_resources` backport, which is not installed; this builder downloads nothing.
    code_path = None

    def _info(self):
        features = tfds.features.FeaturesDict(
            {
                "image": tfds.features.Image(shape=(None, None, 3)),
                "label": tfds.features.Scalar(np.int64),
            }
        )
        return tfds.core.DatasetInfo(builder=self, features=features)

    def _split_generators(self, dl_manager):
        return {split: self._generate_examples(split) for split in self.SIZES}

    def _generate_examples(self, split):
        for index in range(self.SIZES[split]):
            yield f"{split}{index}", {"image": _tfds_png(split, index), "label": index}


def _tfds_pixels(split, index):
    rng = np.random.default_rng([len(split), index])
    return rng.integers(0, 256, (20 + index, 30, 3), dtype=np.uint8)


def _tfds_png(split, index):
    buffer = io.BytesIO()
    Image.fromarray(_tfds_pixels(split, index)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tfds")
    TinyColourImages(data_dir=str(data_dir), file_format="array_record").download_and_prepare()
    return str(data_dir)


def test_tfds_source_reads_a_prepared_dataset_without_tensorflow(tfds_dir):
    tensorflow_was_loaded = "tensorflow" in sys.modules
    source = sources.open_source("tfds:tiny_colour_images", "train", tfds_data_dir=tfds_dir)
    assert len(source) == 5
    # The array_record shuffles examples at preparation time: compare as a set of images.
    decoded = sorted(decode_image(source[i]["image"]).tobytes() for i in range(len(source)))
    expected = sorted(_tfds_pixels("train", i).tobytes() for i in range(5))
    assert decoded == expected
    assert isinstance(source[0]["image"], bytes)  # still encoded: decoded by the pipeline
    assert source[2]["name"] == "tfds:tiny_colour_images[train]#2"
    assert (
        len(sources.open_source("tfds:tiny_colour_images", "validation", tfds_data_dir=tfds_dir))
        == 3
    )
    assert (
        len(sources.open_source("tfds:tiny_colour_images", "train[:2]", tfds_data_dir=tfds_dir))
        == 2
    )
    if not tensorflow_was_loaded:
        assert "tensorflow" not in sys.modules


def test_tfds_errors_name_dataset_directory_and_fix(tfds_dir, tmp_path):
    with pytest.raises(data.DataSourceError, match=r"no split 'test'.*\['train', 'validation'\]"):
        sources.open_source("tfds:tiny_colour_images", "test", tfds_data_dir=tfds_dir)
    empty = str(tmp_path)
    for name in ("imagenette/320px-v2", "no_such_dataset"):
        with pytest.raises(data.DataSourceError) as error:
            sources.open_source(f"tfds:{name}", "train", tfds_data_dir=empty)
        message = str(error.value)
        assert f"TFDS dataset '{name}' is not prepared in data_dir {empty}" in message
        assert f"tfds build {name} --file_format=array_record" in message
        assert "\n" not in message
    assert os.listdir(empty) == []  # nothing was created or downloaded


def test_tfds_source_through_the_pipeline(tfds_dir):
    config = presets.base_config()
    config.data.update(
        {"source": "tfds:tiny_colour_images", "tfds_data_dir": tfds_dir, "image_size": 16}
    )
    batch = next(data.create_train_iterator(config, batch_size=4))
    assert batch["image"].shape == (4, 16, 16, 3) and batch["mask"].all()
    eval_dataset = data.create_eval_dataset(config, batch_size=2)
    assert eval_dataset.num_examples == 3 and len(list(eval_dataset)) == 2
