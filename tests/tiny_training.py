"""Shared by the training tests: a tiny config and helpers to run and inspect training.

Run as a script (`python tests/tiny_training.py WORKDIR PER_DEVICE_BATCH [KEY=VALUE...]`) it
trains in a fresh process, so a test can choose the number of host devices with XLA_FLAGS. Values
are JSON, except that of the key `experiment`: the name of the config file in configs/ to shrink
(default unet_lab).
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_config(experiment: str = "unet_lab", **overrides):
    """The demo preset of configs/`experiment`.py shrunk to seconds.

    32 px crops, a two-level U-Net of width 8 and, for adversarial configs, a two-layer PatchGAN
    of width 8.
    """
    config = importlib.import_module(f"configs.{experiment}").get_config("demo")
    config.data.image_size = 32
    config.model.depth = 2
    config.model.base_width = 8
    if config.get("discriminator"):
        config.discriminator.model.num_layers = 2
        config.discriminator.model.base_width = 8
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


def train_in_subprocess(workdir, *, devices: int, per_device_batch: int, args=()) -> dict:
    """Trains this script's tiny config on `devices` host devices; returns {step: train row}.

    `args` are further KEY=VALUE arguments of the script (overrides, `experiment=NAME`).
    """
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    env["PYTHONPATH"] = REPO
    subprocess.run(
        [sys.executable, "tests/tiny_training.py", str(workdir), str(per_device_batch), *args],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    rows = read_jsonl(os.path.join(workdir, "metrics.jsonl"))
    return {row["step"]: row for row in rows if "train/loss" in row}


def main(argv):
    from colorize_jax import train

    workdir, per_device_batch = argv[1], int(argv[2])
    overrides = dict(arg.split("=", 1) for arg in argv[3:])
    experiment = overrides.pop("experiment", "unet_lab")
    overrides = {k: json.loads(v) for k, v in overrides.items()}
    config = tiny_config(experiment, per_device_batch_size=per_device_batch, **overrides)
    results = train.train_and_evaluate(config, workdir)
    print("RESULTS " + json.dumps(results))


if __name__ == "__main__":
    main(sys.argv)
