"""The entry points answer bad input with one line naming the problem, and exit 1."""

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*args):
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )


def test_main_names_a_missing_source_folder(tmp_path):
    missing = tmp_path / "no_such_photos"
    result = _run(
        "colorize_jax.main",
        "--config=configs/unet_lab.py:demo",
        f"--workdir={tmp_path / 'run'}",
        f"--config.data.source=folder:{missing}",
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("colorize_jax.main: error:") and str(missing) in last
    assert "Traceback" not in result.stderr


def test_evaluate_names_a_workdir_without_training(tmp_path):
    result = _run("colorize_jax.evaluate", f"--workdir={tmp_path}")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("colorize_jax.evaluate: error:") and "config.json" in last
