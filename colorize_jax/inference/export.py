"""Exports a trained generator for deployment: ONNX (jax2onnx) or StableHLO (jax.export).

`export` writes the artifact: the inference function of the network with the head's decode,
float32 NHWC lightness in [-1, 1] to the colour target, at a symbolic batch, height and width
(multiples of the model's stride), made by `export_forward`. It then checks the artifact (run by
onnxruntime, or the StableHLO reloaded) against the JAX model on a photo (default scikit-image's
chelsea), in a batch of 1 and transposed in a batch of 2 (`export_parity`). Beyond its
TARGET_TOLERANCE or RGB_TOLERANCE it removes the artifact and fails. Last it writes the sidecar
PATH.json (`onnx_colorizer.sidecar_path`, content from `export_sidecar`): input and output
meaning, colour space, stride, render size, the head's decode settings, the step, the parity
figures and the training config.

This module holds the export as a whole; its command line is `colorize_jax.export`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from colorize_jax.inference import full_resolution, onnx_colorizer, photo_files
from colorize_jax.inference.export_forward import export_onnx, export_stablehlo, load_predict
from colorize_jax.inference.export_parity import (
    RGB_TOLERANCE,
    TARGET_TOLERANCE,
    check_parity,
    failed_checks,
)
from colorize_jax.inference.export_sidecar import metadata

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
