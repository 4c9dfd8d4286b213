"""Tests of weighted mixtures of sources: lengths and shares by hand, spec errors, the pipeline."""

import collections
import os
import pickle

import numpy as np
import pytest
from PIL import Image

from colorize_jax import data, presets
from colorize_jax.data import mixture, sources


def _records(prefix, count):
    return [{"image": None, "name": f"{prefix}{i}"} for i in range(count)]


def _names(source):
    return [source[i]["name"] for i in range(len(source))]


def _write_folder(root, colours, split="train"):
    folder = root / split
    folder.mkdir(parents=True, exist_ok=True)
    for i, colour in enumerate(colours):
        Image.new("RGB", (12 + i, 10), colour).save(folder / f"img{i}.png")


@pytest.fixture
def folders(tmp_path):
    """Folder a: 4 train, 2 val photos; folder b: 2 train, 1 val; folder c: 3 train, 1 val."""
    _write_folder(tmp_path / "a", [(200, 0, i) for i in range(4)])
    _write_folder(tmp_path / "a", [(200, 50, i) for i in range(2)], "val")
    _write_folder(tmp_path / "b", [(0, 200, i) for i in range(2)])
    _write_folder(tmp_path / "b", [(0, 250, 0)], "val")
    _write_folder(tmp_path / "c", [(0, 0, 200 + i) for i in range(3)])
    _write_folder(tmp_path / "c", [(0, 50, 200)], "val")
    return tmp_path


def _relative(source, root):
    return [os.path.relpath(name, root).replace(os.sep, "/") for name in _names(source)]


def test_weighted_length_blocks_and_cycling_order():
    # Sizes 5 and 3 at weights 0.8 / 0.2: N = ceil(max(5 / 0.8, 3 / 0.2)) = ceil(15) = 15,
    # blocks round(0.8 * 15) = 12 and 15 - 12 = 3; part a cycles 0..4, 0..4, 0, 1.
    source = mixture.MixtureSource([_records("a", 5), _records("b", 3)], [0.8, 0.2], "t")
    assert len(source) == 15 and source.blocks == [12, 3]
    assert _names(source) == [f"a{k % 5}" for k in range(12)] + ["b0", "b1", "b2"]
    counts = collections.Counter(_names(source))
    assert counts == {"a0": 3, "a1": 3, "a2": 2, "a3": 2, "a4": 2, "b0": 1, "b1": 1, "b2": 1}
    assert source[-1] == source[14] and source[np.int64(12)]["name"] == "b0"
    with pytest.raises(IndexError):
        source[15]


def test_weights_are_normalised_and_rounded():
    # 6 and 2 at 3:1 = 0.75 / 0.25: N = ceil(max(8, 8)) = 8, blocks 6 and 2.
    source = mixture.MixtureSource([_records("a", 6), _records("b", 2)], [3, 1], "t")
    assert source.weights == [0.75, 0.25] and len(source) == 8 and source.blocks == [6, 2]
    # 9 and 1 at 0.85 / 0.15: N = ceil(max(10.59, 6.67)) = 11, blocks round(9.35) = 9 and 2.
    source = mixture.MixtureSource([_records("a", 9), _records("b", 1)], [0.85, 0.15], "t")
    assert len(source) == 11 and source.blocks == [9, 2]
    assert _names(source)[9:] == ["b0", "b0"]
    # 3 / 0.3 is 10.000000000000002 in floating point; the length is still 10.
    source = mixture.MixtureSource([_records("a", 7), _records("b", 3)], [0.7, 0.3], "t")
    assert len(source) == 10 and source.blocks == [7, 3]


def test_without_weights_a_mixture_is_the_concatenation():
    source = mixture.MixtureSource([_records("a", 3), _records("b", 2)], None, "t")
    assert _names(source) == ["a0", "a1", "a2", "b0", "b1"]


def test_mixture_source_is_picklable_for_worker_processes():
    source = mixture.MixtureSource([_records("a", 3), _records("b", 2)], [0.5, 0.5], "t")
    again = pickle.loads(pickle.dumps(source))
    assert _names(again) == _names(source) == ["a0", "a1", "a2", "b0", "b1", "b0"]


def test_mixture_source_validates_its_weights_and_parts():
    parts = [_records("a", 3), _records("b", 2)]
    for weights, problem in [
        ([1.0], "2 parts but 1 weights"),
        ([1.0, 0.0], "weight 0.0: weights must be positive"),
        ([1.0, -1.0], "weight -1.0"),
        ([1.0, float("inf")], "weight inf"),
    ]:
        with pytest.raises(data.DataSourceError, match=problem):
            mixture.MixtureSource(parts, weights, "t")
    with pytest.raises(data.DataSourceError, match="has no images"):
        mixture.MixtureSource([_records("a", 3), []], [0.5, 0.5], "t")


def test_spec_weights_and_the_share_of_each_part(folders):
    a, b = folders / "a", folders / "b"
    # a (4 photos) at 1 - 0.25 = 0.75, b (2 photos) at 0.25:
    # N = ceil(max(4 / 0.75, 2 / 0.25)) = 8, blocks round(0.75 * 8) = 6 and 2.
    source = sources.open_source(f"folder:{a}+folder:{b}@0.25", "train")
    assert isinstance(source, mixture.MixtureSource) and len(source) == 8
    assert _relative(source, folders) == [
        *(f"a/train/img{k % 4}.png" for k in range(6)),
        "b/train/img0.png",
        "b/train/img1.png",
    ]
    # b at 0.5 takes half of N = ceil(max(4 / 0.5, 2 / 0.5)) = 8: each of its photos 2 times.
    counts = collections.Counter(
        _relative(sources.open_source(f"folder:{a}+folder:{b}@0.5", "train"), folders)
    )
    assert counts == {
        **{f"a/train/img{i}.png": 1 for i in range(4)},
        "b/train/img0.png": 2,
        "b/train/img1.png": 2,
    }


