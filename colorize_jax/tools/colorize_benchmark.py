"""How fast `colorize` is: seconds per 768x512 photo, and compile time with a cold and warm cache.

  python -m colorize_jax.tools.colorize_benchmark [--workdir=DIR] [--photos=10] [--render_size=PX]

Without --workdir, the `cpu` preset U-Net (configs/unet_lab.py:cpu) is trained for one step on
the offline demo images into a temporary folder: speed does not depend on the weights. Prints
one JSON line:

  seconds_per_photo      median over --photos 768x512 photos, after a warm-up photo
  network_seconds        of which the network at the render size (median)
  first_photo_cold_s     a fresh process with an empty compilation cache: model load, compile
                         and the first photo
  first_photo_warm_s     the same with the cache that run left (the second run of a user)
  compile_cold_s, compile_warm_s   those minus a steady photo: the compile time
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import flags

FLAGS = flags.FLAGS


def define_flags() -> None:
    """The command line's flags; defined when run as a program, so that importing is free."""
    flags.DEFINE_string("workdir", None, "Trained workdir (default: a one-step cpu-preset U-Net).")
    flags.DEFINE_integer("photos", 10, "Photos timed after the warm-up.")
    flags.DEFINE_integer("render_size", None, "Render size (default: the training size).")
    flags.DEFINE_string(
        "_first_photo_cache", None, "Internal: time one cold start with this cache."
    )


PHOTO_SHAPE = (512, 768)  # height, width: a 768x512 landscape photo


def test_photo(seed: int) -> np.ndarray:
    """A 768x512 colour photo: a scikit-image sample resized, different per seed (flipped)."""
    import skimage.data
    from PIL import Image

    image = Image.fromarray(skimage.data.chelsea()).resize(PHOTO_SHAPE[::-1], Image.BICUBIC)
    array = np.asarray(image)
    return array[:, ::-1] if seed % 2 else array


def make_workdir(directory: str) -> str:
    """Trains configs/unet_lab.py:cpu for one step on the demo images into `directory`."""
    from colorize_jax.training import loop
    from configs import unet_lab

    config = unet_lab.get_config("cpu")
    config.data.source = "demo"
    config.num_train_steps = 1
    config.optimizer.warmup_steps = 1
    config.eval_every_steps = 1
    config.per_device_batch_size = 2
    config.eval_per_device_batch_size = 2
    loop.train_and_evaluate(config, directory)
    return directory


def time_first_photo(workdir: str, cache_dir: str) -> float:
    """Seconds from a fresh process's start of `Colorizer` to its first colorized photo."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "colorize_jax.tools.colorize_benchmark",
            f"--workdir={workdir}",
            f"--_first_photo_cache={cache_dir}",
            *([f"--render_size={FLAGS.render_size}"] if FLAGS.render_size else []),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])["first_photo_s"]


def _child_first_photo(workdir: str, cache_dir: str) -> None:
    from colorize_jax.inference import full_resolution

    full_resolution.enable_compilation_cache(cache_dir)
    start = time.perf_counter()
    colorizer = full_resolution.Colorizer(workdir, render_size=FLAGS.render_size)
    colorizer.colorize(test_photo(0))
    print(json.dumps({"first_photo_s": time.perf_counter() - start}))


def measure(workdir: str) -> dict:
    """The figures of the module docstring for the model of `workdir`."""
    import jax

    from colorize_jax.inference import full_resolution

    colorizer = full_resolution.Colorizer(workdir, render_size=FLAGS.render_size)
    photos = [test_photo(seed) for seed in range(FLAGS.photos + 1)]
    colorizer.colorize(photos[0])  # warm-up: compiles
    totals, networks = [], []
    for photo in photos[1:]:
        start = time.perf_counter()
        colorizer.colorize(photo)
        totals.append(time.perf_counter() - start)
        small = full_resolution.resize_rgb(photo, colorizer.render_shape(*photo.shape[:2]))
        start = time.perf_counter()
        colorizer.predict_ab(small[None])  # a NumPy array: the device work is done
        networks.append(time.perf_counter() - start)
    seconds = statistics.median(totals)
    with tempfile.TemporaryDirectory() as cache:
        cold = time_first_photo(workdir, cache)
        warm = time_first_photo(workdir, cache)
    return {
        "photo": f"{PHOTO_SHAPE[1]}x{PHOTO_SHAPE[0]}",
        "render_shape": list(colorizer.render_shape(*PHOTO_SHAPE)),
        "seconds_per_photo": round(seconds, 4),
        "network_seconds": round(statistics.median(networks), 4),
        "first_photo_cold_s": round(cold, 2),
        "first_photo_warm_s": round(warm, 2),
        "compile_cold_s": round(cold - seconds, 2),
        "compile_warm_s": round(warm - seconds, 2),
        "backend": jax.default_backend(),
        "devices": len(jax.devices()),
    }


def main(argv: list[str]) -> None:
    if FLAGS._first_photo_cache is not None:
        _child_first_photo(FLAGS.workdir, FLAGS._first_photo_cache)
        return
    if FLAGS.workdir:
        print(json.dumps(measure(FLAGS.workdir)))
        return
    with tempfile.TemporaryDirectory() as directory:
        workdir = make_workdir(os.path.join(directory, "unet_lab_cpu"))
        print(json.dumps({"workdir": "configs/unet_lab.py:cpu (1 step)", **measure(workdir)}))


def run() -> None:
    """Runs the command line (also the console script `colorize-jax-colorize-benchmark`)."""
    from colorize_jax.runtime import cli  # imported when run, so that importing stays free

    cli.run(main, "colorize_jax.tools.colorize_benchmark", define_flags=define_flags)


if __name__ == "__main__":
    run()
