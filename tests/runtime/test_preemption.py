"""Surviving kills: SIGTERM checkpoints and exits 0; kill -9 loses only the steps since the last
checkpoint; either way the resumed run ends exactly where an uninterrupted one does."""

from __future__ import annotations

import json
import random
import re
import signal
import subprocess
import sys
import threading
import time

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from colorize_jax import data
from colorize_jax.runtime import preemption
from colorize_jax.training import loop
from tests.tiny_training import REPO, final_state, subprocess_env, tiny_config, tiny_flags

LAUNCH = f"{REPO}/launch/local_multiprocess.sh"


def _assert_same_state(workdir_a, workdir_b, config):
    state_a, step_a = final_state(workdir_a, config)
    state_b, step_b = final_state(workdir_b, config)
    assert step_a == step_b
    leaves_a, leaves_b = jax.tree_util.tree_leaves(state_a), jax.tree_util.tree_leaves(state_b)
    assert len(leaves_a) == len(leaves_b)  # parameters, statistics, optimizer state and step
    for a, b in zip(leaves_a, leaves_b, strict=True):
        np.testing.assert_array_equal(a, b)


class _SignalOnBatch:
    """A train iterator that sends this process SIGTERM while batch `at` is being read."""

    def __init__(self, iterator, at: int):
        self._iterator, self._at, self._count = iterator, at, 0

    def __iter__(self):
        return self

    def __next__(self):
        self._count += 1
        if self._count == self._at:
            signal.raise_signal(signal.SIGTERM)
        return next(self._iterator)

    def __getattr__(self, name):  # get_state, set_state, close
        return getattr(self._iterator, name)


def test_sigterm_checkpoints_at_the_step_it_arrives_in(tmp_path, monkeypatch):
    config = tiny_config(num_train_steps=6, eval_every_steps=6, checkpoint_every_steps=100)
    create = data.create_train_iterator
    monkeypatch.setattr(
        data, "create_train_iterator", lambda *a, **k: _SignalOnBatch(create(*a, **k), at=3)
    )
    handler = signal.getsignal(signal.SIGTERM)
    results = loop.train_and_evaluate(config, str(tmp_path))
    assert results == {}  # stopped before any evaluation
    assert signal.getsignal(signal.SIGTERM) is handler  # the handler is put back
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["3"]
    iterator_state = json.loads((tmp_path / "checkpoints/3/data/process_0-of-1.json").read_text())
    assert iterator_state  # the data position went with the state
    assert not (tmp_path / "eval").exists()
    assert final_state(tmp_path, config)[0].step == 3


def test_the_watch_answers_after_a_signal_only():
    with preemption.PreemptionWatch() as watch:
        assert not watch.should_stop(1)
        signal.raise_signal(signal.SIGTERM)
        assert watch.should_stop(2)


def test_one_process_has_no_orbax_preemption_notice_so_the_watch_handles_sigterm():
    with preemption.PreemptionWatch() as watch:
        assert signal.getsignal(signal.SIGTERM) == watch._on_signal
        signal.raise_signal(signal.SIGTERM)
        assert not ocp.multihost.reached_preemption(2)  # no distributed client: always False
        assert watch.should_stop(2)


