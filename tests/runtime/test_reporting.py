"""Reporting: TensorBoard events and metrics.jsonl read back, the console line, the step rate."""

from __future__ import annotations

import json
import logging
import re
import struct
import subprocess
import sys
import time

import numpy as np
from tensorboardX.proto import event_pb2

from colorize_jax.runtime import reporting
from tests.tiny_training import REPO


def read_events(logdir) -> list[event_pb2.Event]:
    """Every event of the TFRecord event files in `logdir`, in file then record order.

    A record is: length (uint64), its CRC (uint32), the serialized Event, the Event's CRC.
    """
    events = []
    for path in sorted(logdir.glob("events.out.tfevents.*")):
        data, offset = path.read_bytes(), 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset : offset + 8])
            events.append(event_pb2.Event.FromString(data[offset + 12 : offset + 12 + length]))
            offset += 12 + length + 4
    return events


def summaries(logdir) -> list[tuple[int, str, object]]:
    """(step, tag, value) of each summary value: floats for scalars, the proto otherwise."""
    found = []
    for event in read_events(logdir):
        for value in event.summary.value:
            kind = value.WhichOneof("value")
            found.append(
                (event.step, value.tag, value.simple_value if kind == "simple_value" else value)
            )
    return found


def test_scalars_and_images_reach_tensorboard_and_metrics_jsonl(tmp_path):
    reporter = reporting.Reporter(str(tmp_path), total_steps=10)
    reporter.scalars(0, {"num_params": 1234}, "model/")
    reporter.scalars(5, {"loss": np.float32(0.25), "grad_norm": 2.0}, "train/")
    sheet = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    reporter.image(5, "eval/sheet", sheet)
    reporter.close()

    rows = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
    assert rows == [
        {"step": 0, "model/num_params": 1234.0},
        {"step": 5, "train/loss": 0.25, "train/grad_norm": 2.0},
    ]
    found = summaries(tmp_path / "tensorboard")
    scalars = [(step, tag, value) for step, tag, value in found if isinstance(value, float)]
    assert scalars == [
        (0, "model/num_params", 1234.0),
        (5, "train/loss", 0.25),
        (5, "train/grad_norm", 2.0),
    ]
    [(step, tag, image)] = [item for item in found if not isinstance(item[2], float)]
    assert (step, tag) == (5, "eval/sheet")
    assert (image.image.height, image.image.width, image.image.colorspace) == (4, 6, 3)


def test_a_resumed_reporter_hides_the_later_events_and_rows(tmp_path):
    rows = [{"step": step, "train/loss": 1.0 / step} for step in range(1, 6)]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    reporter = reporting.Reporter(str(tmp_path), total_steps=10, resume_step=3)
    reporter.scalars(4, {"loss": 0.5}, "train/")
    reporter.close()
    logged = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
    assert [(r["step"], r["train/loss"]) for r in logged] == [
        (1, 1.0),
        (2, 0.5),
        (3, 1 / 3),
        (4, 0.5),
    ]
    # TensorBoard drops the earlier run's events from the purge step on at this START marker.
    starts = [e.step for e in read_events(tmp_path / "tensorboard") if e.HasField("session_log")]
    assert starts == [4]


def test_only_an_enabled_reporter_writes(tmp_path):
    reporter = reporting.Reporter(str(tmp_path), total_steps=10, enabled=False)
    reporter.scalars(1, {"loss": 1.0})
    reporter.image(1, "sheet", np.zeros((2, 2, 3), np.uint8))
    reporter.start(1)
    assert set(reporter.progress(2, {"loss": 1.0}, examples_per_step=4)) == {
        "images_per_second",
        "seconds_per_step",
    }
    reporter.flush()
    reporter.close()
    assert list(tmp_path.iterdir()) == []


def test_progress_measures_from_start_and_logs_one_line(tmp_path, caplog):
    reporter = reporting.Reporter(str(tmp_path), total_steps=100)
    with caplog.at_level(logging.INFO, logger="absl"):
        assert reporter.progress(2, {"loss": 1.0}, examples_per_step=8) == {}  # starts timing
        time.sleep(0.6)  # e.g. an evaluation, which `start` leaves out
        reporter.start(2)
        time.sleep(0.2)
        timing = reporter.progress(10, {"loss": 0.5}, examples_per_step=8)
    reporter.close()
    assert 0.2 / 8 <= timing["seconds_per_step"] < 0.5 / 8
    assert np.isclose(timing["images_per_second"], 8 / timing["seconds_per_step"])
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("step ")]
    assert lines[0] == "step 2/100 | loss 1"
    assert re.fullmatch(r"step 10/100 \| loss 0\.5 \| [\d.]+ img/s \| ETA \d+s", lines[1])


def test_format_duration():
    assert [reporting.format_duration(s) for s in (0.4, 12, 185, 3720)] == [
        "0s",
        "12s",
        "3m05s",
        "1h02m",
    ]


def test_importing_reporting_loads_no_tensorflow():
    code = "import sys, colorize_jax.runtime.reporting; print('tensorflow' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
