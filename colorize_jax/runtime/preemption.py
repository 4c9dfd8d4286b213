"""Stopping cleanly on a preemption notice (SIGTERM): checkpoint at a step boundary, then exit.

Schedulers (Cloud TPU maintenance, SLURM preemption or time limits, Kubernetes) send SIGTERM and
kill the job some seconds later. The training loop asks `PreemptionWatch.should_stop(step)`
after every step; when it answers True the loop saves a checkpoint (train state and data
iterator position) at that step and returns, and the entry point exits with status 0.

  one process        a SIGTERM handler sets a flag; the answer is True from the next step on.
  several processes  JAX's preemption service (started by `jax.distributed.initialize`) catches
                     SIGTERM on any process and has all processes agree on one step at which
                     to stop, so that they all take part in the same checkpoint; every process
                     must ask every step. The answer is orbax's `multihost.reached_preemption`
                     (JAX's sync point, logged), the one `CheckpointManager.should_save` uses.

The SIGTERM handler stays ours: without the preemption service (one process) orbax's answer is
always False, as JAX's sync point needs the distributed client.
"""

from __future__ import annotations

import signal
import threading

import jax
import orbax.checkpoint as ocp
from absl import logging


class PreemptionWatch:
    """A context manager that watches for SIGTERM while training (see the module docstring)."""

    def __init__(self):
        self._received: int | None = None
        self._previous = None
        self._synchronized = False

    def __enter__(self) -> PreemptionWatch:
        self._synchronized = jax.distributed.is_initialized() and bool(
            jax.config.jax_enable_preemption_service
        )
        if not self._synchronized and threading.current_thread() is threading.main_thread():
            # JAX's preemption service installs its own handler: replacing it would hide the
            # notice from the other processes, hence no handler of ours in that case.
            self._previous = signal.signal(signal.SIGTERM, self._on_signal)
        return self

    def __exit__(self, *exc_info) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
            self._previous = None

    def _on_signal(self, signum, frame) -> None:
        del frame
        if self._received is None:
            logging.warning("received signal %d: will checkpoint after this step and stop", signum)
        self._received = signum

    def should_stop(self, step: int) -> bool:
        """Whether to checkpoint at `step` and stop (in agreement across processes)."""
        if self._synchronized:
            return bool(ocp.multihost.reached_preemption(step))
        return self._received is not None
