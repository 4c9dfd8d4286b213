"""The launch scripts: clear errors for missing arguments, and the commands they run.

gcloud, srun and scontrol are replaced by stubs that record their arguments; the local launcher
runs for real (its training use is in test_distributed and test_preemption).
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from tests.tiny_training import REPO


def _stub(directory, name, body):
    path = directory / name
    path.write_text("#!/usr/bin/env bash\n" + body)
    path.chmod(0o755)


def _run(script, *args, env=None, timeout=60):
    return subprocess.run(
        ["bash", f"{REPO}/launch/{script}", *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _error(result) -> str:
    return result.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(
    "args, message",
    [
        ((), "missing NUM_PROCESSES, DEVICES_PER_PROCESS and -- COMMAND"),
        (("2",), "missing DEVICES_PER_PROCESS and -- COMMAND"),
        (("two", "4", "--", "true"), "NUM_PROCESSES must be a positive integer, not 'two'"),
        (("2", "4"), "missing -- COMMAND"),
        (("2", "4", "--"), "missing the command after --"),
        (("2", "4", "python"), "unknown option 'python' (the command goes after --)"),
    ],
)
def test_local_multiprocess_names_what_is_missing(args, message):
    result = _run("local_multiprocess.sh", *args)
    assert result.returncode == 2
    assert _error(result) == f"local_multiprocess.sh: error: {message}"
    assert "NUM_PROCESSES DEVICES_PER_PROCESS" in result.stderr  # the usage line


def test_local_multiprocess_gives_each_process_its_id_and_stops_all_on_a_failure():
    show = 'echo "$XLA_FLAGS $JAX_PLATFORMS $*"'
    own = "--xla_dump_to=/nonexistent"  # the caller's XLA_FLAGS are kept, the device count added
    result = _run(
        "local_multiprocess.sh",
        *("3", "2", "--port=4321", "--", "bash", "-c", show, "x"),
        env={"XLA_FLAGS": own},
    )
    assert result.returncode == 0, result.stderr
    for i in range(3):
        expected = (
            f"[{i}] {own} --xla_force_host_platform_device_count=2 cpu "
            f"--coordinator_address=127.0.0.1:4321 --num_processes=3 --process_id={i}"
        )
        assert expected in result.stdout.splitlines()
    start = time.monotonic()
    # Process 0 ignores SIGTERM (as a JAX process waiting for a dead peer cannot checkpoint).
    fail_one = 'case "$3" in --process_id=1) exit 3 ;; *) trap "" TERM; exec sleep 60 ;; esac'
    result = _run(
        "local_multiprocess.sh", "2", "1", "--", "bash", "-c", fail_one, "x",
        env={"STOP_GRACE_SECONDS": "1"},
    )  # fmt: skip
    assert result.returncode == 3
    assert time.monotonic() - start < 30  # process 0 was stopped, not waited for
    assert "a process exited with status 3; stopping the others" in result.stderr


@pytest.fixture
def gcloud(tmp_path):
    """A stub gcloud on PATH; returns the file its calls are written to, one per line."""
    log = tmp_path / "gcloud.log"
    _stub(tmp_path, "gcloud", f'printf "%s|" "$@" >> {log}; echo >> {log}\n')
    return {"PATH": f"{tmp_path}:{os.environ['PATH']}"}, log


def test_tpu_vm_commands(gcloud):
    env, log = gcloud
    where = ["--name=tpu1", "--zone=us-central2-b"]
    assert _run("tpu_vm.sh", "create", *where, "--accelerator=v4-32", env=env).returncode == 0
    assert _run("tpu_vm.sh", "install", *where, env=env).returncode == 0
    flags = ["--config=configs/unet_lab.py:tpu", "--workdir=gs://b/runs/a b"]
    assert _run("tpu_vm.sh", "run", *where, "--", *flags, env=env).returncode == 0
    assert _run("tpu_vm.sh", "delete", *where, "--project=p", env=env).returncode == 0
    create, scp, install, run, delete = log.read_text().splitlines()
    assert create == (
        "compute|tpus|tpu-vm|create|tpu1|--zone=us-central2-b|--accelerator-type=v4-32|"
        "--version=tpu-ubuntu2204-base|"
    )
    assert scp.startswith("compute|tpus|tpu-vm|scp|") and scp.endswith(
        "colorize_jax.tar.gz|tpu1:colorize_jax.tar.gz|--zone=us-central2-b|--worker=all|"
    )
    assert "--worker=all|--command=" in install and "pip install -q -e . 'jax[tpu]'" in install
    assert run.startswith("compute|tpus|tpu-vm|ssh|tpu1|--zone=us-central2-b|--worker=all|")
    assert run.endswith(
        "exec python -m colorize_jax.main --config=configs/unet_lab.py:tpu "
        "--workdir=gs://b/runs/a\\ b|"
    )
    assert delete == "compute|tpus|tpu-vm|delete|tpu1|--zone=us-central2-b|--project=p|--quiet|"


@pytest.mark.parametrize(
    "args, message",
    [
        ((), "missing the command: create, install, run or delete"),
        (("start", "--name=a", "--zone=b"), "unknown command 'start'"),
        (("create", "--zone=b"), "missing --name=NAME (the TPU VM's name)"),
        (("create", "--name=a"), "missing --zone=ZONE (e.g. us-central2-b)"),
        (("create", "--name=a", "--zone=b"), "create needs --accelerator=TYPE"),
        (("run", "--name=a", "--zone=b"), "run needs colorize_jax.main's flags after --"),
        (("run", "--name=a", "--zone=b", "--", "--workdir=gs://x"), "missing --config="),
        (("run", "--name=a", "--zone=b", "--", "--config=c.py"), "missing --workdir=DIR"),
        (
            ("run", "--name=a", "--zone=b", "--", "--config=c.py", "--workdir=runs/x"),
            "--workdir must be gs://... so that every worker sees it",
        ),
        (("delete", "--name=a", "--zone=b", "--spott"), "unknown option '--spott'"),
    ],
)
def test_tpu_vm_names_what_is_missing(gcloud, args, message):
    env, log = gcloud
    result = _run("tpu_vm.sh", *args, env=env)
    assert result.returncode == 2
    assert _error(result).startswith(f"tpu_vm.sh: error: {message}")
    assert not log.exists()  # nothing was created or started


def test_slurm_script_runs_one_task_per_node_with_ranks_from_slurm(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _stub(bin_dir, "scontrol", 'printf "gpu-07\\ngpu-08\\n"\n')
    # srun: run the task command as each of two tasks; python: show its arguments.
    _stub(
        bin_dir,
        "srun",
        'echo "srun $1 $2"; shift 2\n'
        'for rank in 0 1; do SLURM_NTASKS=2 SLURM_PROCID=$rank "$@" || exit; done\n',
    )
    _stub(bin_dir, "python", 'echo "python $*"\n')
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "SLURM_JOB_ID": "4242",
        "SLURM_JOB_NODELIST": "gpu-[07-08]",
        "SLURM_NNODES": "2",
        "SLURM_SUBMIT_DIR": str(tmp_path),
    }
    flags = ["--config=configs/unet_lab.py:gpu", "--workdir=/shared/runs/x"]
    result = _run("slurm_gpu.sbatch", *flags, env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "srun --ntasks-per-node=1 --kill-on-bad-exit=1"
    for rank in (0, 1):
        assert lines[1 + rank] == (
            f"python -m colorize_jax.main {' '.join(flags)} --coordinator_address=gpu-07:24242 "
            f"--num_processes=2 --process_id={rank}"
        )

    for args, extra_env, message in [
        (flags, {"SLURM_JOB_ID": ""}, "submit this script with sbatch"),
        (flags[1:], {}, "missing --config=FILE[:PRESET]"),
        (flags[:1], {}, "missing --workdir=DIR"),
        ([*flags, "--process_id=1"], {}, "--process_id=1 is set by this script"),
        (flags, {"COLORIZE_JAX_VENV": "/nope"}, "COLORIZE_JAX_VENV=/nope is not a virtual"),
    ]:
        result = _run("slurm_gpu.sbatch", *args, env={**env, **extra_env})
        assert result.returncode == 2
        assert _error(result).startswith(f"slurm_gpu.sbatch: error: {message}"), result.stderr
