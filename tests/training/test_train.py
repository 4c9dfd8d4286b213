"""End-to-end training tests: multi-device agreement, exact resume, outputs written."""

from __future__ import annotations

import json
import os

import jax
import numpy as np
import pytest

from colorize_jax.components import builder
from colorize_jax.inference import restore
from colorize_jax.runtime import sharding
from colorize_jax.training import loop, schemes
from tests.tiny_training import read_jsonl, tiny_config, train_in_subprocess


def test_one_and_eight_devices_agree_at_the_same_global_batch(tmp_path):
    one = train_in_subprocess(tmp_path / "one", devices=1, per_device_batch=8)
    eight = train_in_subprocess(tmp_path / "eight", devices=8, per_device_batch=1)
    losses_one = [one[step]["train/loss"] for step in (1, 2, 3, 4)]
    losses_eight = [eight[step]["train/loss"] for step in (1, 2, 3, 4)]
    np.testing.assert_allclose(losses_one, losses_eight, rtol=2e-4)
    assert losses_one[0] != losses_one[-1]  # the model actually trained
    metrics_one = json.loads((tmp_path / "one/eval/metrics.json").read_text())
    metrics_eight = json.loads((tmp_path / "eight/eval/metrics.json").read_text())
    assert metrics_one["num_images"] == metrics_eight["num_images"]
    np.testing.assert_allclose(metrics_one["psnr"], metrics_eight["psnr"], rtol=1e-3)


def _final_params(workdir, config):
    mesh = sharding.create_mesh()
    generator, step = restore.restore_generator(config, str(workdir), mesh, step=None)
    return jax.device_get(generator.params), step


def test_stopped_and_resumed_run_equals_uninterrupted(tmp_path):
    config = tiny_config()
    loop.train_and_evaluate(config, str(tmp_path / "straight"))
    loop.train_and_evaluate(config, str(tmp_path / "resumed"), stop_after_steps=2)
    assert not (tmp_path / "resumed/eval/metrics.json").exists()  # stopped before any eval
    loop.train_and_evaluate(config, str(tmp_path / "resumed"))

    straight, step_a = _final_params(tmp_path / "straight", config)
    resumed, step_b = _final_params(tmp_path / "resumed", config)
    assert step_a == step_b == config.num_train_steps
    jax.tree_util.tree_map(np.testing.assert_array_equal, straight, resumed)
    log = read_jsonl(tmp_path / "resumed/metrics.jsonl")
    assert [row["step"] for row in log if "train/loss" in row] == [1, 2, 3, 4]


def test_training_writes_metrics_sheet_tensorboard_and_checkpoints(tmp_path):
    config = tiny_config()
    results = loop.train_and_evaluate(config, str(tmp_path))
    metrics = json.loads((tmp_path / "eval/metrics.json").read_text())
    expected = {
        "psnr", "ssim", "deltae2000", "colorfulness", "colorfulness_gt",
        "delta_colorfulness", "auc_ab", "num_images", "step",
    }  # fmt: skip
    assert expected <= set(metrics)
    assert metrics["step"] == config.num_train_steps
    assert metrics["psnr"] == pytest.approx(results["psnr"])
    assert 5 < metrics["psnr"] < 60 and 0 < metrics["auc_ab"] <= 1
    assert (tmp_path / "eval/sheet.png").stat().st_size > 0
    assert any(name.startswith("events") for name in os.listdir(tmp_path / "tensorboard"))
    assert json.loads((tmp_path / "config.json").read_text())["model"]["depth"] == 2
    # A second invocation finds the run complete and re-evaluates without training.
    again = loop.train_and_evaluate(config, str(tmp_path))
    assert again["psnr"] == pytest.approx(results["psnr"], rel=1e-5)


def test_non_finite_loss_stops_and_no_checkpoint_holds_it(tmp_path):
    config = tiny_config(learning_rate=1e30, warmup_steps=0, grad_clip_norm=0.0)
    config.checkpoint_every_steps = 1
    with pytest.raises(FloatingPointError, match=r"non-finite .* by step \d"):
        loop.train_and_evaluate(config, str(tmp_path))
    mesh = sharding.create_mesh()
    steps = [int(p.name) for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit()]
    assert max(steps, default=0) < config.num_train_steps
    for step in steps:
        generator, _ = restore.restore_generator(config, str(tmp_path), mesh, step=step)
        for leaf in jax.tree_util.tree_leaves(jax.device_get(generator.params)):
            assert np.all(np.isfinite(leaf)), f"checkpoint {step} holds non-finite parameters"


def test_a_non_finite_gradient_is_named_with_its_step():
    def metrics(loss, grad_norm):
        return {"loss": np.float32(loss), "grad_norm": np.float32(grad_norm), "num_skipped": 0}

    pending = [metrics(0.5, 1.0), metrics(0.4, np.inf), metrics(np.nan, np.nan)]
    with pytest.raises(
        FloatingPointError, match=r"non-finite grad_norm at step 6 \(found by step 7\)"
    ):
        loop._summarize(pending, 7)
    summary, _ = loop._summarize(pending[:1], 5)
    assert summary == {"loss": 0.5, "grad_norm": 1.0}


def test_a_non_finite_state_is_never_saved():
    config = tiny_config()
    mesh = sharding.create_mesh()
    state = schemes.create_train_state(builder.build(config), jax.random.key(0), mesh)
    loop._check_finite_state(state, 3)  # finite: no error
    params = jax.tree_util.tree_map(
        lambda x: x.at[(0,) * x.ndim].set(np.inf), state.generator.params
    )
    broken = state.replace_network("generator", state.generator.replace(params=params))
    with pytest.raises(FloatingPointError, match="non-finite values in the train state at step 3"):
        loop._check_finite_state(broken, 3)


def test_a_resumed_reporter_drops_what_the_killed_run_logged_after_its_checkpoint(tmp_path):
    from colorize_jax.runtime.reporting import Reporter

    rows = [{"step": step, "train/loss": 1.0 / step} for step in range(1, 6)]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    reporter = Reporter(str(tmp_path), total_steps=10, resume_step=3)
    reporter.scalars(4, {"loss": 0.5}, prefix="train/")
    reporter.close()
    logged = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
    assert [r["step"] for r in logged] == [1, 2, 3, 4]
    assert logged[-1]["train/loss"] == 0.5
