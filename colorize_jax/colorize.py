"""Colorizes photos and videos at full resolution with the shipped model or one you trained.

  python -m colorize_jax.colorize INPUT... --output_dir=OUT [--model=NAME] [--vivid]
  python -m colorize_jax.colorize --workdir=DIR INPUT... --output_dir=OUT
      [--step=N | --checkpoint=latest] [--render_size=PX] [--format=png|jpeg] [--compare]
      [--allow_same_dir] [--batch_size=8] [--set=classify.temperature=0.5]
      [--temporal=flow|none] [--temporal_strength=0.8] [--crf=18]
  python -m colorize_jax.colorize --onnx=MODEL.onnx INPUT... --output_dir=OUT [--render_size=PX]
      [--format=png|jpeg] [--compare] [--allow_same_dir] [--batch_size=8]

Without --workdir or --onnx the model is a shipped one (`models.shipped`): --model=NAME, by
default `effnet_lite0_v1`; nothing is downloaded. --vivid decodes with the model's more colourful
setting (its config's `vivid_chroma_gain`).

INPUT: image files, folders (searched recursively) or glob patterns. The network runs on a
copy whose shorter side is --render_size pixels (default: the training image size), rounded to a
multiple of the network's stride; its colour is upsampled to the original resolution and put
together with the original lightness, so the output has the input's size, orientation (EXIF
applied), alpha channel and CIELAB L (within quantization, < 0.5). Outputs are named after their
inputs in OUT (folders mirrored); an input is never overwritten. A bad input is reported on one
line and skipped; the exit status is 1 when any failed.

Video files (`video_io.VIDEO_EXTENSIONS`: mp4, m4v, mov, mkv, avi, webm; folders and globs
pick them up too) are colorized frame by frame, streamed (`inference.video`), into
OUT/NAME.mp4: H.264 at --crf (default 18), the input's size, exact frame rate and frame count,
its audio copied untouched (into NAME.mkv when an mp4 cannot carry that audio unchanged),
upright when it carried a display rotation (docs/video.md).
--temporal=flow (the default) blends each frame's colour with the previous output's carried
along the optical flow (`inference.temporal`; --temporal_strength, default 0.8, in [0, 1]);
--temporal=none colorizes each frame as a photo. A video is written under NAME.mp4.partial and
renamed when complete.

--onnx runs a model exported by `colorize_jax.export` (its sidecar MODEL.onnx.json beside
it) with onnxruntime instead of a workdir with JAX: the same outputs, sizes and errors, and no JAX
computation for photos (`onnx_colorizer`; a film's frames are joined to their lightness by
an XLA-compiled function, `video.recombine_frame`). Its decode settings are those it was
exported with, so --set, --step and --checkpoint do not apply; --render_size defaults to the
exported one.

Python:
  from colorize_jax.inference.full_resolution import Colorizer
  rgb = Colorizer("runs/unet_lab").colorize(gray_or_rgb_uint8)   # (H, W, 3) uint8
  from colorize_jax.inference.onnx_colorizer import OnnxColorizer
  rgb = OnnxColorizer("unet_lab.onnx").colorize(gray_or_rgb_uint8)
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence

from absl import app, flags, logging
from tqdm import tqdm

from colorize_jax.data import decode, sources
from colorize_jax.evaluation import sheets
from colorize_jax.inference import full_resolution, photo_files, temporal, video, video_io
from colorize_jax.models import shipped
from colorize_jax.runtime import cli

# ---------------------------------------------------------------------------------------------
# Command line

FLAGS = flags.FLAGS
PROGRAM = "colorize_jax.colorize"


def define_flags() -> None:
    """The command line's flags (defined only when run as a program, so importing is free)."""
    flags.DEFINE_string("workdir", None, "Training directory holding checkpoints/ and config.json.")
    flags.DEFINE_string("onnx", None, "ONNX model of colorize_jax.export (instead of --workdir).")
    flags.DEFINE_string(
        "model", None, f"Shipped model (default {shipped.DEFAULT_MODEL} without --workdir/--onnx)."
    )
    flags.DEFINE_boolean("vivid", False, "Decode with the model's vivid (more colourful) setting.")
    flags.DEFINE_string("output_dir", None, "Folder for the colorized images (created).")
    flags.DEFINE_integer("step", None, "Checkpoint step (default: see --checkpoint).")
    flags.DEFINE_enum("checkpoint", "best", ["best", "latest"], "Which checkpoint without --step.")
    flags.DEFINE_integer("render_size", None, "Shorter side the network sees (default: training).")
    flags.DEFINE_enum("format", "png", list(photo_files.OUTPUT_FORMATS), "Output file format.")
    flags.DEFINE_boolean("compare", False, "Also write NAME_compare: gray | colorized | original.")
    flags.DEFINE_boolean("allow_same_dir", False, "Allow --output_dir to be an input's folder.")
    flags.DEFINE_integer("batch_size", 8, "Images colorized together (of one render shape).")
    flags.DEFINE_list("set", [], "Config overrides KEY=VALUE, e.g. classify.temperature=0.5.")
    flags.DEFINE_string(
        "compilation_cache_dir", full_resolution.DEFAULT_CACHE_DIR, "XLA cache ('' to disable)."
    )
    flags.DEFINE_enum("temporal", "flow", list(video.TEMPORAL_MODES), "Videos: flow or none.")
    flags.DEFINE_float("temporal_strength", 0.8, "Videos: previous frame's colour share, 0..1.")
    flags.DEFINE_float("crf", video_io.DEFAULT_CRF, "Videos: H.264 quality (0 lossless..51).")


