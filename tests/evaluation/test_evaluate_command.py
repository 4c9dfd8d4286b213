"""`colorize_jax.evaluate` on the validation split: the restored generator, the evaluators the
config names, and a one-line error for an evaluator name it does not know."""

from __future__ import annotations

import json

import pytest

from colorize_jax.evaluation import evaluators
from tests.evaluation.test_photo_scores import run_evaluate
from tests.tiny_training import tiny_flags


def test_the_restored_generator_scores_as_training_evaluated_it(workdir, tmp_path):
    result = run_evaluate(f"--workdir={workdir}", f"--output_dir={tmp_path}")
    assert result.returncode == 0, result.stderr
    scored = json.loads((tmp_path / "metrics.json").read_text())
    # The demo preset names the "pixel" evaluator only.
    assert set(scored) == {*evaluators.metric_keys("pixel"), "num_images", "num_skipped", "step"}
    assert scored["step"] == 4 and scored["num_images"] == 9
    assert (tmp_path / "sheet.png").exists()
    # Training evaluated the same checkpoint's generator from its train state.
    trained = json.loads(open(f"{workdir}/eval/metrics.json").read())
    assert trained["step"] == 4
    for key in (*evaluators.metric_keys("pixel"), "num_images", "num_skipped"):
        assert scored[key] == pytest.approx(trained[key], rel=1e-5, abs=1e-6), key


def test_an_unknown_evaluator_is_a_one_line_error(workdir, tmp_path):
    result = run_evaluate(
        f"--workdir={workdir}",
        f"--output_dir={tmp_path}",
        *tiny_flags(),
        "--config.evaluators=('pixle',)",
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("colorize_jax.evaluate: error: unknown evaluator 'pixle'"), last
    assert "did you mean 'pixel'" in last and last.endswith("available: pixel, pretrained")
    assert not (tmp_path / "metrics.json").exists()
