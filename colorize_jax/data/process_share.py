"""One process's share of a global example stream: its slice of every global batch.

The global stream is cut into consecutive blocks of `process_count * batch_size` positions, one
block per global batch; process p reads positions ``p * batch_size ... (p + 1) * batch_size - 1``
of each block. Within an epoch the processes read disjoint examples, and the global batch that
`jax.make_array_from_process_local_data` assembles from the processes' local batches holds the
block's examples in stream order: with one process or many, device d gets the same example.
"""

from __future__ import annotations

import grain


class ProcessShareMapDataset(grain.MapDataset):
    """Positions of `parent` that process `process_index` of `process_count` reads, in order."""

    def __init__(
        self, parent: grain.MapDataset, *, batch_size: int, process_index: int, process_count: int
    ):
        super().__init__(parent)
        if not 0 <= process_index < process_count:
            raise ValueError(f"process_index {process_index} is not in [0, {process_count})")
        self._batch_size = int(batch_size)
        self._process_index = int(process_index)
        self._process_count = int(process_count)
        self._length = len(parent) // self._process_count

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index):
        if isinstance(index, slice):
            return self.slice(index)
        batch, offset = divmod(index, self._batch_size)
        block = batch * self._process_count + self._process_index
        return self._parent[block * self._batch_size + offset]

    def __str__(self) -> str:
        return (
            f"ProcessShareMapDataset(batch_size={self._batch_size}, "
            f"process={self._process_index}/{self._process_count})"
        )
