"""Tests of the grain pipelines: batches, skipped-file counts, checkpoint state, sharding, eval.

Most tests use folders of solid-colour images: every crop of such an image is the same solid
colour, so the colour of an example says which file it came from.
"""

import itertools
import json
import logging
import subprocess
import sys

import grain
import jax
import numpy as np
import pytest
import skimage.data
import skimage.transform
from PIL import Image

from colorize_jax import data, presets
from colorize_jax.colour import colorfulness as colorfulness_lib
from colorize_jax.data import pipeline, sources, unreadable
from colorize_jax.data.shuffle import EpochShuffleMapDataset
from tests.tiny_training import REPO

NUM_GOOD = 10
BAD_FILES = {"broken.jpg": "truncated", "empty.jpg": "zero bytes", "text.jpg": "not an image"}


def _colour(i):
    return (i * 23 % 256, 255 - i * 19 % 256, i * 37 % 256)


def _write_bad(path, kind):
    if kind == "truncated":
        Image.new("RGB", (40, 30), (1, 2, 3)).save(path, format="JPEG")
        path.write_bytes(path.read_bytes()[:200])
    elif kind == "zero bytes":
        path.write_bytes(b"")
    else:
        path.write_text("hello, I am a text file with a .jpg name\n")


def _make_folder(root, num_good, bad_files, offset=0):
    root.mkdir(parents=True, exist_ok=True)
    for i in range(num_good):
        size = (16 + 3 * i, 40 - 2 * i)
        Image.new("RGB", size, _colour(i + offset)).save(root / f"img{i:02d}.png")
    for name, kind in bad_files.items():
        _write_bad(root / name, kind)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    _make_folder(root / "train", NUM_GOOD, BAD_FILES)
    _make_folder(root / "val", 7, {"cut.jpg": "truncated"}, offset=100)
    return root


def _config(source, **data_fields):
    """A complete config with the data fields given, decoding in this process unless told."""
    config = presets.base_config()
    config.per_device_batch_size = 3
    config.data.update({"source": source, "image_size": 8, "num_threads": 2, "num_workers": 0})
    config.data.update(data_fields)
    return config


def _colours_of(images):
    """The solid colour of each image (asserting it is solid)."""
    flat = images.reshape(len(images), -1, 3)
    assert (flat == flat[:, :1]).all(), "crops of solid images must stay solid"
    return [tuple(int(v) for v in image[0]) for image in flat]


def _take(iterator, count):
    return [next(iterator) for _ in range(count)]


