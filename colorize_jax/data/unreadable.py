"""Skipping unreadable images while counting them, in a way that survives worker processes.

A decoding step marks an image it cannot read with `unreadable_marker(...)` instead of failing.
`SkipUnreadableIterDataset` then drops the marked elements and stores how many it dropped right
before each good element in that element's "num_skipped" field. The count thus travels with the
data through grain's worker processes and batching: the sum of "num_skipped" over all batches is
the exact number of skipped files, whatever process decoded them.

The stage keeps no state that a checkpoint would need: after each element it returns, its count
is back to zero, so its `get_state`/`set_state` are its parent's.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any

import grain
import numpy as np

UNREADABLE_KEY = "unreadable"
# Warnings name each of the first files, then every n-th (per process).
_WARN_FIRST = 10
_WARN_EVERY = 1000

_warning_counter = itertools.count(1)  # next() is atomic under the GIL: safe across threads.


class TooManyUnreadableError(RuntimeError):
    """Too many consecutive unreadable images: the source is broken, not a few files."""


def warn_unreadable(name: str, error: Exception) -> None:
    """Logs a skipped file, rate-limited per process."""
    count = next(_warning_counter)
    if count <= _WARN_FIRST or count % _WARN_EVERY == 0:
        logging.warning(
            "skipping unreadable image %s (%s); %d skipped so far in this process",
            name,
            error,
            count,
        )


def unreadable_marker(name: str) -> dict[str, Any]:
    """The element that stands for an image that could not be decoded."""
    return {UNREADABLE_KEY: True, "name": name}


def is_unreadable(element: Any) -> bool:
    return isinstance(element, dict) and bool(element.get(UNREADABLE_KEY, False))


class SkipUnreadableIterDataset(grain.IterDataset):
    """Drops unreadable markers; each good element gets "num_skipped" (int32) and "mask" (True).

    Raises `TooManyUnreadableError` after `max_consecutive` unreadable elements in a row, so that
    an infinite training stream over a source without one readable image fails instead of
    spinning forever.
    """

    def __init__(self, parent: grain.IterDataset, *, max_consecutive: int = 1000):
        super().__init__(parent)
        self._max_consecutive = max_consecutive

    def __iter__(self) -> grain.DatasetIterator:
        return _SkipUnreadableIterator(self._parent.__iter__(), self._max_consecutive)

    def __str__(self) -> str:
        return "SkipUnreadableIterDataset"


class _SkipUnreadableIterator(grain.DatasetIterator):
    def __init__(self, parent: grain.DatasetIterator, max_consecutive: int):
        super().__init__(parent)
        self._max_consecutive = max_consecutive

    def __next__(self) -> dict[str, Any]:
        skipped = 0
        for element in self._parent:
            if not is_unreadable(element):
                return {
                    **element,
                    "mask": np.bool_(True),
                    "num_skipped": np.int32(skipped),
                }
            skipped += 1
            if skipped >= self._max_consecutive:
                raise TooManyUnreadableError(
                    f"{skipped} unreadable images in a row (last: {element.get('name')}): "
                    "check the data source"
                )
        # Files skipped at the very end of a finite stream have no element to carry their count.
        raise StopIteration

    def get_state(self) -> dict[str, Any]:
        return self._parent.get_state()

    def set_state(self, state: dict[str, Any]) -> None:
        self._parent.set_state(state)

    def __str__(self) -> str:
        return "SkipUnreadableDatasetIterator"
