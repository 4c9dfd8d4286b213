"""Exports a trained generator for deployment: ONNX (jax2onnx) or StableHLO (jax.export).

  python -m colorize_jax.export --workdir=DIR | --model=NAME --format=onnx|stablehlo --output=PATH
      [--checkpoint=best|latest] [--step=N] [--render_size=PX] [--set=KEY=VALUE]
      [--check_image=FILE] [--platforms=cpu,cuda]

The artifact is the inference function of the network with the head's decode, float32 NHWC
lightness in [-1, 1] to the colour target, at a symbolic batch, height and width (multiples of
the model's stride): `export_forward` makes and writes it. The command then checks the artifact
(run by onnxruntime, or the StableHLO reloaded) against the JAX model on --check_image (default
scikit-image's chelsea), in a batch of 1 and transposed in a batch of 2 (`export_parity`).
Beyond its TARGET_TOLERANCE or RGB_TOLERANCE it removes the artifact and fails. Last it writes
the sidecar PATH.json (`onnx_colorizer.sidecar_path`, content from `export_sidecar`): input and
output meaning, colour space, stride, render size, the head's decode settings, the step, the
parity figures and the training config. `python -m colorize_jax.colorize --onnx=PATH` colorizes
with the ONNX model and no JAX.

This module holds the export as a whole and its command line.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from absl import app, flags

from colorize_jax.inference import full_resolution, onnx_colorizer, photo_files
from colorize_jax.inference.export_forward import export_onnx, export_stablehlo, load_predict
from colorize_jax.inference.export_parity import (
    RGB_TOLERANCE,
    TARGET_TOLERANCE,
    check_parity,
    failed_checks,
)
from colorize_jax.inference.export_sidecar import metadata
from colorize_jax.runtime import cli, reporting

FORMATS = ("onnx", "stablehlo")


def export(
    workdir: str | None,
    model_format: str,
    output: str,
    *,
    model: str | None = None,
    vivid: bool = False,
    step: int | None = None,
    checkpoint: str = "best",
    render_size: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    check_image: str | None = None,
    platforms: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Exports, checks and describes `workdir`'s model (or the shipped `model`, when `workdir`
    is None; `vivid` bakes its vivid decode in); returns the sidecar written."""
    if model_format not in FORMATS:
        raise ValueError(f"unknown --format {model_format!r}: use {' or '.join(FORMATS)}")
    if check_image:
        image = photo_files.read_photo(check_image).rgb
    else:
        import skimage.data  # noqa: PLC0415

        image = skimage.data.chelsea()
    colorizer = full_resolution.load_colorizer(
        workdir,
        model=model,
        vivid=vivid,
        step=step,
        checkpoint=checkpoint,
        render_size=render_size,
        overrides=overrides,
    )
    if colorizer.config.model.get("bottleneck_attention_blocks"):
        raise ValueError(
            "a model with bottleneck attention builds its position embedding for static sizes: "
            "it cannot be exported with a symbolic height and width yet"
        )
    sidecar = onnx_colorizer.sidecar_path(output)
    if os.path.exists(sidecar):
        os.remove(sidecar)  # never left describing another artifact
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    start = time.perf_counter()
    if model_format == "onnx":
        export_onnx(colorizer, output)
    else:
        export_stablehlo(colorizer, output, platforms)
    described = metadata(colorizer, model_format, output)
    described["export_seconds"] = round(time.perf_counter() - start, 1)
    if workdir is None:
        described["shipped_model"] = model
    else:
        described["workdir"], described["checkpoint"] = os.path.abspath(workdir), checkpoint
    rows = check_parity(colorizer, load_predict(output, model_format), image)
    described["parity"] = {
        "checks": rows,
        "tolerance": {"target_max_abs": TARGET_TOLERANCE, "rgb8_mean_abs": RGB_TOLERANCE},
    }
    failed = failed_checks(rows)
    if failed:
        os.remove(output)
        raise ValueError(f"the {model_format} model differs from JAX ({failed[0]}); removed it")
    with open(sidecar, "w") as f:
        json.dump(described, f, indent=2)
    return described


# ---------------------------------------------------------------------------------------------
# Command line

FLAGS = flags.FLAGS


def define_flags() -> None:
    """The command line's flags (defined only when run as a program, so importing is free)."""
    flags.DEFINE_string("workdir", None, "Training directory holding checkpoints/ and config.json.")
    flags.DEFINE_string("model", None, "A shipped model to export instead of --workdir.")
    flags.DEFINE_boolean("vivid", False, "Export the model's vivid decode (its vivid_chroma_gain).")
    flags.DEFINE_string("format", None, "Artifact: onnx or stablehlo.")
    flags.DEFINE_string("output", None, "Artifact path; its sidecar is PATH.json.")
    flags.DEFINE_integer("step", None, "Checkpoint step (default: see --checkpoint).")
    flags.DEFINE_enum("checkpoint", "best", ["best", "latest"], "Which checkpoint without --step.")
    flags.DEFINE_integer("render_size", None, "Shorter side the model sees (default: training).")
    flags.DEFINE_list("set", [], "Config overrides KEY=VALUE, e.g. classify.temperature=0.5.")
    flags.DEFINE_string("check_image", None, "Photo of the parity check (default: chelsea).")
    flags.DEFINE_list("platforms", None, "StableHLO platforms, e.g. cpu,cuda (default: this one).")


def main(argv: list[str]) -> None:
    """Exports with the flags' settings; prints the artifact, its sidecar and its parity."""
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if bool(FLAGS.workdir) == bool(FLAGS.model) or not FLAGS.output or not FLAGS.format:
        raise app.UsageError(
            "one of --workdir or --model, --format (onnx or stablehlo) and --output are required"
        )
    reporting.quiet_library_logs()
    with cli.one_line_errors("colorize_jax.export"):
        described = export(
            FLAGS.workdir,
            FLAGS.format,
            FLAGS.output,
            model=FLAGS.model,
            vivid=FLAGS.vivid,
            step=FLAGS.step,
            checkpoint=FLAGS.checkpoint,
            render_size=FLAGS.render_size,
            overrides=dict(item.split("=", 1) for item in FLAGS.set),
            check_image=FLAGS.check_image,
            platforms=FLAGS.platforms,
        )
    print(
        f"exported step {described['step']} of {FLAGS.workdir or FLAGS.model} to {FLAGS.output} "
        f"({described['export_seconds']} s); sidecar {onnx_colorizer.sidecar_path(FLAGS.output)}"
    )
    for row in described["parity"]["checks"]:
        print(
            f"parity vs JAX, input {row['model_input']}: target max {row['target_max_abs']:.2e} "
            f"mean {row['target_mean_abs']:.2e}; 8-bit RGB of the {row['picture']} picture "
            f"max {row['rgb8_max_abs']} mean {row['rgb8_mean_abs']:.4f} (tolerance: target "
            f"max {TARGET_TOLERANCE}, RGB mean {RGB_TOLERANCE})"
        )
