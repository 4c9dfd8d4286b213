"""How fast `colorize` turns films around: frames per second per stage and end to end.

  python -m colorize_jax.tools.video_benchmark [--workdir=DIR | --model=NAME]
      [--sizes=640x360,1280x720] [--frames=90] [--batch_size=8]

Without --workdir or --model, the `cpu` preset U-Net (configs/unet_lab.py:cpu) is trained for one
step on the offline demo images into a temporary folder: speed does not depend on the weights.
For each size, a pan clip (`make_test_clips`, 30000/1001 fps) is made in a temporary folder and
timed, each stage alone after a warm-up (frames/s):

  decode      PyAV decoding to RGB            network    resizing and the network's prediction
  flow        the temporal filter (DIS flow both ways, masks, blending)
  recombine   colour joined to full-resolution lightness             encode   libx264 at --crf
  none, flow  `video.colorize_video` end to end with --temporal=none / flow: the stages overlap
              in three threads (decoding, network, the rest)

and `serial_flow`: what flow end to end would be with the stages one after another (1 / the sum
of the stages' seconds per frame), to show what the overlap gains. Prints a Markdown table and
one JSON line per size.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable

import numpy as np
from absl import app, flags

FLAGS = flags.FLAGS
STAGES = ("decode", "network", "flow", "recombine", "encode")


def define_flags() -> None:
    """The command line's flags; defined when run as a program, so that importing is free."""
    flags.DEFINE_string("workdir", None, "Trained workdir (default: a one-step cpu-preset U-Net).")
    flags.DEFINE_string("model", None, "A shipped model instead of --workdir.")
    flags.DEFINE_list("sizes", ["640x360", "1280x720"], "Frame sizes WIDTHxHEIGHT.")
    flags.DEFINE_integer("frames", 90, "Frames per clip (3 s at 29.97 fps).")
    flags.DEFINE_integer("batch_size", 8, "Frames per network batch.")
    flags.DEFINE_float("crf", 18, "H.264 quality of the encoded output.")


def _rate(count: int, work: Callable[[], object]) -> float:
    """Frames per second of `work` (which handles `count` frames)."""
    start = time.perf_counter()
    work()
    return count / (time.perf_counter() - start)


def measure_size(colorizer, width: int, height: int, folder: str) -> dict:
    """The figures of the module docstring for `colorizer` at width x height."""
    from colorize_jax.inference import temporal, video, video_io
    from colorize_jax.tools import make_test_clips

    count, batch = FLAGS.frames, FLAGS.batch_size
    path = os.path.join(folder, f"pan_{width}x{height}.mp4")
    make_test_clips.write_clip(path, make_test_clips.clip_frames("pan", width, height, count))
    info = video_io.probe(path)
    frames = list(video_io.read_frames(path))
    chroma: list[np.ndarray] = []

    def network() -> None:
        chroma[:] = [ab for _, ab in video.predict_chroma(frames, colorizer, batch_size=batch)]

    def flow() -> None:
        filter_ = temporal.TemporalFilter()
        for rgb, ab in zip(frames, chroma, strict=True):
            filter_(rgb, ab)

    def recombine() -> None:
        for rgb, ab in zip(frames, chroma, strict=True):
            video.recombine_frame(rgb, ab)

    def encode() -> None:
        with video_io.VideoWriter(os.path.join(folder, "encoded.mp4"), info, crf=FLAGS.crf) as w:
            for rgb in frames:
                w.write(rgb)

    def end_to_end(mode: str) -> Callable[[], object]:
        output = os.path.join(folder, f"out_{mode}.mp4")
        return lambda: video.colorize_video(
            colorizer, path, output, temporal_mode=mode, crf=FLAGS.crf, batch_size=batch,
            progress=False,
        )  # fmt: skip

    network()  # warm-ups: compiles the network and the recombining for this size
    recombine()
    figures = {
        "decode": _rate(count, lambda: sum(1 for _ in video_io.read_frames(path))),
        "network": _rate(count, network),
        "flow": _rate(count, flow),
        "recombine": _rate(count, recombine),
        "encode": _rate(count, encode),
        "none": _rate(count, end_to_end("none")),
        "flow_end_to_end": _rate(count, end_to_end("flow")),
    }
    figures["serial_flow"] = 1.0 / sum(1.0 / figures[stage] for stage in STAGES)
    return {
        "size": f"{width}x{height}",
        "render_shape": list(colorizer.render_shape(height, width)),
        "frames": count,
        "frames_per_second": {key: round(value, 2) for key, value in figures.items()},
    }


def table(results: list[dict]) -> str:
    """A Markdown table of `measure_size` results: frames/s per stage and end to end."""
    keys = (*STAGES, "serial_flow", "none", "flow_end_to_end")
    lines = [
        "| size | render | " + " | ".join(keys) + " |",
        "|---|---|" + "---|" * len(keys),
    ]
    for result in results:
        fps = result["frames_per_second"]
        render = "x".join(str(side) for side in result["render_shape"][::-1])
        lines.append(
            f"| {result['size']} | {render} | " + " | ".join(f"{fps[k]:.1f}" for k in keys) + " |"
        )
    return "\n".join(lines)


def _sizes() -> list[tuple[int, int]]:
    sizes = []
    for size in FLAGS.sizes:
        try:
            width, height = (int(side) for side in size.lower().split("x"))
        except ValueError:
            raise app.UsageError(f"--sizes: {size!r} is not WIDTHxHEIGHT, e.g. 640x360") from None
        sizes.append((width, height))
    return sizes


def main(argv: list[str]) -> None:
    if FLAGS.workdir and FLAGS.model:
        raise app.UsageError("give at most one of --workdir and --model")
    from colorize_jax.inference import full_resolution
    from colorize_jax.tools import colorize_benchmark

    sizes = _sizes()
    with tempfile.TemporaryDirectory() as folder:
        if FLAGS.model:
            colorizer, name = full_resolution.Colorizer(model=FLAGS.model), FLAGS.model
        elif FLAGS.workdir:
            colorizer, name = full_resolution.Colorizer(FLAGS.workdir), FLAGS.workdir
        else:
            workdir = colorize_benchmark.make_workdir(os.path.join(folder, "unet_lab_cpu"))
            colorizer, name = full_resolution.Colorizer(workdir), "configs/unet_lab.py:cpu (1 step)"
        results = [measure_size(colorizer, w, h, folder) for w, h in sizes]
    print(f"model: {name}, batch {FLAGS.batch_size}, {FLAGS.frames} frames per clip")
    print(table(results))
    for result in results:
        print(json.dumps({"model": name, **result}))


def run() -> None:
    """Runs the command line (also the console script `colorize-jax-video-benchmark`)."""
    from colorize_jax.runtime import cli  # imported when run, so that importing stays free

    cli.run(main, "colorize_jax.tools.video_benchmark", define_flags=define_flags)


if __name__ == "__main__":
    run()