def colorize_photos(
    colorizer: full_resolution.Colorizer,
    inputs: Sequence[photo_files.PhotoInput],
    output_dir: str,
) -> int:
    """Colorizes `inputs` into `output_dir`; returns the number of failed inputs.

    A progress bar (tqdm) is drawn on stderr when it is a terminal; `main` prints the counts.
    """
    input_paths = {os.path.realpath(photo.path) for photo in inputs}
    failures = 0
    inputs = sorted(inputs, key=photo_files.header_size)  # similar sizes share batches
    bar = tqdm(total=len(inputs), desc="colorized", unit="image", file=sys.stderr, disable=None)
    with bar as progress:
        for chunk_start in range(0, len(inputs), FLAGS.batch_size):
            pending = []
            for photo in inputs[chunk_start : chunk_start + FLAGS.batch_size]:
                try:
                    pending.append((photo, photo_files.read_photo(photo.path)))
                except decode.ImageDecodeError as error:
                    failures += 1
                    _report_error(str(error))
                    progress.update()
            if not pending:
                continue
            colorized = colorizer.colorize_batch([image.rgb for _, image in pending])
            for (photo, image), rgb in zip(pending, colorized, strict=True):
                path = photo_files.output_path(photo, output_dir, FLAGS.format)
                if os.path.realpath(path) in input_paths:
                    path = photo_files.output_path(photo, output_dir, FLAGS.format, "_colorized")
                photo_files.write_photo(path, rgb, image.alpha, FLAGS.format)
                if FLAGS.compare:
                    gray = full_resolution.gray_version(image.rgb)
                    row = [gray, rgb] + ([image.rgb] if image.has_colour else [])
                    compare = photo_files.output_path(photo, output_dir, FLAGS.format, "_compare")
                    photo_files.write_photo(compare, sheets.grid([row]), None, FLAGS.format)
                progress.update()
    return failures


def colorize_videos(
    colorizer,
    inputs: Sequence[photo_files.PhotoInput],
    output_dir: str,
    taken,
    settings: temporal.TemporalSettings,
) -> int:
    """Colorizes the video files `inputs` into `output_dir`; returns the number that failed.

    `taken`: the real paths of all inputs, which no output may take.
    """
    failures = 0
    for clip in inputs:
        try:
            info = video_io.probe(clip.path)
            path = video.output_path(output_dir, clip.output_stem, info, taken)
            result = video.colorize_video(
                colorizer,
                clip.path,
                path,
                temporal_mode=FLAGS.temporal,
                settings=settings,
                crf=FLAGS.crf,
                batch_size=FLAGS.batch_size,
                info=info,
            )
        except (video_io.VideoError, OSError) as error:  # OSError: the output cannot be written
            failures += 1
            _report_error(cli.first_line(error))
            continue
        logging.info(
            "%s: %d frames in %.1f s (%.1f frames/s), %d scene cuts -> %s",
            clip.path,
            result.num_frames,
            result.seconds,
            result.num_frames / max(result.seconds, 1e-9),
            result.scene_cuts,
            result.output,
        )
    return failures


