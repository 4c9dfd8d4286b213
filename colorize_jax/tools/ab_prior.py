"""The empirical distribution of ab bins over a training set, cached for class rebalancing.

  python -m colorize_jax.tools.ab_prior --config=FILE[:PRESET] [--config.key=value] --output=PATH
      [--max_images=N]

Reads every image of the config's training split once, as the evaluation pipeline does
(a centre crop of `data.image_size` px, no augmentation), counts the pixels nearest to each
in-gamut bin of `config.classify.grid_size` (see `ab_bins`), and writes PATH (.npz):

  distribution  (Q,) float64, the pixel frequencies of the bins, summing to 1
  counts        (Q,) float64, the pixel counts
  centers       (Q, 2) float32, the bin centres the counts refer to
  grid_size     the grid they were computed for
  num_images    images read

Training reads it (`ab_bins.load_prior`) from `config.classify.prior_path` (see `heads`),
smoothing it and turning it into class weights there, so one prior serves any `prior_sigma`
and `rebalance_lambda`.
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags, logging
from ml_collections import config_flags

from colorize_jax import data
from colorize_jax.colour import ab_bins, colorspace
from colorize_jax.components import defaults
from colorize_jax.runtime import cli

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Config file, optionally with a preset.")
flags.DEFINE_string("output", None, "Where to write the prior (.npz).")
flags.DEFINE_integer("max_images", 0, "Read only the first N training images (0: all).")
flags.mark_flags_as_required(["config", "output"])

_BATCH_SIZE = 16


def compute_prior(config, *, max_images: int = 0) -> dict[str, np.ndarray]:
    """Counts the training split's pixels per ab bin; returns the fields of the .npz file.

    `config` is the config file's, completed here (a copy; the caller's is left as it is)."""
    config = defaults.complete(config.copy_and_resolve_references())
    grid_size = float(config.classify.grid_size)
    centers = ab_bins.bin_centers(grid_size)
    config.data.eval_split = config.data.train_split
    config.data.max_eval_examples = max_images
    dataset = data.create_eval_dataset(config, batch_size=_BATCH_SIZE)

    @jax.jit
    def batch_counts(images, mask):
        _, targets = colorspace.encode(images, "lab")
        ab = targets * colorspace.LAB_AB_SCALE
        return ab_bins.bin_counts(ab, centers, mask[:, None, None])

    counts = np.zeros(len(centers), np.float64)
    for batch in dataset:
        counts += np.asarray(batch_counts(jnp.asarray(batch["image"]), jnp.asarray(batch["mask"])))
    if counts.sum() == 0:
        raise ValueError("the training split yielded no readable images")
    return {
        "distribution": counts / counts.sum(),
        "counts": counts,
        "centers": np.asarray(centers),
        "grid_size": np.float64(grid_size),
        "num_images": np.int64(dataset.num_examples),
    }


def main(argv: list[str]) -> None:
    if not FLAGS.config.get("classify"):
        raise ValueError("the config has no config.classify (see configs/unet_lab_classify.py)")
    prior = compute_prior(FLAGS.config, max_images=FLAGS.max_images)
    ab_bins.save_prior(FLAGS.output, prior)
    summary = {
        "output": FLAGS.output,
        "num_images": int(prior["num_images"]),
        "num_bins": len(prior["centers"]),
        "num_bins_seen": int(np.count_nonzero(prior["counts"])),
    }
    logging.info("wrote %s", FLAGS.output)
    print(json.dumps(summary, sort_keys=True))


def run() -> None:
    """Runs the command line (also the console script `colorize-jax-ab-prior`)."""
    cli.run(main, "colorize_jax.tools.ab_prior", config_flag=True)


if __name__ == "__main__":
    run()
