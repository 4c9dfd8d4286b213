"""A global shuffle that is cheap for datasets of any size, reshuffled every epoch.

grain's `MapDataset.shuffle` permutes each index with a cipher (`index_shuffle`) whose cost
grows as the dataset shrinks: about 5 ms per element for 9 images and 0.5 ms for 100, against
7 us for 10,000. Folder sources of a few hundred images (and the demo) are common here, so
this stage instead draws one numpy permutation per epoch (O(n) once, then O(1) per element;
4 bytes per image) and keeps the permutations of neighbouring epochs only.
"""

from __future__ import annotations

from typing import Any

import grain
import numpy as np


class EpochShuffleMapDataset(grain.MapDataset):
    """Elements of `parent` in a new random order every epoch; index e * n + i is epoch e.

    Like grain's shuffle, index ``e * n + i`` reads parent index ``e * n + permutation_e[i]``,
    so that a `repeat()` downstream reshuffles each epoch and random transformations upstream
    still see the epoch.
    """

    def __init__(self, parent: grain.MapDataset, *, seed: int):
        super().__init__(parent)
        self._seed = int(seed)
        self._length = len(parent)
        self._permutations: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index):
        if isinstance(index, slice):
            return self.slice(index)
        epoch, index_in_epoch = divmod(index, self._length)
        shuffled = int(self._permutation(epoch)[index_in_epoch])
        return self._parent[epoch * self._length + shuffled]

    def _permutation(self, epoch: int) -> np.ndarray:
        permutation = self._permutations.get(epoch)
        if permutation is None:
            # Threads racing here compute the same permutation; dict updates are atomic.
            rng = np.random.default_rng([self._seed, epoch])
            dtype = np.int32 if self._length < 2**31 else np.int64
            permutation = rng.permutation(self._length).astype(dtype)
            recent = {e: p for e, p in self._permutations.items() if abs(e - epoch) <= 1}
            self._permutations = {**recent, epoch: permutation}
        return permutation

    def __str__(self) -> str:
        return f"EpochShuffleMapDataset(seed={self._seed})"

    def __getstate__(self) -> dict[str, Any]:
        # Worker processes get the dataset pickled: they recompute permutations as needed.
        return {**self.__dict__, "_permutations": {}}
