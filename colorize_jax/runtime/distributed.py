"""Joining a multi-process run: `jax.distributed.initialize` where there is one, else nothing.

Decided before JAX touches a device, in this order:

  explicit     --coordinator_address=HOST:PORT --num_processes=N --process_id=I (all three):
               initialize with them and JAX's cluster detection off, so that every process
               sees all of its machine's devices (launch/local_multiprocess.sh, and one task
               per node in launch/slurm_gpu.sbatch).
  cloud_tpu    a Cloud TPU VM (libtpu installed and TPU chips present), one host or a pod
               slice: `jax.distributed.initialize()` finds the workers itself.
  slurm        a SLURM job step of several tasks (SLURM_JOB_ID, SLURM_NTASKS > 1,
               SLURM_PROCID): `jax.distributed.initialize()` reads them; JAX then gives each
               task one GPU (SLURM_LOCALID), the layout of one task per GPU.
  none         one process on one machine.

After it, `jax.process_index()`/`jax.process_count()` say who this process is; the mesh spans
the devices of all processes (`sharding.create_mesh`).
"""

from __future__ import annotations

import dataclasses
import glob
import importlib.util
import os
from collections.abc import Mapping

import jax
from absl import logging

FLAG_NAMES = ("--coordinator_address", "--num_processes", "--process_id")


@dataclasses.dataclass(frozen=True)
class ProcessSettings:
    """Explicit multi-process settings; all None: detect a cluster or run alone."""

    coordinator_address: str | None = None
    num_processes: int | None = None
    process_id: int | None = None

    @property
    def explicit(self) -> bool:
        return self.coordinator_address is not None

    def validate(self) -> ProcessSettings:
        """Returns self; raises ValueError naming a missing or inconsistent flag."""
        values = (self.coordinator_address, self.num_processes, self.process_id)
        given = [value is not None for value in values]
        if any(given) and not all(given):
            missing = [name for name, ok in zip(FLAG_NAMES, given, strict=True) if not ok]
            raise ValueError(
                f"{', '.join(FLAG_NAMES)} go together: missing {' and '.join(missing)}"
            )
        if not all(given):
            return self
        host, _, port = self.coordinator_address.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(
                f"--coordinator_address={self.coordinator_address!r} is not HOST:PORT "
                "(process 0's address and a free port, e.g. 10.0.0.1:8476)"
            )
        if self.num_processes < 1:
            raise ValueError(f"--num_processes={self.num_processes} must be at least 1")
        if not 0 <= self.process_id < self.num_processes:
            raise ValueError(
                f"--process_id={self.process_id} is not in [0, {self.num_processes}) "
                f"(--num_processes={self.num_processes})"
            )
        return self


def detect_cluster(environ: Mapping[str, str], *, tpu_vm: bool) -> str | None:
    """ "cloud_tpu", "slurm" or None (one machine), from the environment (pure).

    `tpu_vm`: whether this machine is a Cloud TPU VM (see `running_on_tpu_vm`).
    """
    if tpu_vm:
        return "cloud_tpu"
    tasks = environ.get("SLURM_NTASKS", "1")
    if (
        "SLURM_JOB_ID" in environ
        and "SLURM_PROCID" in environ
        and tasks.isdigit()
        and int(tasks) > 1
    ):
        return "slurm"
    return None


def running_on_tpu_vm() -> bool:
    """Whether libtpu is installed and this machine has TPU chips (Cloud TPU VMs)."""
    if importlib.util.find_spec("libtpu") is None:
        return False
    return bool(glob.glob("/dev/accel*") or glob.glob("/dev/vfio/[0-9]*"))


def initialize(settings: ProcessSettings, environ: Mapping[str, str] | None = None) -> str:
    """Joins the run `settings` or the environment describe; returns how (see the docstring).

    Must run before anything initializes a JAX backend (e.g. `jax.devices()`).
    """
    settings.validate()
    environ = os.environ if environ is None else environ
    if settings.explicit:
        jax.distributed.initialize(
            coordinator_address=settings.coordinator_address,
            num_processes=settings.num_processes,
            process_id=settings.process_id,
            cluster_detection_method="deactivate",
        )
        how = "explicit"
    else:
        how = detect_cluster(environ, tpu_vm=running_on_tpu_vm()) or "none"
        if how != "none":
            jax.distributed.initialize()
    if how != "none":
        logging.info(
            "joined a %d-process run (%s) as process %d",
            jax.process_count(),
            how,
            jax.process_index(),
        )
    return how
