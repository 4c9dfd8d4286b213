"""The entry points answer bad input with one line naming the problem, and exit 1."""

import subprocess
import sys

from colorize_jax.runtime import cli
from tests.tiny_training import REPO


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


def test_main_names_the_closest_keys_for_an_unknown_config_key(tmp_path):
    for override, expected in [
        ("--config.learnin_rate=0.1", "closest valid keys: --config.optimizer.learning_rate"),
        ("--config.model.depht=2", "closest valid keys: --config.model.depth"),
        ("--config.modl.depth=2", "--config.model.depth"),
    ]:
        result = _run(
            "colorize_jax.main",
            "--config=configs/unet_lab.py:demo",
            f"--workdir={tmp_path / 'run'}",
            override,
        )
        assert result.returncode == 1
        last = result.stderr.strip().splitlines()[-1]
        key = override.split("=")[0]
        assert last.startswith(f"colorize_jax.main: error: unknown config key {key};"), last
        assert expected in last
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_unknown_key_message_lists_close_names_at_any_depth():
    config = {"learning_rate": 1.0, "model": {"depth": 2, "dtype": "float32"}, "seed": 0}
    assert cli.unknown_key_message(config, "model.depth") is None
    assert cli.unknown_key_message(config, "seed") is None
    assert cli.unknown_key_message(config, "model.dpeth").startswith(
        "unknown config key --config.model.dpeth; closest valid keys: --config.model.depth"
    )
    assert "--config.model.depth" in cli.unknown_key_message(config, "modle.depth")
    message = cli.unknown_key_message(config, "zzz")
    assert message.startswith("unknown config key --config.zzz; valid keys include")
    assert "--config.learning_rate" in message