def _expected_stream(config, num_batches, batch_size, num_workers=0):
    """Second path: the (colour or None, num_skipped) sequence a train iterator must produce.

    Replays the record order (same shuffle), then applies skip-and-count and batching per
    worker slice, and interleaves the workers' batches round-robin, as grain's mp_prefetch.
    """
    source = sources.open_source(config.data.source, "train")
    seed = pipeline.stream_seed(config.seed)
    order = EpochShuffleMapDataset(grain.MapDataset.source(source), seed=seed).repeat()
    per_worker = max(num_workers, 1)
    batches_per_worker = -(-num_batches // per_worker)
    streams = []
    for worker in range(per_worker):
        examples, skipped = [], 0
        for position in itertools.count(worker, per_worker):
            path = order[position]["name"]
            if path.endswith(tuple(BAD_FILES)):
                skipped += 1
                continue
            examples.append((_colour(int(path[-6:-4])), skipped))
            skipped = 0
            if len(examples) == batches_per_worker * batch_size:
                break
        streams.append([examples[i : i + batch_size] for i in range(0, len(examples), batch_size)])
    interleaved = [streams[i % per_worker][i // per_worker] for i in range(num_batches)]
    return interleaved


def _as_pairs(batch):
    return list(zip(_colours_of(batch["image"]), batch["num_skipped"].tolist(), strict=True))


def test_train_batches_match_the_replayed_stream_and_count_skipped_files(folder):
    config = _config(f"folder:{folder}")
    iterator = data.create_train_iterator(config, batch_size=4)
    batches = _take(iterator, 12)  # 48 good examples: almost five epochs
    for batch in batches:
        assert batch["image"].shape == (4, 8, 8, 3) and batch["image"].dtype == np.uint8
        assert batch["mask"].dtype == np.bool_ and batch["mask"].all()
        assert batch["num_skipped"].dtype == np.int32
    expected = _expected_stream(config, 12, 4)
    assert [_as_pairs(batch) for batch in batches] == expected
    total_skipped = sum(int(batch["num_skipped"].sum()) for batch in batches)
    assert 4 * len(BAD_FILES) <= total_skipped <= 5 * len(BAD_FILES)


def test_train_stream_is_deterministic_and_seeded(folder):
    config = _config(f"folder:{folder}")
    first = _take(data.create_train_iterator(config, batch_size=4), 3)
    again = _take(data.create_train_iterator(config, batch_size=4), 3)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a["image"], b["image"])
    config.seed = 1
    other = _take(data.create_train_iterator(config, batch_size=4), 3)
    assert any(
        not np.array_equal(a["image"], b["image"]) for a, b in zip(first, other, strict=True)
    )


def test_train_state_round_trip(folder):
    config = _config(f"folder:{folder}")
    iterator = data.create_train_iterator(config, batch_size=4)
    _take(iterator, 3)
    state = iterator.get_state()
    state = json.loads(json.dumps(state))  # what a checkpoint stores
    following = _take(iterator, 4)
    restored = data.create_train_iterator(config, batch_size=4)
    restored.set_state(state)
    for a, b in zip(following, _take(restored, 4), strict=True):
        for key in ("image", "mask", "num_skipped"):
            np.testing.assert_array_equal(a[key], b[key])


def test_worker_processes_carry_skip_counts_and_restore_state(folder):
    config = _config(f"folder:{folder}", num_workers=2, prefetch_buffer_size=1)
    iterator = data.create_train_iterator(config, batch_size=3)
    try:
        batches = _take(iterator, 4)
        assert [_as_pairs(b) for b in batches] == _expected_stream(config, 4, 3, num_workers=2)
        state = json.loads(json.dumps(iterator.get_state()))
        following = _take(iterator, 2)
    finally:
        iterator.close()
    restored = data.create_train_iterator(config, batch_size=3)
    try:
        restored.set_state(state)
        for a, b in zip(following, _take(restored, 2), strict=True):
            assert _as_pairs(a) == _as_pairs(b)
    finally:
        restored.close()


def test_processes_read_disjoint_slices_of_each_global_batch(tmp_path):
    """Each epoch is shared out; the processes' k-th batches, in order, are one process's k-th."""
    _make_folder(tmp_path / "train", NUM_GOOD, {})
    config = _config(f"folder:{tmp_path}")
    one = data.create_train_iterator(config, batch_size=NUM_GOOD)  # a batch is an epoch
    two = [
        data.create_train_iterator(
            config, batch_size=NUM_GOOD // 2, process_index=p, process_count=2
        )
        for p in range(2)
    ]
    for _ in range(3):
        batch = next(one)
        halves = [next(iterator) for iterator in two]
        colours = [set(_colours_of(half["image"])) for half in halves]
        assert colours[0].isdisjoint(colours[1])
        assert colours[0] | colours[1] == {_colour(i) for i in range(NUM_GOOD)}
        merged = np.concatenate([half["image"] for half in halves])
        np.testing.assert_array_equal(merged, batch["image"])


def test_default_batch_size_is_per_device_times_local_devices(folder):
    batch = next(data.create_train_iterator(_config(f"folder:{folder}")))
    assert batch["image"].shape[0] == 3 * jax.local_device_count()


def test_eval_covers_the_split_once_per_pass_with_equal_batches_per_process(folder):
    config = _config(f"folder:{folder}")
    val_files = sources.open_source(f"folder:{folder}", "validation").paths  # cut.jpg is first
    assert len(val_files) == 8
    for process_count in (1, 2, 3):
        colours, skipped, counts = [], 0, set()
        for process_index in range(process_count):
            dataset = data.create_eval_dataset(
                config, batch_size=2, process_index=process_index, process_count=process_count
            )
            assert dataset.num_examples == 8
            batches = list(dataset)
            counts.add(len(batches))
            assert len(batches) == len(dataset) == dataset.num_batches
            second_pass = list(dataset)
            for a, b in zip(batches, second_pass, strict=True):
                np.testing.assert_array_equal(a["image"], b["image"])
            for batch in batches:
                masked_out = ~batch["mask"]
                assert (batch["image"][masked_out] == 0).all()
                batch_colours = _colours_of(batch["image"])
                colours += [c for c, m in zip(batch_colours, batch["mask"], strict=True) if m]
                skipped += int(batch["num_skipped"].sum())
        assert len(counts) == 1  # every process runs the same number of batches
        assert sorted(colours) == sorted(_colour(100 + i) for i in range(7))
        assert skipped == 1
    # Process p of P takes files p, p + P, ...: process 0 of 2 starts with cut.jpg (unreadable).
    first = next(iter(data.create_eval_dataset(config, batch_size=2, process_count=2)))
    assert first["mask"].tolist() == [False, True] and first["num_skipped"].tolist() == [1, 0]
    assert _colours_of(first["image"][1:]) == [_colour(101)]  # img01.png = third file


def test_eval_can_be_limited_to_the_first_examples(folder):
    config = _config(f"folder:{folder}", max_eval_examples=5)
    seen = []
    for process_index in range(2):
        dataset = data.create_eval_dataset(
            config, batch_size=2, process_index=process_index, process_count=2
        )
        assert dataset.num_examples == 5 and dataset.num_batches == 2  # ceil(ceil(5/2)/2)
        for batch in dataset:
            seen += [
                c for c, m in zip(_colours_of(batch["image"]), batch["mask"], strict=True) if m
            ]
    # Files 0..4 of the split: cut.jpg (unreadable, masked) and the first four good images.
    assert sorted(seen) == sorted(_colour(100 + i) for i in range(4))


def test_demo_source_through_both_pipelines():
    config = _config("demo", image_size=32)
    batch = next(data.create_train_iterator(config, batch_size=6))
    assert batch["image"].shape == (6, 32, 32, 3) and batch["num_skipped"].sum() == 0
    dataset = data.create_eval_dataset(config, batch_size=4)
    assert dataset.num_examples == 9 and dataset.num_batches == 3
    first = next(iter(dataset))
    astronaut = skimage.transform.resize(skimage.data.astronaut(), (32, 32), anti_aliasing=True)
    assert np.abs(first["image"][0] / 255 - astronaut).mean() < 0.02


def test_a_source_without_readable_images_fails_instead_of_spinning(tmp_path):
    _make_folder(tmp_path / "train", 0, BAD_FILES)
    iterator = data.create_train_iterator(_config(f"folder:{tmp_path}"), batch_size=2)
    with pytest.raises(data.TooManyUnreadableError, match="unreadable images in a row"):
        next(iterator)


def test_configuration_errors(folder, tmp_path):
    with pytest.raises(data.DataSourceError, match="unknown data source 'imagenet'"):
        data.create_train_iterator(_config("imagenet"), batch_size=2)
    with pytest.raises(data.DataSourceError, match="does not exist"):
        data.create_eval_dataset(_config(f"folder:{tmp_path / 'gone'}"), batch_size=2)
    config = _config(f"folder:{folder}")
    del config.data.image_size
    with pytest.raises(ValueError, match=r"lacks config\.data\.image_size: complete it first"):
        data.create_train_iterator(config, batch_size=2)
    with pytest.raises(ValueError, match=r"process_index 2 is not in \[0, 2\)"):
        data.create_eval_dataset(_config("demo"), batch_size=2, process_index=2, process_count=2)
    with pytest.raises(data.DataSourceError, match="fewer images than the 20 processes"):
        data.create_train_iterator(_config("demo"), batch_size=2, process_count=20)


def test_settings_read_the_complete_config_as_it_is():
    config = _config("demo", min_crop_scale=0.5, val_fraction=0.2)
    settings = data.DataSettings.from_config(config)
    assert (settings.source, settings.image_size, settings.num_workers) == ("demo", 8, 0)
    assert (settings.min_crop_scale, settings.val_fraction) == (0.5, 0.2)
    assert (settings.train_split, settings.eval_split) == ("train", "validation")
    # The data order follows config.seed unless config.data.shuffle_seed is set.
    config.seed = 3
    assert data.DataSettings.from_config(config).seed == 3
    config.data.shuffle_seed = 7
    assert data.DataSettings.from_config(config).seed == 7
    # No defaults of its own: a field the config lacks is named, not filled.
    del config.data["num_workers"], config.data["flip"]
    with pytest.raises(ValueError, match=r"config\.data\.flip, config\.data\.num_workers"):
        data.DataSettings.from_config(config)


def test_skip_stage_counts_markers_before_each_good_element_and_keeps_state():
    stream = ["a", None, None, "b", None, "c", "d", None]
    elements = [
        {"image": np.array(x)} if x else unreadable.unreadable_marker(f"bad{i}")
        for i, x in enumerate(stream)
    ]
    dataset = unreadable.SkipUnreadableIterDataset(
        grain.MapDataset.source(elements).to_iter_dataset()
    )
    out = list(dataset)
    assert [str(e["image"]) for e in out] == ["a", "b", "c", "d"]
    assert [int(e["num_skipped"]) for e in out] == [
        0,
        2,
        1,
        0,
    ]  # the trailing marker has no carrier
    iterator = iter(dataset)
    next(iterator)
    state = iterator.get_state()
    resumed = iter(dataset)
    resumed.set_state(state)
    assert [int(e["num_skipped"]) for e in resumed] == [2, 1, 0]


def test_unreadable_warning_names_the_file(monkeypatch, caplog):
    monkeypatch.setattr(unreadable, "_warning_counter", itertools.count(1))
    with caplog.at_level(logging.WARNING):
        for i in range(30):
            unreadable.warn_unreadable(f"/data/bad{i}.jpg", OSError("truncated"))
    messages = [r.getMessage() for r in caplog.records if "unreadable image" in r.getMessage()]
    assert len(messages) == 10  # rate-limited
    assert "/data/bad0.jpg" in messages[0] and "truncated" in messages[0]


def test_epoch_shuffle_permutes_each_epoch_differently():
    dataset = EpochShuffleMapDataset(grain.MapDataset.range(50), seed=3).repeat(3)
    values = list(dataset)
    epochs = [values[i * 50 : (i + 1) * 50] for i in range(3)]
    for epoch in epochs:
        assert sorted(epoch) == list(range(50))
    assert epochs[0] != epochs[1] != epochs[2] and epochs[0] != list(range(50))
    assert values == list(EpochShuffleMapDataset(grain.MapDataset.range(50), seed=3).repeat(3))
    assert values != list(EpochShuffleMapDataset(grain.MapDataset.range(50), seed=4).repeat(3))


# Solid photos: Hasler's colourfulness of a solid colour is 0.3 * |(R - G, (R + G)/2 - B)|.
GREYISH = [(120, 118, 121), (90, 93, 90), (200, 198, 204)]  # colourfulness 0.8-1.6
VIVID = [(200, 30, 40), (20, 180, 60), (40, 60, 220), (230, 200, 20)]  # 49-60


@pytest.fixture(scope="module")
def greyish_and_vivid(tmp_path_factory):
    root = tmp_path_factory.mktemp("colourful")
    for split in ("train", "val"):
        (root / split).mkdir()
        for i, colour in enumerate(GREYISH):
            Image.new("RGB", (20 + i, 24), colour).save(root / split / f"grey{i}.png")
        for i, colour in enumerate(VIVID):
            Image.new("RGB", (24, 20 + i), colour).save(root / split / f"vivid{i}.png")
    (root / "train" / "broken.jpg").write_bytes(b"")  # dropped as unreadable, not as grey
    return root


def _colour_of_file(path):
    name = path.rsplit("/", 1)[-1]
    return (GREYISH if name.startswith("grey") else VIVID)[int(name[-5])]


def _kept_stream(config, num_batches, batch_size):
    """Second path: the (colour, num_skipped) batches of the replayed order without the
    grey-ish photos (one process, no workers)."""
    source = sources.open_source(config.data.source, "train")
    order = EpochShuffleMapDataset(
        grain.MapDataset.source(source), seed=pipeline.stream_seed(config.seed)
    ).repeat()
    examples, skipped = [], 0
    for position in itertools.count():
        path = order[position]["name"]
        if path.endswith("broken.jpg"):
            skipped += 1
            continue
        if path.rsplit("/", 1)[-1].startswith("grey"):
            continue
        examples.append((_colour_of_file(path), skipped))
        skipped = 0
        if len(examples) == num_batches * batch_size:
            break
    return [examples[i : i + batch_size] for i in range(0, len(examples), batch_size)]


def test_colourfulness_of_the_solid_photos_is_the_metric():
    for colour in GREYISH + VIVID:
        image = np.broadcast_to(np.array(colour, np.uint8), (4, 5, 3))
        r, g, b = colour
        assert colorfulness_lib.hasler(image) == pytest.approx(
            0.3 * np.hypot(r - g, (r + g) / 2 - b)
        )
        assert (colorfulness_lib.hasler(image) < 15) == (colour in GREYISH)


def test_min_colorfulness_drops_grey_photos_from_training_only(
    greyish_and_vivid, caplog, monkeypatch
):
    monkeypatch.setattr(pipeline, "_drop_counter", itertools.count(1))  # log the first drops
    source = f"folder:{greyish_and_vivid}"
    config = _config(source, min_colorfulness=15)
    assert data.DataSettings.from_config(config).min_colorfulness == 15
    with caplog.at_level(logging.INFO):
        batches = _take(data.create_train_iterator(config, batch_size=3), 10)  # 4+ epochs
    colours = {c for batch in batches for c in _colours_of(batch["image"])}
    assert colours == set(VIVID)  # never a grey-ish photo; every vivid one
    assert [_as_pairs(batch) for batch in batches] == _kept_stream(config, 10, 3)
    assert sum(int(b["num_skipped"].sum()) for b in batches) >= 4  # unreadable: still counted
    dropped = [
        r.getMessage() for r in caplog.records if "dropping training photo" in r.getMessage()
    ]
    assert dropped and "grey" in dropped[0] and "min_colorfulness 15" in dropped[0]
    # Off (the default): the grey-ish photos are trained on.
    batches = _take(data.create_train_iterator(_config(source), batch_size=3), 10)
    colours = {c for batch in batches for c in _colours_of(batch["image"])}
    assert colours == set(GREYISH + VIVID)
    # Evaluation keeps every photo.
    evaluated = []
    for batch in data.create_eval_dataset(config, batch_size=4):
        colours = _colours_of(batch["image"])
        evaluated += [c for c, m in zip(colours, batch["mask"], strict=True) if m]
    assert sorted(evaluated) == sorted(GREYISH + VIVID)


@pytest.mark.parametrize("num_workers", [0, 2])
def test_filtered_stream_resumes_exactly(greyish_and_vivid, num_workers):
    config = _config(
        f"folder:{greyish_and_vivid}",
        min_colorfulness=15,
        num_workers=num_workers,
        prefetch_buffer_size=1,
    )
    iterator = data.create_train_iterator(config, batch_size=3)
    try:
        _take(iterator, 3)
        state = json.loads(json.dumps(iterator.get_state()))  # what a checkpoint stores
        following = _take(iterator, 4)
    finally:
        iterator.close()
    restored = data.create_train_iterator(config, batch_size=3)
    try:
        restored.set_state(state)
        for a, b in zip(following, _take(restored, 4), strict=True):
            assert _as_pairs(a) == _as_pairs(b)
            assert not set(_colours_of(a["image"])) & set(GREYISH)
    finally:
        restored.close()


def test_a_threshold_that_drops_every_photo_fails_instead_of_spinning(tmp_path):
    (tmp_path / "train").mkdir()
    for i, colour in enumerate(VIVID):
        Image.new("RGB", (24, 20), colour).save(tmp_path / "train" / f"vivid{i}.png")
    config = _config(f"folder:{tmp_path}", min_colorfulness=1000)
    with pytest.raises(ValueError, match="skipped 100.00 %"):
        next(data.create_train_iterator(config, batch_size=2))


def test_batches_from_worker_processes_leak_no_shared_memory(folder, tmp_path):
    # A batch still referenced at exit (as a device array aliasing it can be) must not leave
    # the workers' shared-memory segments behind: Python's resource_tracker warns of leaks at
    # shutdown, in a process of its own, so the run is a subprocess and its stderr is read.
    script = tmp_path / "run.py"
    script.write_text(
        "from colorize_jax import data, presets\n"
        "KEPT = []\n"
        "def main():\n"
        "    config = presets.base_config()\n"
        "    config.data.update({\n"
        f"        'source': 'folder:{folder}', 'image_size': 8, 'num_threads': 2,\n"
        "        'num_workers': 2, 'prefetch_buffer_size': 1})\n"
        "    iterator = data.create_train_iterator(config, batch_size=3)\n"
        "    KEPT.append(next(iterator))\n"
        "    KEPT.append(next(iterator))\n"
        "    iterator.close()\n"
        "    print('done', KEPT[-1]['image'].shape)\n"
        "if __name__ == '__main__':\n"
        "    main()\n"
    )
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=REPO
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "done (3, 8, 8, 3)" in result.stdout
    assert "leaked" not in result.stderr, result.stderr[-2000:]
