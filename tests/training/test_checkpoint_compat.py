"""A workdir written before the package was grouped by role still restores and resumes.

tests/fixtures/pre_restructure_workdir was written by the flat layout (commit a820adc): the tiny
U-Net of `tiny_config` trained for 2 steps (config.json, an orbax checkpoint at step 2 with the
data iterator's position, eval/metrics.json) and, beside it, `state_at_save.npz`: every leaf of
that checkpoint's train state as the old code restored it.
"""

import os
import shutil

import jax
import numpy as np
import pytest

from colorize_jax.inference import restore
from colorize_jax.runtime import sharding
from colorize_jax.training import loop
from tests.tiny_training import REPO, final_state, read_jsonl, tiny_config

FIXTURE = os.path.join(REPO, "tests", "fixtures", "pre_restructure_workdir")


def saved_leaves() -> dict[str, np.ndarray]:
    with np.load(os.path.join(FIXTURE, "state_at_save.npz")) as saved:
        return {key: saved[key] for key in saved.files}


def leaves_by_path(tree) -> dict[str, np.ndarray]:
    return {
        jax.tree_util.keystr(k): np.asarray(v) for k, v in jax.tree_util.tree_leaves_with_path(tree)
    }


def fixture_config(**overrides):
    fields = {"num_train_steps": 2, "eval_every_steps": 2, "checkpoint_every_steps": 2}
    return tiny_config(**{**fields, **overrides})


def copy_fixture(directory) -> str:
    shutil.copytree(FIXTURE, directory)
    return str(directory)


def test_the_whole_train_state_restores_bit_identically(tmp_path):
    state, step = final_state(copy_fixture(tmp_path / "w"), fixture_config())
    leaves = leaves_by_path(state)
    expected = saved_leaves()
    assert step == 2 and set(leaves) == set(expected)
    for key, value in expected.items():
        np.testing.assert_array_equal(leaves[key], value, err_msg=key)


def test_inference_restores_the_generator_alone_bit_identically():
    config = restore.load_config(FIXTURE, None)  # the old config.json
    generator, step = restore.restore_generator(config, FIXTURE, sharding.create_mesh(), step=None)
    expected = saved_leaves()
    prefix = ".networks['generator']"
    restored = {
        f"{prefix}.{kind}{jax.tree_util.keystr(k)}": np.asarray(v)
        for kind in ("params", "batch_stats")
        for k, v in jax.tree_util.tree_leaves_with_path(getattr(generator, kind))
    }
    assert step == 2
    assert set(restored) == {
        key
        for key in expected
        if key.startswith(prefix + ".params") or key.startswith(prefix + ".batch_stats")
    }
    for key, value in restored.items():
        np.testing.assert_array_equal(value, expected[key], err_msg=key)


@pytest.mark.parametrize("stop_at", [3])
def test_training_resumes_from_the_old_checkpoint_as_from_a_new_one(tmp_path, stop_at):
    config = fixture_config(num_train_steps=4, eval_every_steps=4)
    straight = copy_fixture(tmp_path / "straight")
    loop.train_and_evaluate(config, straight)
    stopped = copy_fixture(tmp_path / "stopped")
    loop.train_and_evaluate(config, stopped, stop_after_steps=stop_at - 2)
    loop.train_and_evaluate(config, stopped)

    state_a, step_a = final_state(straight, config)
    state_b, step_b = final_state(stopped, config)
    assert step_a == step_b == 4
    leaves_a, leaves_b = leaves_by_path(state_a), leaves_by_path(state_b)
    assert set(leaves_a) == set(leaves_b)
    for key, value in leaves_a.items():
        np.testing.assert_array_equal(value, leaves_b[key], err_msg=key)
    # The old run's steps 1-2 are not trained again: the log goes on at step 3.
    steps = [
        row["step"]
        for row in read_jsonl(os.path.join(straight, "metrics.jsonl"))
        if "train/loss" in row
    ]
    assert steps == [1, 2, 3, 4]


def test_the_colorizer_reads_the_old_workdir_and_its_config():
    from colorize_jax.inference.full_resolution import Colorizer

    photo = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    colorized = Colorizer(FIXTURE).colorize(photo)
    assert colorized.shape == photo.shape and colorized.dtype == np.uint8