def test_with_the_preemption_service_the_watch_asks_orbax_and_leaves_sigterm(monkeypatch):
    asked = []
    monkeypatch.setattr(jax.distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(
        ocp.multihost, "reached_preemption", lambda step: asked.append(step) or step == 3
    )
    handler = signal.getsignal(signal.SIGTERM)
    with preemption.PreemptionWatch() as watch:
        assert signal.getsignal(signal.SIGTERM) is handler  # the service's handler stays
        assert [watch.should_stop(step) for step in (1, 2, 3)] == [False, False, True]
    assert asked == [1, 2, 3]


class _Lines:
    """Collects a process's output lines in a thread; `wait_for` blocks until one matches."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream):
        for line in stream:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()

    def wait_for(self, pattern: str, timeout: float = 300) -> re.Match:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    if match := re.search(pattern, line):
                        return match
                left = deadline - time.monotonic()
                assert left > 0, f"no line matching {pattern!r}:\n{''.join(self.lines[-30:])}"
                self._changed.wait(left)


def _start_main(workdir, overrides, *, devices=1, launcher=()):
    command = [
        *launcher,
        sys.executable,
        "-m",
        "colorize_jax.main",
        *tiny_flags(**overrides),
        f"--workdir={workdir}",
    ]
    process = subprocess.Popen(
        command,
        cwd=REPO,
        env=subprocess_env(devices),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return process, _Lines(process.stdout)


LONG_RUN = {"num_train_steps": 1000, "eval_every_steps": 1000, "checkpoint_every_steps": 1000}


def _in_background(output: _Lines, pattern: str, action, delay: float = 0.0) -> threading.Thread:
    """Runs `action` `delay` seconds after a line matches `pattern`; the test goes on meanwhile."""

    def wait_and_act():
        output.wait_for(pattern)
        time.sleep(delay)
        action()

    thread = threading.Thread(target=wait_and_act, daemon=True)
    thread.start()
    return thread


def test_sigterm_to_main_checkpoints_and_exits_0_then_resumes_exactly(tmp_path):
    at, target = random.Random().randint(1, 4), 12
    process, output = _start_main(tmp_path / "stopped", LONG_RUN)
    _in_background(output, rf"step {at}/1000", lambda: process.send_signal(signal.SIGTERM))
    config = tiny_config(**LONG_RUN)
    loop.train_and_evaluate(config, str(tmp_path / "straight"), stop_after_steps=target)

    assert process.wait(timeout=300) == 0, "".join(output.lines[-30:])
    stopped = int(output.wait_for(r"preempted: saved the checkpoint at step (\d+)").group(1))
    assert at <= stopped < target
    assert (tmp_path / f"stopped/checkpoints/{stopped}/data/process_0-of-1.json").exists()
    loop.train_and_evaluate(config, str(tmp_path / "stopped"), stop_after_steps=target - stopped)
    _assert_same_state(tmp_path / "straight", tmp_path / "stopped", config)


def test_kill_9_at_a_random_step_then_restart_equals_uninterrupted(tmp_path):
    overrides = {"num_train_steps": 10, "eval_every_steps": 10, "checkpoint_every_steps": 1}
    rng = random.Random()
    at, delay = rng.randint(1, 5), rng.uniform(0.0, 0.5)
    process, output = _start_main(tmp_path / "killed", overrides)
    # Anywhere in a step, or in a checkpoint being written:
    _in_background(output, rf"step {at}/10", process.kill, delay)
    config = tiny_config(**overrides)
    loop.train_and_evaluate(config, str(tmp_path / "straight"))

    assert process.wait(timeout=300) == -signal.SIGKILL
    left = sorted(p.name for p in (tmp_path / "killed/checkpoints").iterdir())
    print(f"killed after step {at} + {delay:.2f} s; checkpoints left: {left}")
    assert not (tmp_path / "killed/eval/metrics.json").exists()  # it was killed mid-run
    loop.train_and_evaluate(config, str(tmp_path / "killed"))
    _assert_same_state(tmp_path / "straight", tmp_path / "killed", config)

    # Steps trained again after the restart are logged once, like the uninterrupted run's.
    def train_steps(workdir):
        rows = [json.loads(line) for line in open(workdir / "metrics.jsonl")]
        return sorted(row["step"] for row in rows if "train/loss" in row)

    assert train_steps(tmp_path / "killed") == train_steps(tmp_path / "straight")


def test_sigterm_stops_every_process_at_the_same_step_with_one_checkpoint(tmp_path):
    overrides = {**LONG_RUN, "per_device_batch_size": 1}
    launcher = ("bash", LAUNCH, "2", "4", "--")
    process, output = _start_main(tmp_path, overrides, launcher=launcher)
    output.wait_for(r"step 2/1000")
    process.send_signal(signal.SIGTERM)  # the launcher passes it on to both processes
    assert process.wait(timeout=300) == 0, "".join(output.lines[-30:])
    pattern = r"^\[(\d)\].*preempted: saved the checkpoint at step (\d+)"
    said = sorted(m.groups() for line in output.lines if (m := re.search(pattern, line)))
    assert [process for process, _ in said] == ["0", "1"]
    assert said[0][1] == said[1][1]  # the same step
    stopped = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert stopped == [said[0][1]]
    files = sorted(p.name for p in (tmp_path / f"checkpoints/{stopped[0]}/data").glob("*.json"))
    assert files == ["process_0-of-2.json", "process_1-of-2.json"]


@pytest.fixture(autouse=True)
def _default_sigterm():
    """Tests that raise SIGTERM in this process must not leave a handler behind."""
    before = signal.getsignal(signal.SIGTERM)
    yield
    assert signal.getsignal(signal.SIGTERM) is before
