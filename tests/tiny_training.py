"""Shared by the training tests: a tiny config and helpers to run and inspect training.

Run as a script (`python tests/tiny_training.py WORKDIR PER_DEVICE_BATCH [KEY=VALUE...]`) it
trains in a fresh process, so a test can choose the number of host devices with XLA_FLAGS.
"""

from __future__ import annotations

import json
import sys

from configs import unet_lab


def tiny_config(**overrides):
    """The demo preset shrunk to seconds: 32 px crops, a two-level U-Net of width 8."""
    config = unet_lab.get_config("demo")
    config.data.image_size = 32
    config.model.depth = 2
    config.model.base_width = 8
    config.per_device_batch_size = 4
    config.eval_per_device_batch_size = 4
    config.num_train_steps = 4
    config.warmup_steps = 1
    config.log_every_steps = 1
    config.eval_every_steps = 4
    config.checkpoint_every_steps = 2
    config.num_sheet_images = 2
    for key, value in overrides.items():
        target = config
        *parents, leaf = key.split(".")
        for parent in parents:
            target = target[parent]
        target[leaf] = value
    return config


def read_jsonl(path) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f]


def main(argv):
    from colorize_jax import train

    workdir, per_device_batch = argv[1], int(argv[2])
    overrides = dict(arg.split("=", 1) for arg in argv[3:])
    overrides = {k: json.loads(v) for k, v in overrides.items()}
    config = tiny_config(per_device_batch_size=per_device_batch, **overrides)
    results = train.train_and_evaluate(config, workdir)
    print("RESULTS " + json.dumps(results))


if __name__ == "__main__":
    main(sys.argv)
