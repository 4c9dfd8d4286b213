"""Adversarial training end to end: a stopped and resumed run equals an uninterrupted one."""

from __future__ import annotations

import jax
import numpy as np

from colorize_jax.training import loop
from tests.tiny_training import final_state, read_jsonl, tiny_config


def _final_networks(workdir, config):
    """{network: (params, batch_stats, opt_state)} of the latest checkpoint, and its step."""
    state, step = final_state(workdir, config)  # the whole train state, as training restores it
    networks = {
        name: (network.params, network.batch_stats, network.opt_state)
        for name, network in state.networks.items()
    }
    return jax.device_get(networks), step


def test_stopped_and_resumed_gan_run_equals_uninterrupted(tmp_path):
    # One step of each NoGAN phase before the stop, so the phases must resume from the step too.
    config = tiny_config(
        "pix2pix_lab",
        **{"gan.pretrain_generator_steps": 1, "gan.pretrain_discriminator_steps": 1},
    )
    loop.train_and_evaluate(config, str(tmp_path / "straight"))
    loop.train_and_evaluate(config, str(tmp_path / "resumed"), stop_after_steps=2)
    loop.train_and_evaluate(config, str(tmp_path / "resumed"))

    straight, step_a = _final_networks(tmp_path / "straight", config)
    resumed, step_b = _final_networks(tmp_path / "resumed", config)
    assert step_a == step_b == config.num_train_steps
    assert set(resumed) == {"generator", "discriminator"}
    jax.tree_util.tree_map(np.testing.assert_array_equal, straight, resumed)
    rows = [row for row in read_jsonl(tmp_path / "resumed/metrics.jsonl") if "train/loss" in row]
    assert [row["step"] for row in rows] == [1, 2, 3, 4]
    assert [row["train/gan_phase"] for row in rows] == [1, 2, 3, 3]
    model_rows = read_jsonl(tmp_path / "straight/metrics.jsonl")
    assert model_rows[0]["model/num_params_discriminator"] > 1000
