"""grain input pipelines: an infinite, checkpointable training stream and a padded eval pass.

Batches are dicts of numpy arrays, per process:
  "image"        uint8 (b, image_size, image_size, 3) RGB;
  "mask"         bool (b,), False only for padding in evaluation;
  "num_skipped"  int32 (b,), unreadable files skipped right before each example (training) or
                 replaced by that masked example (evaluation); the sum over batches is the exact
                 number of skipped files.

The config fields it reads (of a complete config): `settings.DataSettings`.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
from typing import Any

import grain
import numpy as np
from absl import flags

from colorize_jax.colour import colorfulness
from colorize_jax.data import sources, transforms, unreadable
from colorize_jax.data.decode import ImageDecodeError, open_rgb
from colorize_jax.data.process_share import ProcessShareMapDataset
from colorize_jax.data.settings import DataSettings
from colorize_jax.data.shuffle import EpochShuffleMapDataset

# The log names each of the first photos dropped for their colourfulness, then every n-th.
_DROP_LOG_FIRST = 10
_DROP_LOG_EVERY = 1000
_drop_counter = itertools.count(1)  # next() is atomic under the GIL: safe across threads.
DROPPED_KEY = "colorfulness_below"


@dataclasses.dataclass(frozen=True)
class TrainExample(grain.transforms.RandomMap):
    """Record -> {"image": random crop}, or an unreadable marker when decoding fails.

    With `min_colorfulness` > 0, a photo whose colourfulness (`colorfulness.hasler` of the whole
    decoded photo, on 0..255; JPEGs as decoded for training, possibly at a reduced DCT scale)
    is below it becomes a dropped marker instead (see `KeepColourful`).
    """

    image_size: int
    min_scale: float
    flip: bool
    max_rotation: float = 0.0
    min_colorfulness: float = 0.0

    def random_map(self, record: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        min_size = transforms.train_decode_size(self.image_size, self.min_scale)
        try:
            image = open_rgb(record["image"], name=record["name"], min_size=min_size)
        except ImageDecodeError as error:
            unreadable.warn_unreadable(record["name"], error)
            return unreadable.unreadable_marker(record["name"])
        if self.min_colorfulness > 0:
            value = float(colorfulness.hasler(np.asarray(image)))
            if value < self.min_colorfulness:
                return {DROPPED_KEY: self.min_colorfulness, "name": record["name"], "value": value}
        pixels = transforms.random_resized_crop(
            image,
            self.image_size,
            rng,
            min_scale=self.min_scale,
            flip=self.flip,
            max_rotation=self.max_rotation,
        )
        return {"image": pixels}


class KeepColourful(grain.transforms.Filter):
    """Drops the photos `TrainExample` marked as less colourful than `min_colorfulness`.

    Each drop is logged (the first ones by name, then every n-th, with the count so far in this
    process). grain's `MapDataset.filter` leaves the dropped positions empty (None), and
    iteration skips them, so the iterator's state is still its position in the stream: resuming
    is exact.
    """

    def filter(self, element: Any) -> bool:
        if not (isinstance(element, dict) and DROPPED_KEY in element):
            return True
        count = next(_drop_counter)
        if count <= _DROP_LOG_FIRST or count % _DROP_LOG_EVERY == 0:
            # The first and every n-th as a warning, so that worker processes show it too.
            level = logging.WARNING if count == 1 or count % _DROP_LOG_EVERY == 0 else logging.INFO
            logging.log(
                level,
                "dropping training photo %s: colourfulness %.1f < config.data.min_colorfulness "
                "%g; %d dropped so far in this process",
                element["name"],
                element["value"],
                element[DROPPED_KEY],
                count,
            )
        return False


@dataclasses.dataclass(frozen=True)
class EvalExample(grain.transforms.Map):
    """Position in this process's share -> centre-cropped example, padding or a masked stand-in.

    Position k holds example ``first + k * stride`` of the source; positions past its end are
    padding (zero image, mask False); an unreadable file becomes a masked example with
    num_skipped 1.
    """

    source: Any
    image_size: int
    first: int
    stride: int
    num_examples: int

    def map(self, position: int) -> dict[str, Any]:
        index = self.first + int(position) * self.stride
        if index >= self.num_examples:
            return self._masked(num_skipped=0)
        record = self.source[index]
        try:
            image = open_rgb(record["image"], name=record["name"], min_size=self.image_size)
        except ImageDecodeError as error:
            unreadable.warn_unreadable(record["name"], error)
            return self._masked(num_skipped=1)
        pixels = transforms.centre_crop(image, self.image_size)
        return {"image": pixels, "mask": np.bool_(True), "num_skipped": np.int32(0)}

    def _masked(self, num_skipped: int) -> dict[str, Any]:
        shape = (self.image_size, self.image_size, 3)
        return {
            "image": np.zeros(shape, np.uint8),
            "mask": np.bool_(False),
            "num_skipped": np.int32(num_skipped),
        }


@dataclasses.dataclass(frozen=True)
class EvalDataset:
    """One process's evaluation batches; iterate it any number of times for identical passes.

    Every pass yields `num_batches` batches (the same number on every process) covering this
    process's share of the split once, in a fixed order; shares of different processes are
    disjoint and together hold all `num_examples` examples of the split.
    """

    dataset: grain.IterDataset
    num_examples: int
    num_batches: int
    batch_size: int

    def __iter__(self):
        return iter(self.dataset)

    def __len__(self) -> int:
        return self.num_batches


def create_train_iterator(
    config: Any,
    *,
    batch_size: int | None = None,
    process_index: int = 0,
    process_count: int = 1,
) -> grain.DatasetIterator:
    """Infinite iterator of training batches for one process (see the module docstring).

    There is one global stream of examples, independent of the number of processes: the split
    in a new random order every epoch, each example augmented with a seed of its position in
    that stream. Process p's k-th batch is the p-th slice of the stream's k-th global batch
    (see `process_share`), so within an epoch the processes read disjoint examples, and with
    `num_workers` 0 (and no unreadable files or photos dropped by `min_colorfulness`) the
    global batches, in order, are the same for any number of processes. The stream is
    deterministic for a given seed, process count and `num_workers` (each worker batches its
    own share, so changing `num_workers` changes the batches, and a saved state only fits the
    same `num_workers` and process count). Photos dropped by `min_colorfulness` leave holes in
    the stream that iteration skips (grain's `filter`), like unreadable files.
    The iterator's `get_state()`/`set_state()` save and restore the position in the stream.

    Args:
      config: the experiment config (fields in the module docstring).
      batch_size: examples per batch in this process; default
        ``config.per_device_batch_size * jax.local_device_count()``.
      process_index: this process's index among `process_count`.
      process_count: number of processes reading data.
    """
    settings = DataSettings.from_config(config)
    _check_process(process_index, process_count)
    if batch_size is None:
        import jax  # Only here: worker processes need not import jax.

        batch_size = config.per_device_batch_size * jax.local_device_count()
    source = settings.open(settings.train_split)
    if len(source) < process_count:
        raise sources.DataSourceError(
            f"{source!r} has fewer images than the {process_count} processes reading it"
        )
    seed = stream_seed(settings.seed)
    dataset = EpochShuffleMapDataset(grain.MapDataset.source(source), seed=seed).repeat()
    dataset = dataset.random_map(
        TrainExample(
            settings.image_size,
            settings.min_crop_scale,
            settings.flip,
            settings.max_rotation,
            settings.min_colorfulness,
        ),
        seed=seed,
    )
    if settings.min_colorfulness > 0:
        dataset = dataset.filter(KeepColourful())
    # Shared out after shuffling and augmentation, so that neither depends on the process count.
    dataset = ProcessShareMapDataset(
        dataset, batch_size=batch_size, process_index=process_index, process_count=process_count
    )
    dataset = dataset.to_iter_dataset(_read_options(settings, batch_size))
    if settings.min_colorfulness > 0:
        # A threshold that drops every photo must stop the run, not spin: grain raises when
        # a whole window of 1000 consecutive examples was filtered out.
        dataset = grain.experimental.WithOptionsIterDataset(
            dataset, grain.experimental.DatasetOptions(filter_raise_threshold_ratio=1.0)
        )
    dataset = unreadable.SkipUnreadableIterDataset(dataset)
    dataset = dataset.batch(batch_size, drop_remainder=True)
    if settings.num_workers > 0:
        # grain's worker processes read absl flags; outside `absl.app.run` (tests, notebooks)
        # nothing has parsed them yet, so take the defaults.
        if not flags.FLAGS.is_parsed():
            flags.FLAGS.mark_as_parsed()
        dataset = dataset.mp_prefetch(
            grain.MultiprocessingOptions(
                num_workers=settings.num_workers,
                per_worker_buffer_size=settings.prefetch_buffer_size,
            )
        )
        # Workers hand batches over in shared memory, unlinked when the arrays are freed; a batch
        # still referenced at exit (zero-copy device arrays alias it) would leak its segments
        # (resource_tracker's warning). A copy in process memory frees them at once.
        dataset = dataset.map(_in_process_memory)
    return iter(dataset)


def _in_process_memory(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {key: np.array(value, copy=True) for key, value in batch.items()}


def create_eval_dataset(
    config: Any,
    *,
    batch_size: int,
    process_index: int = 0,
    process_count: int = 1,
) -> EvalDataset:
    """The evaluation split as fixed, padded batches for one process (see `EvalDataset`).

    Process p takes examples p, p + P, p + 2P, ... (P = process_count), then padding up to
    `num_batches * batch_size`, where num_batches = ceil(ceil(num_examples / P) / batch_size)
    is computed from the global count, so that all processes run the same number of steps.
    Decoding uses threads of this process (`num_threads`), not worker processes.
    """
    settings = DataSettings.from_config(config)
    _check_process(process_index, process_count)
    source = settings.open(settings.eval_split)
    num_examples = len(source)
    if settings.max_eval_examples:
        num_examples = min(num_examples, settings.max_eval_examples)
    num_batches = math.ceil(math.ceil(num_examples / process_count) / batch_size)
    dataset = grain.MapDataset.range(num_batches * batch_size).map(
        EvalExample(source, settings.image_size, process_index, process_count, num_examples)
    )
    dataset = dataset.to_iter_dataset(_read_options(settings, batch_size))
    dataset = dataset.batch(batch_size, drop_remainder=True)
    return EvalDataset(dataset, num_examples, num_batches, batch_size)


def stream_seed(seed: int) -> int:
    """The seed of the training stream's order and augmentation, in [0, 2**32)."""
    return int(np.random.SeedSequence([seed, 0]).generate_state(1)[0])


def _read_options(settings: DataSettings, batch_size: int) -> grain.ReadOptions:
    # Enough decoded examples in flight to keep every thread busy and fill the next batch.
    buffer_size = max(2 * settings.num_threads, min(batch_size, 256))
    return grain.ReadOptions(num_threads=settings.num_threads, prefetch_buffer_size=buffer_size)


def _check_process(process_index: int, process_count: int) -> None:
    if not 0 <= process_index < process_count:
        raise ValueError(f"process_index {process_index} is not in [0, {process_count})")
