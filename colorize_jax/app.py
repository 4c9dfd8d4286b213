"""A local web app to colorize photos and videos in the browser (Gradio: `pip install -e '.[app]'`).

  python -m colorize_jax.app [--model=NAME | --workdir=DIR | --onnx=PATH] [--port=7860]
      [--host=127.0.0.1] [--render_size=PX] [--max_upload_mb=25] [--max_video_mb=500]
      [--queue_size=8]

Open http://127.0.0.1:7860, drop photos (or pick one of scikit-image's samples), compare gray |
colorized | original and download each full-resolution result (what `colorize` writes: same
size, lightness and alpha); the Video tab colorizes a film as `colorize` does, with a frame
progress bar. The page lives in `inference.web_page`, its logic in `inference.web_colorize`.
The server listens on 127.0.0.1 only unless --host says otherwise; nothing is shared and
Gradio's analytics are off. Uploads and results go only into one temporary folder
(GRADIO_TEMP_DIR), removed when the app stops (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import logging as std_logging
import os
import shutil
import signal
import sys
import tempfile

from absl import app, flags, logging

from colorize_jax.inference.full_resolution import (
    DEFAULT_CACHE_DIR,
    enable_compilation_cache,
    load_colorizer,
)
from colorize_jax.models import shipped
from colorize_jax.runtime import cli

FLAGS = flags.FLAGS
# Set before Gradio is imported: nothing phones home, and temporary files stay in our folder.
OFFLINE_ENV = {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "GRADIO_SSR_MODE": "False",
}


def define_flags() -> None:
    """The command line's flags (defined only when run as a program)."""
    flags.DEFINE_string("workdir", None, "Training directory holding checkpoints/ and config.json.")
    flags.DEFINE_string("onnx", None, "ONNX model of colorize_jax.export (instead of --workdir).")
    flags.DEFINE_string(
        "model", None, f"Shipped model (default {shipped.DEFAULT_MODEL} without --workdir/--onnx)."
    )
    flags.DEFINE_integer("step", None, "Checkpoint step of --workdir (default: --checkpoint).")
    flags.DEFINE_enum("checkpoint", "best", ["best", "latest"], "Which checkpoint without --step.")
    flags.DEFINE_integer("render_size", None, "Initial render size (default: the model's).")
    flags.DEFINE_list("set", [], "Config overrides KEY=VALUE, e.g. classify.temperature=0.5.")
    flags.DEFINE_string("host", "127.0.0.1", "Address to listen on (0.0.0.0: every interface).")
    flags.DEFINE_integer("port", 7860, "Port to listen on.")
    flags.DEFINE_float("max_upload_mb", 25, "Largest upload accepted, in megabytes.")
    flags.DEFINE_float("max_megapixels", 50, "Largest image accepted, in megapixels.")
    flags.DEFINE_float("max_video_mb", 500, "Largest video upload accepted, in megabytes.")
    flags.DEFINE_integer("queue_size", 8, "Requests that may wait; more are told the app is busy.")
    flags.DEFINE_boolean("samples", True, "Offer scikit-image's sample photos on the page.")
    flags.DEFINE_string("compilation_cache_dir", DEFAULT_CACHE_DIR, "XLA cache ('' to disable).")


def load() -> object:
    """The colorizer of --onnx, --workdir or --model (the shipped default without any)."""
    if FLAGS.onnx:
        from colorize_jax.inference import onnx_colorizer  # noqa: PLC0415 - only with --onnx

        return onnx_colorizer.OnnxColorizer(FLAGS.onnx, render_size=FLAGS.render_size)
    enable_compilation_cache(FLAGS.compilation_cache_dir)
    return load_colorizer(
        FLAGS.workdir,
        model=None if FLAGS.workdir else (FLAGS.model or shipped.DEFAULT_MODEL),
        step=FLAGS.step,
        checkpoint=FLAGS.checkpoint,
        render_size=FLAGS.render_size,
        overrides=dict(item.split("=", 1) for item in FLAGS.set),
    )


def main(argv: list[str]) -> None:
    if sum(bool(x) for x in (FLAGS.workdir, FLAGS.onnx, FLAGS.model)) > 1:
        raise app.UsageError("give at most one of --workdir, --model and --onnx")
    if FLAGS.onnx and (FLAGS.set or FLAGS.step is not None):
        raise app.UsageError("--set and --step do not apply to an ONNX model")
    std_logging.getLogger("httpx").setLevel(std_logging.WARNING)  # Gradio's startup requests
    temporary = tempfile.mkdtemp(prefix="colorize_app_")
    os.environ.update(OFFLINE_ENV, GRADIO_TEMP_DIR=temporary)
    # SIGTERM ends the server as Ctrl-C does, so that the folder below is removed.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        serve(load(), temporary)  # a bad model is one line: PROGRAM: error: ... (`cli.run`)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
        logging.info("removed %s", temporary)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def serve(colorizer, temporary: str) -> None:
    """Builds the page and serves it until interrupted."""
    from colorize_jax.inference import web_page  # noqa: PLC0415 - Gradio after the environment

    limits = web_page.Limits(
        max_bytes=int(FLAGS.max_upload_mb * 2**20),
        max_pixels=int(FLAGS.max_megapixels * 1e6),
        queue_size=FLAGS.queue_size,
        max_video_bytes=int(FLAGS.max_video_mb * 2**20),
    )
    samples = web_page.sample_photos() if FLAGS.samples else []
    results = tempfile.mkdtemp(prefix="results_", dir=temporary)
    page = web_page.build_page(colorizer, results, limits, samples)
    print(f"colorize_jax.app: serving on http://{FLAGS.host}:{FLAGS.port}", file=sys.stderr)
    page.launch(
        server_name=FLAGS.host,
        server_port=FLAGS.port,
        share=False,
        max_file_size=limits.max_bytes,
        show_error=True,
        ssr_mode=False,
        footer_links=[],
        quiet=True,
    )


def run() -> None:
    """Runs the command line (also the console script `colorize-jax-app`)."""
    cli.run(main, "colorize_jax.app", define_flags=define_flags)


if __name__ == "__main__":
    run()
