"""Trains a colorization model: `python -m colorize_jax.main --config=FILE[:PRESET] --workdir=DIR`.

Any config field can be overridden, e.g. `--config.num_train_steps=500`. Re-running the same
command resumes from the latest checkpoint in DIR.
"""

from __future__ import annotations

import jax
from absl import app, flags, logging
from ml_collections import config_flags

from colorize_jax import cli, reporting, train

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and evaluation output.")
config_flags.DEFINE_config_file(
    "config", None, "Experiment config file, optionally with a preset: configs/unet_lab.py:cpu."
)
flags.DEFINE_integer(
    "stop_after_steps", None, "Checkpoint and exit after this many steps (e.g. a job time limit)."
)
flags.mark_flags_as_required(["config", "workdir"])


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    reporting.quiet_library_logs()
    logging.info(
        "JAX process %d/%d, local devices: %s",
        jax.process_index(),
        jax.process_count(),
        jax.local_devices(),
    )
    with cli.one_line_errors("colorize_jax.main"):
        train.train_and_evaluate(
            FLAGS.config, FLAGS.workdir, stop_after_steps=FLAGS.stop_after_steps
        )


if __name__ == "__main__":
    app.run(main)
