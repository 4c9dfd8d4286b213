"""Progress output: a console line per logging interval, TensorBoard events, metrics.jsonl.

Only the primary process (index 0) writes; the others get a Reporter that does nothing, so
callers need no `if jax.process_index() == 0` of their own.

Hand-written rather than clu's `metric_writers` and `periodic_actions`: in clu 0.0.12 importing
either imports clu's TensorFlow summary writer, and this project installs no TensorFlow (TFDS
reads prepared datasets without it, and tests check that nothing loads it); clu's other
TensorBoard writer needs torch. Writing through tensorboardX directly, plus the metrics.jsonl
that the tools read, costs fewer lines than an adapter around clu's writer interface would.
"""

from __future__ import annotations

import json
import logging as pylogging
import os
import time
from collections.abc import Mapping

import numpy as np
from absl import logging

_CHATTY_LIBRARIES = ("/orbax/", "/grain/", "/jax/_src/xla_bridge.py", "/tensorstore/")


def _is_own_or_important(record: pylogging.LogRecord) -> bool:
    if record.levelno >= pylogging.WARNING:
        return True
    return not any(part in record.pathname for part in _CHATTY_LIBRARIES)


def quiet_library_logs() -> None:
    """Drops the INFO chatter of orbax, grain and JAX's backend probing from the absl log."""
    logging.get_absl_handler().addFilter(_is_own_or_important)


def format_duration(seconds: float) -> str:
    """Human-readable duration such as '1h02m', '3m05s' or '12s'."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


class Reporter:
    """Writes scalars and images to TensorBoard and progress lines to the log."""

    def __init__(
        self,
        workdir: str | None,
        *,
        total_steps: int,
        enabled: bool = True,
        resume_step: int | None = None,
    ):
        """Writes to `workdir/tensorboard/` and appends scalars to `workdir/metrics.jsonl`.

        `resume_step`: the checkpoint step a run resumes from. What an earlier run logged after
        it (steps it trained but lost to a kill, which this run trains again) is dropped from
        both, so each step appears once.
        """
        self._enabled = enabled
        self._total_steps = total_steps
        self._writer = None
        self._jsonl = None
        if enabled and workdir is not None:
            from tensorboardX import SummaryWriter  # imported lazily: only process 0 needs it

            purge = {"purge_step": resume_step + 1} if resume_step is not None else {}
            self._writer = SummaryWriter(
                logdir=os.path.join(workdir, "tensorboard"), flush_secs=30, **purge
            )
            path = os.path.join(workdir, "metrics.jsonl")
            if resume_step is not None:
                _drop_rows_after(path, resume_step)
            self._jsonl = open(path, "a", buffering=1)  # noqa: SIM115 (line-buffered: a kill loses no row)
        self._last_time: float | None = None
        self._last_step: int | None = None

    def start(self, step: int) -> None:
        """Marks the start of timing (after compilation, ideally)."""
        self._last_time, self._last_step = time.perf_counter(), step

    def progress(
        self,
        step: int,
        scalars: Mapping[str, float],
        *,
        examples_per_step: int,
    ) -> dict[str, float]:
        """Logs one console line with throughput and ETA; returns the timing scalars."""
        now = time.perf_counter()
        timing = {}
        if self._last_time is not None and step > self._last_step:
            seconds_per_step = (now - self._last_time) / (step - self._last_step)
            timing = {
                "images_per_second": examples_per_step / seconds_per_step,
                "seconds_per_step": seconds_per_step,
            }
        self._last_time, self._last_step = now, step
        if self._enabled:
            parts = [f"step {step}/{self._total_steps}"]
            parts += [f"{name} {value:.4g}" for name, value in scalars.items()]
            if timing:
                eta = (self._total_steps - step) * timing["seconds_per_step"]
                parts.append(f"{timing['images_per_second']:.1f} img/s")
                parts.append(f"ETA {format_duration(eta)}")
            logging.info(" | ".join(parts))
        return timing

    def scalars(self, step: int, values: Mapping[str, float], prefix: str = "") -> None:
        """Writes scalars to TensorBoard and metrics.jsonl as `prefix + name`."""
        if self._writer is None:
            return
        record = {f"{prefix}{name}": float(value) for name, value in values.items()}
        for name, value in record.items():
            self._writer.add_scalar(name, value, step)
        self._jsonl.write(json.dumps({"step": int(step), **record}) + "\n")

    def image(self, step: int, name: str, image: np.ndarray) -> None:
        """Writes one HxWx3 uint8 image to TensorBoard."""
        if self._writer is None:
            return
        self._writer.add_image(name, image, step, dataformats="HWC")

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()
            self._jsonl.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._jsonl.close()


def _drop_rows_after(path: str, step: int) -> None:
    """Rewrites the metrics.jsonl at `path` without its rows of steps after `step`."""
    if not os.path.exists(path):
        return
    with open(path) as f:
        lines = [line for line in f if line.strip()]
    kept = [line for line in lines if json.loads(line).get("step", 0) <= step]
    if len(kept) == len(lines):
        return
    with open(path + ".tmp", "w") as f:
        f.writelines(kept)
    os.replace(path + ".tmp", path)
