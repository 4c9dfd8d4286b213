"""Every config file builds with every preset, and its model accepts its fields."""

import glob
import importlib.util
import os

import jax
import jax.numpy as jnp
import pytest

from colorize_jax import presets
from colorize_jax.components import builder, defaults
from colorize_jax.training import schemes
from colorize_jax.training.state import count_params

CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "configs")
CONFIG_FILES = sorted(glob.glob(os.path.join(CONFIG_DIR, "*.py")))


def _load(path):
    spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_issue_configs_exist():
    names = {os.path.basename(p)[:-3] for p in CONFIG_FILES}
    assert {
        "cnn_lab", "unet_lab", "unet_rgb", "unet_yuv",
        "unet_strided_lab", "resnet34_unet_lab", "unet_attention_lab",
    } <= names  # fmt: skip


@pytest.mark.parametrize("path", CONFIG_FILES, ids=os.path.basename)
@pytest.mark.parametrize("preset", presets.PRESETS)
def test_config_builds_its_model(path, preset):
    module = _load(path)
    assert "Run:" in module.__doc__ and "python -m colorize_jax.main" in module.__doc__
    config = defaults.complete(module.get_config(preset))  # as training start completes it
    components = builder.build(config)
    schemes.get(components)  # the scheme exists and has the networks it trains
    model = components.generator.model
    size = config.data.image_size
    shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, size, size, 1)))
    params = count_params(shapes["params"])
    assert params > 10_000
    if os.path.basename(path).startswith("bench_"):
        return  # a fixed reference network for speed (tests/test_benchmark.py), not an experiment
    if preset == "cpu" and config.model.name == "unet":
        assert 1_000_000 < params < 6_000_000  # "a U-Net of a few million parameters"
    if preset in ("", "gpu", "tpu"):
        assert size == 256 and config.model.dtype == "bfloat16"
    if preset == "demo":
        assert config.data.source == "demo"


def test_unknown_preset_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown preset 'laptop'.*'cpu'"):
        presets.apply_preset(presets.base_config(), "laptop")