def _report_error(message: str) -> None:
    # tqdm.write clears a progress bar being drawn, prints the line, then redraws the bar.
    tqdm.write(f"{PROGRAM}: error: {message}", file=sys.stderr)


def _load_colorizer():
    """The Colorizer of --workdir (JAX), or the onnxruntime one of --onnx (no JAX computation)."""
    if FLAGS.onnx:
        from colorize_jax.inference import onnx_colorizer  # noqa: PLC0415 - only with --onnx

        return onnx_colorizer.OnnxColorizer(FLAGS.onnx, render_size=FLAGS.render_size)
    full_resolution.enable_compilation_cache(FLAGS.compilation_cache_dir)
    model = None if FLAGS.workdir else (FLAGS.model or shipped.DEFAULT_MODEL)
    return full_resolution.load_colorizer(
        FLAGS.workdir,
        model=model,
        vivid=FLAGS.vivid,
        step=FLAGS.step,
        checkpoint=FLAGS.checkpoint,
        render_size=FLAGS.render_size,
        overrides=dict(item.split("=", 1) for item in FLAGS.set),
    )


def main(argv: list[str]) -> None:
    specs = argv[1:]
    if not specs:
        raise app.UsageError("give at least one INPUT: image files, folders or glob patterns")
    if not FLAGS.output_dir:
        raise app.UsageError("--output_dir is required")
    if sum(bool(x) for x in (FLAGS.workdir, FLAGS.onnx, FLAGS.model)) > 1:
        raise app.UsageError("give at most one of --workdir, --model and --onnx")
    if FLAGS.onnx and (FLAGS.set or FLAGS.step is not None or FLAGS.vivid):
        raise app.UsageError("--set, --step and --vivid do not apply to an ONNX model (fixed)")
    if FLAGS.model and FLAGS.step is not None:
        raise app.UsageError("--step applies to --workdir; a shipped model has one step")
    try:
        settings = temporal.TemporalSettings(strength=FLAGS.temporal_strength)
    except ValueError as error:
        raise app.UsageError(f"--temporal_strength: {error}") from None
    inputs, errors = photo_files.find_inputs(
        specs, sources.IMAGE_EXTENSIONS + video_io.VIDEO_EXTENSIONS
    )
    videos = [item for item in inputs if video_io.is_video_path(item.path)]
    inputs = [item for item in inputs if not video_io.is_video_path(item.path)]
    for error in errors:
        _report_error(error)
    photo_files.check_output_dir(
        inputs + videos, FLAGS.output_dir, allow_same_dir=FLAGS.allow_same_dir
    )
    start = time.perf_counter()
    colorizer = _load_colorizer()  # a bad model is one line: PROGRAM: error: ... (`cli.run`)
    logging.info(
        "model of %s at step %d, render size %d (stride %d), loaded in %.1f s",
        getattr(colorizer, "source", None) or FLAGS.onnx,
        colorizer.step,
        colorizer.render_size,
        colorizer.stride,
        time.perf_counter() - start,
    )
    failures = colorize_photos(colorizer, inputs, FLAGS.output_dir) if inputs else 0
    taken = {os.path.realpath(item.path) for item in inputs + videos}
    video_failures = (
        colorize_videos(colorizer, videos, FLAGS.output_dir, taken, settings) if videos else 0
    )
    done = len(inputs) - failures
    failures += video_failures + len(errors)
    summary = f"colorized {done} images"
    if videos:
        summary += f" and {len(videos) - video_failures} videos"
    print(f"{summary} into {FLAGS.output_dir}; {failures} failed", file=sys.stderr)
    if failures:
        raise SystemExit(1)


def run() -> None:
    """Runs the command line (also the console script `colorize-jax-colorize`)."""
    cli.run(main, PROGRAM, define_flags=define_flags, takes_arguments=True)


if __name__ == "__main__":
    run()