def test_parts_without_a_weight_share_the_rest_equally(folders):
    a, b, c = (folders / name for name in "abc")
    source = sources.open_source(f"folder:{a}+folder:{b}@0.5+folder:{c}", "train")
    assert source.weights == [0.25, 0.5, 0.25]
    # N = ceil(max(4 / 0.25, 2 / 0.5, 3 / 0.25)) = 16; blocks 4, 8 and 16 - 12 = 4.
    assert len(source) == 16 and source.blocks == [4, 8, 4]
    counts = collections.Counter(name.split("/")[0] for name in _relative(source, folders))
    assert counts == {"a": 4, "b": 8, "c": 4}


def test_unweighted_spec_is_the_concatenation(folders):
    a, b = folders / "a", folders / "b"
    source = sources.open_source(f"folder:{a}+folder:{b}", "train")
    assert _relative(source, folders) == [
        *(f"a/train/img{i}.png" for i in range(4)),
        "b/train/img0.png",
        "b/train/img1.png",
    ]


@pytest.mark.parametrize("split", ["validation", "val"])
def test_held_out_split_is_the_concatenation_of_the_parts_in_order(folders, split):
    a, b, c = (folders / name for name in "abc")
    source = sources.open_source(f"folder:{b}@0.1+folder:{a}+folder:{c}@0.6", split)
    assert _relative(source, folders) == [
        "b/val/img0.png",
        "a/val/img0.png",
        "a/val/img1.png",
        "c/val/img0.png",
    ]


def test_a_single_source_is_opened_as_before(folders):
    a = folders / "a"
    for spec in [f"folder:{a}", f"folder:{a}@1"]:
        source = sources.open_source(spec, "train")
        assert type(source) is sources.FileSource and len(source) == 4
    assert type(sources.open_source("demo", "train")) is sources.MemorySource


def test_parse_mixture():
    assert mixture.parse_mixture("folder:x/y@z/w+demo@0.5+tfds:mnist:3.0.1@1e-1") == [
        ("folder:x/y@z/w", None),
        ("demo", 0.5),
        ("tfds:mnist:3.0.1", 0.1),
    ]


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("folder:{a}@0+folder:{b}", r"part 1 .* has weight '0': write @WEIGHT with a positive"),
        ("folder:{a}+folder:{b}@-0.2", r"part 2 .* has weight '-0.2'"),
        ("folder:{a}+folder:{b}@nan", r"part 2 .* has weight 'nan'"),
        ("folder:{a}+folder:{b}@much", r"part 2 .* has weight 'much'"),
        ("folder:{a}@0.7+folder:{b}@0.6", r"sum to 1.3, not 1: make them sum to 1"),
        ("folder:{a}@0.2+folder:{b}@0.2", r"sum to 0.4, not 1"),
        ("folder:{a}@0.5", r"sum to 0.5, not 1"),
        ("folder:{a}@0.6+folder:{b}@0.5+demo", r"sum to 1.1 >= 1, leaving nothing"),
        ("folder:{a}@1+demo", r"sum to 1 >= 1, leaving nothing"),
        ("folder:{a}++folder:{b}", r"part 2 of data source .* is empty"),
        ("folder:{a}+", r"part 2 of data source .* is empty"),
        ("folder:{a}+@0.5", r"part 2 of data source .* is empty"),
        ("folder:{a}+s3:bucket", r"unknown data source 's3:bucket': .*SOURCE\[@WEIGHT\].*part 2"),
        ("folder:{a}+folder:{a}/missing", r"missing' does not exist \(part 2 of"),
    ],
)
def test_bad_mixtures_name_the_problem(folders, spec, problem):
    spec = spec.format(a=folders / "a", b=folders / "b")
    with pytest.raises(data.DataSourceError, match=problem):
        sources.open_source(spec, "train")


def test_a_mixture_through_the_training_pipeline(folders):
    a, b = folders / "a", folders / "b"
    config = presets.base_config()
    config.data.update(
        {
            "source": f"folder:{a}+folder:{b}@0.5",
            "image_size": 8,
            "num_threads": 2,
            "num_workers": 0,
        }
    )
    iterator = data.create_train_iterator(config, batch_size=4)
    # N = ceil(max(4 / 0.5, 2 / 0.5)) = 8: one shuffled epoch is two batches of four, in which
    # each of a's four photos appears once and each of b's two photos twice.
    batches = [next(iterator) for _ in range(2)]
    colours = collections.Counter()
    for batch in batches:
        assert batch["image"].shape == (4, 8, 8, 3) and batch["mask"].all()
        flat = batch["image"].reshape(4, -1, 3)
        assert (flat == flat[:, :1]).all()  # solid photos give solid crops
        colours.update(tuple(int(v) for v in image[0]) for image in flat)
    assert colours == {**{(200, 0, i): 1 for i in range(4)}, (0, 200, 0): 2, (0, 200, 1): 2}
