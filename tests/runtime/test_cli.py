"""The one runner of the commands (`cli.run`), and their one-line answers to bad input."""

import os
import subprocess
import sys

from colorize_jax.runtime import cli, cpu
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


# A command as small as the project's: `cli.run` with a main, a flag defined when run and,
# with --config_flag, a config file flag (as main.py, evaluate.py and the tools have).
TINY_COMMAND = """
import os, sys
from absl import flags, logging
from ml_collections import config_flags
from colorize_jax.runtime import cli, reporting

def define_flags():
    flags.DEFINE_string("name", "world", "Who to greet.")
    flags.DEFINE_string("fail", "", "Raise this ValueError in main.")
    if "--config_flag" in sys.argv:
        config_flags.DEFINE_config_file("config", None, "A config file.")
    flags.DEFINE_bool("config_flag", False, "Define --config.")
    flags.DEFINE_bool("flags_only", False, "Refuse positional arguments.")

def main(argv):
    print("xla_flags", os.environ.get("XLA_FLAGS", ""))
    print("quiet", reporting._is_own_or_important in logging.get_absl_handler().filters)
    print("hello", flags.FLAGS.name, argv[1:])
    if flags.FLAGS.fail:
        raise ValueError(flags.FLAGS.fail)

cli.run(
    main,
    "tiny",
    define_flags=define_flags,
    config_flag="--config_flag" in sys.argv,
    takes_arguments="--flags_only" not in sys.argv,
)
"""


def _run_tiny(tmp_path, *args):
    script = tmp_path / "tiny.py"
    script.write_text(TINY_COMMAND)
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["PYTHONPATH"] = REPO
    return subprocess.run(
        [sys.executable, str(script), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_run_applies_the_cpu_defaults_defines_the_flags_and_quiets_the_libraries(tmp_path):
    result = _run_tiny(tmp_path, "--name=you", "extra")
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(" ", 1) for line in result.stdout.strip().splitlines())
    # The XLA flags as cpu.apply_xla_flags sets them in an environment without any.
    assert lines["xla_flags"] == cpu.apply_xla_flags({})
    assert lines["quiet"] == "True"
    assert lines["hello"] == "you ['extra']"


def test_run_turns_a_user_error_into_one_line_and_exit_status_1(tmp_path):
    result = _run_tiny(tmp_path, "--fail=the photo is missing\nsecond line")
    assert result.returncode == 1
    assert result.stdout.splitlines()[-1] == "hello world []"  # main ran, then failed
    assert result.stderr.strip().splitlines()[-1] == "tiny: error: the photo is missing"
    assert "Traceback" not in result.stderr and "second line" not in result.stderr


def test_run_names_an_unknown_config_key_in_one_line_before_main(tmp_path):
    result = _run_tiny(
        tmp_path, "--config_flag", "--config=configs/unet_lab.py:demo", "--config.modl.depth=2"
    )
    assert result.returncode == 1
    assert "hello" not in result.stdout
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("tiny: error: unknown config key --config.modl.depth;"), last
    assert "--config.model.depth" in last


def test_run_refuses_arguments_a_command_does_not_take(tmp_path):
    result = _run_tiny(tmp_path, "--flags_only", "extra", "more")
    assert result.returncode == 1
    assert "hello" not in result.stdout  # refused before main
    assert "unexpected arguments: extra more" in result.stderr


def test_run_leaves_usage_errors_to_absl(tmp_path):
    result = _run_tiny(tmp_path, "--no_such_flag")
    assert result.returncode == 1
    assert "hello" not in result.stdout
    assert "Unknown command line flag 'no_such_flag'" in result.stderr
