"""Data-parallel sharding over a one-axis device mesh.

The same code runs on one CPU, eight host devices or a multi-host TPU slice: parameters are
replicated, batches are split along their leading axis over the mesh axis "data", and each
process contributes its local slice of the global batch.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

DATA_AXIS = "data"


def create_mesh(devices: list[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh over all (global) devices, named ("data",)."""
    devices = jax.devices() if devices is None else devices
    return Mesh(np.asarray(devices), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    """Sharding that keeps a full copy on every device."""
    return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh: Mesh) -> NamedSharding:
    """Sharding that splits the leading (batch) axis over the data axis."""
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def global_batch_size(per_device_batch_size: int, mesh: Mesh) -> int:
    """Examples per step over all devices of all processes."""
    return per_device_batch_size * mesh.size


def process_batch_size(per_device_batch_size: int, mesh: Mesh) -> int:
    """Examples per step that this process reads from its input pipeline."""
    return per_device_batch_size * len(mesh.local_devices)


def to_global_arrays(local_batch: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
    """Assembles each process's local slices into global arrays sharded over the batch axis."""
    sharding = batch_sharded(mesh)
    return {
        key: jax.make_array_from_process_local_data(sharding, value)
        for key, value in local_batch.items()
    }
