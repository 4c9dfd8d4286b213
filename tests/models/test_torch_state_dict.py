"""PyTorch state dicts read without torch: both file layouts, and refusal of anything else."""

import collections
import io
import os
import pickle
import struct
import sys
import types
import zipfile

import ml_dtypes
import numpy as np
import pytest

from colorize_jax.models import efficientnet_weights, torch_state_dict

STORAGES = {
    np.dtype(np.float32): "FloatStorage",
    np.dtype(np.float16): "HalfStorage",
    np.dtype(ml_dtypes.bfloat16): "BFloat16Storage",
    np.dtype(np.int64): "LongStorage",
}


@pytest.fixture
def fake_torch(monkeypatch):
    """Modules `torch` and `torch._utils` with the names a state-dict pickle refers to.

    They exist only so that this test's pickler can write references to them, as torch.save
    does; the reader under test must never import or call them.
    """
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")
    for name in STORAGES.values():
        setattr(torch, name, type(name, (), {"__module__": "torch"}))

    def _rebuild_tensor_v2(*args):
        raise AssertionError("the reader called torch code")

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return torch, utils


class _Tensor:
    """Pickles like a torch tensor: _rebuild_tensor_v2(storage, offset, size, stride, ...)."""

    def __init__(self, torch, utils, key, array, offset=0, size=None, stride=None):
        self.storage = ("storage", getattr(torch, STORAGES[array.dtype]), key, "cpu", array.size)
        self.rebuild = utils._rebuild_tensor_v2
        self.offset = offset
        self.size = array.shape if size is None else size
        self.stride = (
            tuple(s // array.itemsize for s in array.strides) if stride is None else stride
        )

    def __reduce__(self):
        hooks = collections.OrderedDict()
        return (self.rebuild, (self.storage, self.offset, self.size, self.stride, False, hooks))


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        return obj if isinstance(obj, tuple) and obj[:1] == ("storage",) else None


def _dumps(obj) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def _zip_file(state: dict, storages: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", _dumps(state))
        for key, array in storages.items():
            archive.writestr(f"archive/data/{key}", array.tobytes())
    return buffer.getvalue()


def _legacy_file(state: dict, storages: dict[str, np.ndarray]) -> bytes:
    parts = [
        pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2),
        pickle.dumps(1001, protocol=2),
        pickle.dumps({"little_endian": True}, protocol=2),
        _dumps(state),
        pickle.dumps(list(storages), protocol=2),
    ]
    for array in storages.values():
        parts.append(struct.pack("<q", array.size) + array.tobytes())
    return b"".join(parts)


@pytest.mark.parametrize("layout", [_zip_file, _legacy_file])
def test_both_layouts_rebuild_every_dtype_with_offsets_and_strides(fake_torch, layout):
    torch, utils = fake_torch
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(4, 3, 2)).astype(np.float32)
    half = rng.normal(size=(5,)).astype(np.float16)
    brain = rng.normal(size=(2, 3)).astype(ml_dtypes.bfloat16)
    counter = np.array([7], np.int64)
    shared = np.arange(12, dtype=np.float32)
    state = collections.OrderedDict(
        weights=_Tensor(torch, utils, "0", weights),
        half=_Tensor(torch, utils, "1", half),
        brain=_Tensor(torch, utils, "2", brain),
        counter=_Tensor(torch, utils, "3", counter, size=(), stride=()),
        # A transposed view into the middle of a shared storage.
        view=_Tensor(torch, utils, "4", shared, offset=2, size=(3, 2), stride=(1, 4)),
    )
    storages = {"0": weights, "1": half, "2": brain, "3": counter, "4": shared}
    read = torch_state_dict.loads(layout(state, storages))
    np.testing.assert_array_equal(read["weights"], weights)
    assert read["half"].dtype == np.float16 and np.array_equal(read["half"], half)
    assert read["brain"].dtype == ml_dtypes.bfloat16
    np.testing.assert_array_equal(read["brain"].astype(np.float32), brain.astype(np.float32))
    assert read["counter"].shape == () and read["counter"] == 7
    expected_view = [[shared[2 + i + 4 * j] for j in range(2)] for i in range(3)]
    np.testing.assert_array_equal(read["view"], expected_view)


def test_the_wheels_weights_read_back_with_their_shapes_and_dtypes():
    path = efficientnet_weights.wheel_weights_path("efficientnet_lite0")
    state = torch_state_dict.read(path)
    assert len(state) == 296
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_blocks.15._project_conv.weight"].shape == (320, 1152, 1, 1)
    assert state["_blocks.3._depthwise_conv.weight"].shape == (144, 1, 5, 5)
    assert state["_fc.weight"].shape == (1000, 1280)
    assert state["_bn0.running_var"].dtype == np.float32
    assert state["_bn0.num_batches_tracked"].dtype == np.int64
    assert np.all(state["_bn1.running_var"] > 0)


def test_a_pickle_that_would_run_code_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "ran"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    payload = pickle.dumps(collections.OrderedDict(weight=Exploit()), protocol=2)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", payload)
    for data in (buffer.getvalue(), _legacy_prefix() + payload):
        with pytest.raises(torch_state_dict.UnsafeCheckpointError, match=r"refused .*system"):
            torch_state_dict.loads(data, name="evil.pth")
    assert not marker.exists()


def _legacy_prefix() -> bytes:
    return b"".join(pickle.dumps(x, protocol=2) for x in (0x1950A86A20F9469CFC6C, 1001, {}))


def test_truncated_non_zip_and_missing_files_are_named(tmp_path):
    data = open(efficientnet_weights.wheel_weights_path("efficientnet_lite0"), "rb").read()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(torch_state_dict.CorruptCheckpointError, match="cut.pth: .*truncated"):
        torch_state_dict.read(tmp_path / "cut.pth")
    (tmp_path / "text.pth").write_bytes(b"hello, not a checkpoint")
    with pytest.raises(torch_state_dict.CorruptCheckpointError, match="text.pth: not a PyTorch"):
        torch_state_dict.read(tmp_path / "text.pth")
    with pytest.raises(FileNotFoundError, match="absent.pth: no such weights file"):
        torch_state_dict.read(tmp_path / "absent.pth")


def test_a_tensor_reading_past_its_storage_is_refused(fake_torch):
    torch, utils = fake_torch
    small = np.zeros(4, np.float32)
    state = {"w": _Tensor(torch, utils, "0", small, offset=2, size=(4,), stride=(1,))}
    with pytest.raises(torch_state_dict.CorruptCheckpointError, match="reads past its storage"):
        torch_state_dict.loads(_zip_file(state, {"0": small}))
