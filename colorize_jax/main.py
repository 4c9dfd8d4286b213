"""Trains a colorization model: `python -m colorize_jax.main --config=FILE[:PRESET] --workdir=DIR`.

Any config field can be overridden, e.g. `--config.num_train_steps=500`. Re-running the same
command resumes from the latest checkpoint in DIR. The same command runs on one machine or as
each process of a multi-host run (see `distributed` and launch/); SIGTERM checkpoints and exits
with status 0 (see `preemption`).
"""

from __future__ import annotations

import jax
from absl import flags, logging
from ml_collections import config_flags

from colorize_jax.runtime import cli, distributed
from colorize_jax.training import loop

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and evaluation output.")
config_flags.DEFINE_config_file(
    "config", None, "Experiment config file, optionally with a preset: configs/unet_lab.py:cpu."
)
flags.DEFINE_integer(
    "stop_after_steps", None, "Checkpoint and exit after this many steps (e.g. a job time limit)."
)
flags.DEFINE_bool(
    "allow_config_change",
    False,
    "Resume a workdir whose checkpoint was trained with a structurally different model config.",
)
flags.DEFINE_string(
    "coordinator_address", None, "Multi-process runs: HOST:PORT of process 0's coordinator."
)
flags.DEFINE_integer("num_processes", None, "Multi-process runs: the number of processes.")
flags.DEFINE_integer("process_id", None, "Multi-process runs: this process's index, from 0.")
flags.mark_flags_as_required(["config", "workdir"])

PROGRAM = "colorize_jax.main"


def main(argv: list[str]) -> None:
    """Trains (`loop.train_and_evaluate`) with the flags' settings, as one process of the run."""
    distributed.initialize(
        distributed.ProcessSettings(
            FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id
        )
    )
    if jax.process_index() != 0:
        logging.set_verbosity(logging.WARNING)  # process 0 speaks for the run
    logging.info(
        "JAX process %d/%d, local devices: %s",
        jax.process_index(),
        jax.process_count(),
        jax.local_devices(),
    )
    loop.train_and_evaluate(
        FLAGS.config,
        FLAGS.workdir,
        stop_after_steps=FLAGS.stop_after_steps,
        allow_config_change=FLAGS.allow_config_change,
    )


def run() -> None:
    """Runs the command line (also the console script `colorize-jax-train`)."""
    cli.run(main, PROGRAM, config_flag=True)


if __name__ == "__main__":
    run()
