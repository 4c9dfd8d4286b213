"""Shipping a trained generator in the package and using it: models.shipped, tools.ship_model,
Colorizer(model=...), init_from=NAME, and the one-line errors of missing or damaged files."""

import json
import os

import jax
import numpy as np
import pytest
import skimage.data
from flax import traverse_util

from colorize_jax.inference import restore
from colorize_jax.inference.full_resolution import Colorizer
from colorize_jax.models import shipped
from colorize_jax.runtime import sharding
from colorize_jax.tools import ship_model
from colorize_jax.training import loop
from tests.tiny_training import tiny_config

NAME = "tiny_v0"


def restored_generator(workdir):
    mesh = sharding.create_mesh(jax.local_devices()[:1])
    config = restore.load_config(workdir, None)
    return restore.restore_generator(config, workdir, mesh, step=None, which="latest")[0]


@pytest.fixture
def shipped_dir(tmp_path, monkeypatch, workdir):
    """A shipped-models folder holding the tiny trained workdir as NAME."""
    directory = tmp_path / "shipped"
    monkeypatch.setattr(shipped, "SHIPPED_DIR", str(directory))
    ship_model.ship(
        workdir,
        NAME,
        "# tiny\n",
        step=None,
        checkpoint="latest",
        overrides={"vivid_chroma_gain": "2.5"},
        output_dir=str(directory),
    )
    return directory / NAME


def test_ship_writes_float16_weights_config_and_card(shipped_dir, workdir):
    from safetensors.numpy import load_file

    weights = load_file(str(shipped_dir / shipped.WEIGHTS_FILE))
    assert {w.dtype for w in weights.values()} == {np.dtype(np.float16)}
    described = json.loads((shipped_dir / shipped.MODEL_FILE).read_text())
    assert described["step"] == 4 and described["config"]["vivid_chroma_gain"] == 2.5
    assert (shipped_dir / shipped.CARD_FILE).read_text() == "# tiny\n"
    generator = restored_generator(workdir)
    flat = traverse_util.flatten_dict(
        {"params": generator.params, "batch_stats": generator.batch_stats}, sep="/"
    )
    assert set(flat) == set(weights)
    for key, value in flat.items():  # float16 of the float32 checkpoint, nothing else
        np.testing.assert_array_equal(weights[key], np.asarray(value, np.float16))


def test_shipped_model_colorizes_like_its_workdir(shipped_dir, workdir):
    assert shipped.names() == [NAME]
    image = skimage.data.chelsea()
    from_workdir = Colorizer(workdir, checkpoint="latest").colorize(image).astype(float)
    from_package = Colorizer.pretrained(NAME)
    assert from_package.step == 4 and "shipped model" in from_package.source
    assert np.abs(from_package.colorize(image).astype(float) - from_workdir).mean() < 1.0


def test_vivid_uses_the_shipped_vivid_gain(shipped_dir):
    assert Colorizer.pretrained(NAME).config.decode_chroma_gain == 1.0
    assert Colorizer.pretrained(NAME, vivid=True).config.decode_chroma_gain == 2.5
    explicit = Colorizer.pretrained(NAME, vivid=True, overrides={"decode_chroma_gain": "1.2"})
    assert explicit.config.decode_chroma_gain == 1.2


def test_unknown_name_is_one_line_with_the_choices(shipped_dir):
    with pytest.raises(shipped.ShippedModelError, match="no shipped model 'tiny_v1'.*tiny_v0"):
        Colorizer.pretrained("tiny_v1")


@pytest.mark.parametrize("damage", ["truncate", "flip", "remove", "model_json"])
def test_missing_or_damaged_files_are_one_line_naming_them(shipped_dir, damage):
    weights = shipped_dir / shipped.WEIGHTS_FILE
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:1000])
    elif damage == "flip":
        data = bytearray(weights.read_bytes())
        data[-10] ^= 0xFF
        weights.write_bytes(bytes(data))
    elif damage == "remove":
        weights.unlink()
    else:
        (shipped_dir / shipped.MODEL_FILE).write_text("{not json")
    with pytest.raises(shipped.ShippedModelError) as raised:
        Colorizer.pretrained(NAME)
    message = str(raised.value)
    assert "\n" not in message and NAME in message and "reinstall" in message
    named = shipped.MODEL_FILE if damage == "model_json" else shipped.WEIGHTS_FILE
    assert named in message


def test_init_from_a_shipped_model_starts_training_from_its_weights(shipped_dir, tmp_path):
    config = tiny_config(num_train_steps=1, eval_every_steps=1, checkpoint_every_steps=1)
    config.model.init_from = NAME
    config.optimizer.learning_rate = 0.0  # the first step changes nothing: the weights stay
    loop.train_and_evaluate(config, str(tmp_path / "fine_tune"))
    generator = restored_generator(str(tmp_path / "fine_tune"))
    params = generator.params
    like = {"params": params, "batch_stats": generator.batch_stats}
    expected = shipped.read_weights(shipped.open_model(NAME), like)["params"]
    leaves = jax.tree_util.tree_leaves(params)
    assert len(leaves) == len(jax.tree_util.tree_leaves(expected))
    for got, want in zip(leaves, jax.tree_util.tree_leaves(expected), strict=True):
        np.testing.assert_array_equal(np.asarray(got), want)


def test_init_from_a_shipped_model_of_another_network_names_the_mismatch(shipped_dir, tmp_path):
    config = tiny_config(**{"model.base_width": 16})
    config.model.init_from = NAME
    with pytest.raises(shipped.ShippedModelError, match="does not fit this network.*shape"):
        loop.train_and_evaluate(config, str(tmp_path / "other"))


def test_writing_refuses_float16_overflow(tmp_path):
    with pytest.raises(ValueError, match="overflow float16"):
        shipped.write(
            str(tmp_path / "x"),
            name="x",
            variables={"params": {"w": np.float32([1e6])}},
            config={},
            step=0,
            card="",
        )
    assert not os.path.exists(tmp_path / "x" / shipped.WEIGHTS_FILE)


def test_a_shipped_model_exports_to_onnx_and_colorizes_without_jax(shipped_dir, tmp_path):
    from colorize_jax.inference import export
    from colorize_jax.inference.onnx_colorizer import OnnxColorizer

    path = str(tmp_path / "tiny.onnx")
    described = export.export(None, "onnx", path, model=NAME, vivid=True)
    assert described["shipped_model"] == NAME and described["step"] == 4
    image = skimage.data.astronaut()
    expected = Colorizer.pretrained(NAME, vivid=True).colorize(image).astype(float)
    got = OnnxColorizer(path).colorize(image).astype(float)
    assert np.abs(got - expected).mean() < 0.1
