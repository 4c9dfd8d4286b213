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


# What `tiny_config` changes in the demo preset, by dotted config name.
TINY_FIELDS = {
    "data.image_size": 32,
    "model.depth": 2,
    "model.base_width": 8,
    "per_device_batch_size": 4,
    "eval_per_device_batch_size": 4,
    "num_train_steps": 4,
    "optimizer.warmup_steps": 1,
    "log_every_steps": 1,
    "eval_every_steps": 4,
    "checkpoint_every_steps": 2,
    "num_sheet_images": 2,
}


def tiny_config(experiment: str = "unet_lab", *, complete: bool = True, **overrides):
    """The demo preset of configs/`experiment`.py shrunk to seconds.

    32 px crops, a two-level U-Net of width 8 and, for adversarial configs, a two-layer PatchGAN
    of width 8. `overrides` take dotted names ("model.depth"); a field of config.optimizer may be
    named alone (`learning_rate=1e-2`). `complete`: completed as training start does
    (`defaults.complete`), so the builder takes it; False gives it as the config file does.
    """
    from colorize_jax import presets
    from colorize_jax.components import defaults

    config = importlib.import_module(f"configs.{experiment}").get_config("demo")
    if config.get("discriminator"):
        config.discriminator.model.num_layers = 2
        config.discriminator.model.base_width = 8
    optimizer_fields = set(presets.optimizer_settings())
    overrides = {
        f"optimizer.{key}" if key in optimizer_fields else key: value
        for key, value in overrides.items()
    }
    for key, value in {**TINY_FIELDS, **overrides}.items():
        target = config
        *parents, leaf = key.split(".")
        for parent in parents:
            target = target[parent]
        target[leaf] = value
    return defaults.complete(config) if complete else config


def tiny_flags(experiment: str = "unet_lab", **overrides) -> list[str]:
    """`colorize_jax.main`'s --config flags for `tiny_config(experiment, **overrides)`."""
    fields = {**TINY_FIELDS, **overrides}
    return [f"--config=configs/{experiment}.py:demo"] + [
        f"--config.{key}={json.dumps(value)}" for key, value in fields.items()
    ]


def final_state(workdir, config, step=None):
    """The train state of `workdir`'s latest checkpoint (or `step`'s), on the host; and its step."""
    import functools

    import jax

    from colorize_jax.components import builder
    from colorize_jax.runtime import checkpointing, sharding
    from colorize_jax.training import schemes

    manager = checkpointing.create_manager(str(workdir), read_only=True)
    step = manager.latest_step() if step is None else step
    components = builder.build(config)
    replicated = sharding.replicated(sharding.create_mesh())
    abstract = jax.tree_util.tree_map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=replicated),
        jax.eval_shape(functools.partial(schemes.init_state, components), jax.random.key(0)),
    )
    state = checkpointing.restore(manager, step, abstract)
    manager.close()
    return jax.device_get(state), step


def read_jsonl(path) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f]


def subprocess_env(devices: int) -> dict[str, str]:
    """The environment of a training subprocess on `devices` host CPU devices."""
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    env["PYTHONPATH"] = REPO
    return env


def start_training(workdir, *, devices: int, per_device_batch: int, args=(), **popen):
    """Starts this script's tiny training in a subprocess; returns the `subprocess.Popen`."""
    command = [sys.executable, "tests/tiny_training.py", str(workdir), str(per_device_batch)]
    return subprocess.Popen([*command, *args], cwd=REPO, env=subprocess_env(devices), **popen)


def train_in_subprocess(workdir, *, devices: int, per_device_batch: int, args=()) -> dict:
    """Trains this script's tiny config on `devices` host devices; returns {step: train row}.

    `args` are further KEY=VALUE arguments of the script (overrides, `experiment=NAME`).
    """
    subprocess.run(
        [sys.executable, "tests/tiny_training.py", str(workdir), str(per_device_batch), *args],
        cwd=REPO,
        env=subprocess_env(devices),
        check=True,
        capture_output=True,
        timeout=600,
    )
    rows = read_jsonl(os.path.join(workdir, "metrics.jsonl"))
    return {row["step"]: row for row in rows if "train/loss" in row}


def main(argv):
    from colorize_jax.training import loop

    workdir, per_device_batch = argv[1], int(argv[2])
    overrides = dict(arg.split("=", 1) for arg in argv[3:])
    experiment = overrides.pop("experiment", "unet_lab")
    overrides = {k: json.loads(v) for k, v in overrides.items()}
    config = tiny_config(experiment, per_device_batch_size=per_device_batch, **overrides)
    results = loop.train_and_evaluate(config, workdir)
    print("RESULTS " + json.dumps(results))


if __name__ == "__main__":
    main(sys.argv)
