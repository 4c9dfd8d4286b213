"""The export's sidecar PATH.json (`onnx_colorizer.sidecar_path`): what the artifact needs.

Input and output meaning, colour space, stride, render size, the head's decode settings, the
step, the versions, the training config; the export adds its timing, workdir, checkpoint and the
parity figures.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import os
from typing import Any

from colorize_jax.colour import colorspace
from colorize_jax.inference import full_resolution, onnx_colorizer

INPUT_SCALING = {
    "lab": "CIELAB L / 50 - 1",
    "rgb": "BT.601 luma Y' * 2 - 1 (Y' of sRGB in [0, 1])",
    "yuv": "BT.601 Y * 2 - 1 (Y of sRGB in [0, 1])",
}
TARGET_MEANING = {
    "lab": (["a", "b"], "CIELAB (a, b) / 110"),
    "yuv": (["U", "V"], f"(U / {colorspace.U_MAX:.6f}, V / {colorspace.V_MAX:.6f}), BT.601"),
    "rgb": (["R", "G", "B"], "sRGB * 2 - 1 (sRGB in [0, 1])"),
}


def metadata(colorizer: full_resolution.Colorizer, model_format: str, path: str) -> dict[str, Any]:
    """The sidecar's content (without "parity", which the check adds)."""
    space, stride = colorizer.config.data.color_space, colorizer.stride
    channels, meaning = TARGET_MEANING[space]
    spatial = ["H", "W"] if model_format == "onnx" else [f"{stride}*h", f"{stride}*w"]
    return {
        "format": model_format,
        "model_file": os.path.basename(path),
        "input": {
            "name": onnx_colorizer.INPUT_NAME,
            "shape": ["B", *spatial, 1],
            "dtype": "float32",
            "layout": "NHWC",
            "scaling": INPUT_SCALING[space],
        },
        "output": {
            "name": onnx_colorizer.OUTPUT_NAME,
            "shape": ["B", *spatial, len(channels)],
            "dtype": "float32",
            "channels": channels,
            "scaling": meaning,
        },
        "color_space": space,
        "stride": stride,
        "render_size": colorizer.render_size,
        "size_rule": f"H and W multiples of {stride}: the shorter side rescaled to render_size "
        "and both sides rounded to multiples (full_resolution.render_shape)",
        "decode": dataclasses.asdict(colorizer.head),
        "step": colorizer.step,
        "versions": {
            package: importlib.metadata.version(package)
            for package in ("jax", *(("jax2onnx",) if model_format == "onnx" else ()))
        },
        "config": json.loads(colorizer.config.to_json_best_effort()),
    }
