"""Multi-process training: 2 local processes x 4 CPU devices against 1 process x 8 devices."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from colorize_jax import data
from colorize_jax.components import builder
from colorize_jax.runtime import distributed
from colorize_jax.training import schemes
from tests.tiny_training import (
    REPO,
    final_state,
    read_jsonl,
    subprocess_env,
    tiny_config,
    tiny_flags,
)

LAUNCH = f"{REPO}/launch/local_multiprocess.sh"


def _main(workdir, **overrides) -> list[str]:
    flags = tiny_flags(per_device_batch_size=1, **overrides)
    return [sys.executable, "-m", "colorize_jax.main", *flags, f"--workdir={workdir}"]


def test_two_processes_of_four_devices_train_like_one_process_of_eight(tmp_path):
    env = subprocess_env(devices=8)
    start = time.perf_counter()
    two = subprocess.Popen(
        ["bash", LAUNCH, "2", "4", "--", *_main(tmp_path / "two")],
        cwd=REPO,
        env=subprocess_env(devices=1),  # the script sets 4 devices per process
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    one = subprocess.run(
        _main(tmp_path / "one"), cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    output, _ = two.communicate(timeout=600)
    print(f"both runs: {time.perf_counter() - start:.1f} s")
    assert one.returncode == 0, one.stderr[-3000:]
    assert two.returncode == 0, output[-3000:]
    assert "joined a 2-process run (explicit) as process 0" in output
    assert "8 devices over 2 processes; global batch 8" in output

    config = tiny_config(per_device_batch_size=1)
    state_one, step_one = final_state(tmp_path / "one", config)
    state_two, step_two = final_state(tmp_path / "two", config)
    assert step_one == step_two == config.num_train_steps
    differences = jax.tree_util.tree_map(
        lambda a, b: float(np.max(np.abs(a - b))), state_one.generator.params,
        state_two.generator.params,
    )  # fmt: skip
    largest = max(jax.tree_util.tree_leaves(differences))
    print(f"largest parameter difference, 1x8 against 2x4: {largest:.3g}")
    components = builder.build(config)
    initial = schemes.init_state(components, jax.random.key(config.seed)).generator.params

    # The all-reduce sums in another order (one process's 8 devices vs gloo across two), and
    # Adam's normalization magnifies that rounding where a gradient is near zero, by an amount
    # that depends on the CPU (largest difference 3e-7 on an AVX2 EPYC, 5e-4 on an AVX-512
    # one). So the bound is on the mean difference relative to the mean movement: 0.5% on the
    # AVX-512 machine, where batches split differently would give ~100%.
    def mean_abs(tree_a, tree_b):
        leaves = zip(*map(jax.tree_util.tree_leaves, (tree_a, tree_b)), strict=True)
        diffs = np.concatenate([np.abs(np.ravel(a) - np.ravel(b)) for a, b in leaves])
        return float(np.mean(diffs))

    relative = mean_abs(state_one.generator.params, state_two.generator.params) / mean_abs(
        initial, state_two.generator.params
    )
    print(f"mean parameter difference / mean movement: {relative:.3g}")
    assert relative < 0.01

    # Every process took part in each checkpoint; only process 0 wrote logs and the sheet.
    data_item = tmp_path / "two/checkpoints/4/data"
    assert sorted(p.name for p in data_item.glob("process_*.json")) == [
        "process_0-of-2.json",
        "process_1-of-2.json",
    ]
    logged = [
        row["step"] for row in read_jsonl(tmp_path / "two/metrics.jsonl") if "train/loss" in row
    ]
    assert logged == [1, 2, 3, 4]
    assert (tmp_path / "two/eval/sheet.png").exists()
    metrics = [
        json.loads((tmp_path / f"{run}/eval/metrics.json").read_text()) for run in ("one", "two")
    ]
    assert metrics[0]["num_images"] == metrics[1]["num_images"]
    np.testing.assert_allclose(metrics[0]["psnr"], metrics[1]["psnr"], rtol=1e-3)


def _digests(batch) -> list[str]:
    return [hashlib.sha1(image.tobytes()).hexdigest() for image in batch["image"]]


def test_the_two_processes_read_disjoint_examples_that_make_the_global_batch():
    """What each process of the run above reads: its share of the one global stream."""
    config = tiny_config(per_device_batch_size=1)
    steps = config.num_train_steps
    global_stream = data.create_train_iterator(config, batch_size=8)
    shares = [
        data.create_train_iterator(config, batch_size=4, process_index=p, process_count=2)
        for p in range(2)
    ]
    read = [[], []]
    for _ in range(steps):
        expected = _digests(next(global_stream))
        halves = [_digests(next(share)) for share in shares]
        for p in range(2):
            read[p] += halves[p]
        assert halves[0] + halves[1] == expected  # each its slice of the global batch
    assert len(set(read[0] + read[1])) == 2 * 4 * steps  # no example read twice
    assert set(read[0]).isdisjoint(read[1])


def test_explicit_flags_go_together_and_are_checked():
    settings = distributed.ProcessSettings
    with pytest.raises(ValueError, match="missing --num_processes and --process_id"):
        settings("127.0.0.1:1234").validate()
    with pytest.raises(ValueError, match="missing --coordinator_address"):
        settings(None, 2, 0).validate()
    with pytest.raises(ValueError, match="is not HOST:PORT"):
        settings("127.0.0.1", 2, 0).validate()
    with pytest.raises(ValueError, match=r"--process_id=2 is not in \[0, 2\)"):
        settings("127.0.0.1:1234", 2, 2).validate()
    assert settings("10.0.0.1:8476", 4, 3).validate().explicit
    assert not settings().validate().explicit


def test_cluster_detection_from_the_environment(monkeypatch):
    slurm = {"SLURM_JOB_ID": "17", "SLURM_PROCID": "1", "SLURM_NTASKS": "4"}
    assert distributed.detect_cluster(slurm, tpu_vm=False) == "slurm"
    assert distributed.detect_cluster({**slurm, "SLURM_NTASKS": "1"}, tpu_vm=False) is None
    assert distributed.detect_cluster({"SLURM_JOB_ID": "17"}, tpu_vm=False) is None  # salloc
    assert distributed.detect_cluster({}, tpu_vm=True) == "cloud_tpu"
    assert distributed.detect_cluster({}, tpu_vm=False) is None
    monkeypatch.setattr(distributed, "running_on_tpu_vm", lambda: False)
    # One machine: nothing to join (a call to jax.distributed.initialize would fail here).
    assert distributed.initialize(distributed.ProcessSettings(), environ={}) == "none"


def test_main_refuses_incomplete_process_flags(tmp_path):
    result = subprocess.run(
        [*_main(tmp_path), "--num_processes=2"],
        cwd=REPO,
        env=subprocess_env(devices=1),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        "colorize_jax.main: error: --coordinator_address, --num_processes, --process_id go "
        "together: missing --coordinator_address and --process_id"
    )
