"""The commands' console scripts (setup.cfg): one per program, each a zero-argument `run`."""

import configparser
import json
import os
import subprocess
import sys

from tests.test_layout import program_modules
from tests.tiny_training import REPO


def console_scripts() -> dict[str, str]:
    """setup.cfg's console_scripts: script name -> "module:function"."""
    parser = configparser.ConfigParser()
    parser.read(os.path.join(REPO, "setup.cfg"))
    lines = parser["options.entry_points"]["console_scripts"].strip().splitlines()
    return dict((part.strip() for part in line.split("=", 1)) for line in lines)


def test_every_program_has_one_console_script_named_after_it():
    scripts = console_scripts()
    targets = [target.split(":") for target in scripts.values()]
    assert all(function == "run" for _, function in targets)
    modules = [module for module, _ in targets]
    assert sorted(modules) == sorted(program_modules())  # each program once, nothing else
    assert all(name.startswith("colorize-jax-") for name in scripts)
    assert scripts["colorize-jax-train"] == "colorize_jax.main:run"
    for name, target in scripts.items():
        if target != "colorize_jax.main:run":
            module = target.split(":")[0].rsplit(".", 1)[-1]
            assert name == "colorize-jax-" + module.replace("_", "-"), (name, target)


# Imports each target in turn in one fresh process and says whether it is a function callable
# without arguments. main.py, evaluate.py and tools/ab_prior.py define their flags on import
# (some with the same names), so the flags each import defined are removed before the next.
CHECK_TARGETS = """
import importlib, inspect, json, sys
from absl import flags

found = {}
for target in sys.argv[1:]:
    before = set(flags.FLAGS)
    module, function = target.split(":")
    run = getattr(importlib.import_module(module), function)
    required = [
        p for p in inspect.signature(run).parameters.values()
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    found[target] = callable(run) and not required
    for name in set(flags.FLAGS) - before:
        delattr(flags.FLAGS, name)
print(json.dumps(found))
"""


def test_every_console_script_imports_and_is_callable_without_arguments():
    targets = sorted(console_scripts().values())
    result = subprocess.run(
        [sys.executable, "-c", CHECK_TARGETS, *targets],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == dict.fromkeys(targets, True)


def run_script(target: str, *args: str, cwd: str = REPO) -> subprocess.CompletedProcess:
    """Runs `target` as pip's console-script wrapper does (import, then `sys.exit(run())`)."""
    module, function = target.split(":")
    wrapper = f"import sys; from {module} import {function}; sys.exit({function}())"
    return subprocess.run(
        [sys.executable, "-c", wrapper, *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": REPO},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_console_script_defines_its_flags_and_answers_bad_input_in_one_line(tmp_path):
    scripts = console_scripts()
    result = run_script(
        scripts["colorize-jax-colorize"], "--model=no_such_model", f"--output_dir={tmp_path}", "x"
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("colorize_jax.colorize: error: no shipped model 'no_such_model'"), last
    # A tool that defines its flags only when run (importing it defines none).
    args = ["--width=64", "--height=36", "--seconds=0.2", "--clips=pan", f"--output_dir={tmp_path}"]
    result = run_script(scripts["colorize-jax-make-test-clips"], *args)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"pan: {tmp_path / 'pan.mp4'}"
    assert (tmp_path / "pan.mp4").stat().st_size > 0


def test_a_console_script_helps_as_its_module_does():
    import colorize_jax.export

    result = run_script(console_scripts()["colorize-jax-export"], "--help")
    assert colorize_jax.export.__doc__.splitlines()[0] in result.stdout
    assert "--format: Artifact: onnx or stablehlo." in result.stdout
