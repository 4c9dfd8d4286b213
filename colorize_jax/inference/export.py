"""Exports a trained generator for deployment: ONNX (jax2onnx) or StableHLO (jax.export).

  python -m colorize_jax.export --workdir=DIR --format=onnx|stablehlo --output=PATH
      [--checkpoint=best|latest] [--step=N] [--render_size=PX] [--set=KEY=VALUE]
      [--check_image=FILE] [--platforms=cpu,cuda]

The artifact is the inference function of the network (batch statistics frozen) with the
head's decode (the classification head's annealed mean or other `classify.decode`, the
`decode_chroma_gain`): float32 NHWC lightness in [-1, 1], scaled as `colorspace.encode` makes
the model's input (lab: L / 50 - 1; rgb, yuv: Y' * 2 - 1), to the predicted colour target
scaled as `encode`'s targets (lab: (a, b) / 110; yuv: (U / U_MAX, V / V_MAX); rgb: RGB * 2 - 1).
Batch, height and width are symbolic; height and width must be multiples of the model's stride
(as `colorize.render_shape` makes them; the model would edge-pad other sizes):

  onnx       input "lightness" [B, H, W, 1] -> output "target" [B, H, W, C]; an H or W that is
             not a multiple is cropped down to one (bottom rows, right columns dropped).
  stablehlo  jax.export.deserialize(bytearray(open(PATH, "rb").read())).call(lightness) for
             shapes (B, S*h, S*w, 1); other sizes are refused. Serialized for --platforms.

The command then checks the artifact (run by onnxruntime, or the StableHLO reloaded) against the
JAX model on --check_image (default scikit-image's chelsea) at the render shape in a batch of 1
and transposed in a batch of 2 (another height and width): max and mean abs difference of the
target, and of the full-resolution 8-bit RGB pictures made from either (`check_parity`). Beyond
TARGET_TOLERANCE or RGB_TOLERANCE it removes the artifact and fails. Last it writes the sidecar
PATH.json (`onnx_colorizer.sidecar_path`): input and output meaning, colour space, stride,
render size, the head's decode settings, the step, the parity figures and the training config.
`python -m colorize_jax.colorize --onnx=PATH` colorizes with the ONNX model and no JAX.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from colorize_jax.colour import colorspace
from colorize_jax.inference import colorizer as colorize
from colorize_jax.inference import onnx_colorizer, onnx_tracing, photos
from colorize_jax.runtime import cli, reporting

FORMATS = ("onnx", "stablehlo")
TARGET_TOLERANCE = 1e-3  # max abs difference of the target (target units, ab / 110 for lab)
RGB_TOLERANCE = 0.1  # mean abs difference of the 8-bit RGB pictures
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


def predict_function(colorizer: colorize.Colorizer) -> Callable[[jax.Array], jax.Array]:
    """lightness (B, H, W, 1) -> float32 colour target: network (train=False), then decode."""
    network, head = colorizer.network, colorizer.head
    variables = jax.device_get(network.variables)  # constants of the exported function

    def predict(lightness: jax.Array) -> jax.Array:
        outputs = network.apply_fn(variables, lightness, train=False)
        return head.predict(outputs).astype(jnp.float32)

    return predict


def export_onnx(colorizer: colorize.Colorizer, path: str) -> None:
    """Writes the ONNX model of `predict_function` (symbolic B, H, W; see `onnx_tracing`)."""
    import onnx  # noqa: PLC0415 - optional dependencies (setup.cfg's export extra)

    dtype = colorizer.config.model.get("dtype", "float32")
    if jnp.dtype(dtype) != jnp.float32:
        raise ValueError(
            f"config.model.dtype is {dtype}, which onnxruntime's CPU kernels do not run: export "
            "with --set=model.dtype=float32 (the check then compares with JAX in float32)"
        )
    predict, stride = predict_function(colorizer), colorizer.stride

    def cropped(lightness):
        # Sizes stride * floor(H / stride): jax then knows the model's edge padding is empty.
        batch, height, width, _ = lightness.shape
        size = (batch, stride * (height // stride), stride * (width // stride), 1)
        with onnx_tracing.adaptations():
            return predict(jax.lax.slice(lightness, (0, 0, 0, 0), size))

    shape = jax.export.symbolic_shape(
        "B, H, W, 1", constraints=(f"H >= {stride}", f"W >= {stride}")
    )
    model = onnx_tracing.to_onnx(
        cropped,
        [jax.ShapeDtypeStruct(shape, jnp.float32)],
        model_name="colorize_jax",
        input_names=[onnx_colorizer.INPUT_NAME],
        output_names=[onnx_colorizer.OUTPUT_NAME],
    )
    onnx.save_model(model, path)


def export_stablehlo(
    colorizer: colorize.Colorizer, path: str, platforms: Sequence[str] | None = None
) -> None:
    """Writes `jax.export`'s serialization of `predict_function` for (B, S*h, S*w, 1) inputs."""
    stride = colorizer.stride
    shape = jax.export.symbolic_shape(f"B, {stride}*h, {stride}*w, 1")
    exported = jax.export.export(jax.jit(predict_function(colorizer)), platforms=platforms)(
        jax.ShapeDtypeStruct(shape, jnp.float32)
    )
    with open(path, "wb") as f:
        f.write(exported.serialize())


def load_predict(path: str, model_format: str) -> Callable[[np.ndarray], np.ndarray]:
    """The artifact at `path` as a NumPy function lightness -> target (onnxruntime / reloaded)."""
    if model_format == "onnx":
        session = onnx_colorizer.load_session(path)
        names = [onnx_colorizer.OUTPUT_NAME]
        return lambda x: session.run(names, {onnx_colorizer.INPUT_NAME: x})[0]
    with open(path, "rb") as f:
        exported = jax.export.deserialize(bytearray(f.read()))
    return lambda x: np.asarray(exported.call(x))


def metadata(colorizer: colorize.Colorizer, model_format: str, path: str) -> dict[str, Any]:
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
        "and both sides rounded to multiples (colorize.render_shape)",
        "decode": dataclasses.asdict(colorizer.head),
        "step": colorizer.step,
        "versions": {
            package: importlib.metadata.version(package)
            for package in ("jax", *(("jax2onnx",) if model_format == "onnx" else ()))
        },
        "config": json.loads(colorizer.config.to_json_best_effort()),
    }


def check_parity(
    colorizer: colorize.Colorizer, predict: Callable[[np.ndarray], np.ndarray], image: np.ndarray
) -> list[dict[str, Any]]:
    """The artifact's `predict` against the JAX model: `image` alone, and transposed twice.

    At the render shape of `image` in a batch of 1, and of its transpose (another height and
    width) with its mirror image in a batch of 2. Both targets become full-resolution 8-bit
    pictures the same way (NumPy, as `onnx_colorizer.ExportedColorizer`), so the pictures differ
    by what the artifact does alone.
    """
    reference, space = jax.jit(predict_function(colorizer)), colorizer.config.data.color_space
    turned = np.ascontiguousarray(image.transpose(1, 0, 2))
    rows = []
    for images in ([image], [turned, np.ascontiguousarray(turned[:, ::-1])]):
        shape = colorizer.render_shape(*images[0].shape[:2])
        small = np.stack([colorize._resize_rgb(rgb, shape) for rgb in images])
        inputs, _ = colorspace.encode(small, space)
        expected, got = np.asarray(reference(inputs)), np.asarray(predict(inputs), np.float32)
        target = np.abs(expected - got)
        rgb8 = np.abs(
            _pictures(images, inputs, expected, space) - _pictures(images, inputs, got, space)
        )
        rows.append(
            {
                "picture": list(images[0].shape[:2]),
                "model_input": [len(images), *shape, 1],
                "target_max_abs": float(target.max()),
                "target_mean_abs": float(target.mean()),
                "rgb8_max_abs": int(rgb8.max()),
                "rgb8_mean_abs": float(rgb8.mean()),
            }
        )
    return rows


def _pictures(images, inputs, targets, space) -> np.ndarray:
    ab = colorize.target_ab(inputs, targets, space)
    return np.stack([colorize.recombine(*pair) for pair in zip(images, ab, strict=True)]).astype(
        np.int16
    )


def export(
    workdir: str,
    model_format: str,
    output: str,
    *,
    step: int | None = None,
    checkpoint: str = "best",
    render_size: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    check_image: str | None = None,
    platforms: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Exports, checks and describes `workdir`'s model; returns the sidecar written."""
    if model_format not in FORMATS:
        raise ValueError(f"unknown --format {model_format!r}: use {' or '.join(FORMATS)}")
    if check_image:
        image = photos.read_photo(check_image).rgb
    else:
        import skimage.data  # noqa: PLC0415

        image = skimage.data.chelsea()
    colorizer = colorize.load_colorizer(
        workdir, step=step, checkpoint=checkpoint, render_size=render_size, overrides=overrides
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
    described["workdir"], described["checkpoint"] = os.path.abspath(workdir), checkpoint
    rows = check_parity(colorizer, load_predict(output, model_format), image)
    described["parity"] = {
        "checks": rows,
        "tolerance": {"target_max_abs": TARGET_TOLERANCE, "rgb8_mean_abs": RGB_TOLERANCE},
    }
    failed = [
        row
        for row in rows
        if row["target_max_abs"] > TARGET_TOLERANCE or row["rgb8_mean_abs"] > RGB_TOLERANCE
    ]
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
    flags.DEFINE_string("format", None, "Artifact: onnx or stablehlo.")
    flags.DEFINE_string("output", None, "Artifact path; its sidecar is PATH.json.")
    flags.DEFINE_integer("step", None, "Checkpoint step (default: see --checkpoint).")
    flags.DEFINE_enum("checkpoint", "best", ["best", "latest"], "Which checkpoint without --step.")
    flags.DEFINE_integer("render_size", None, "Shorter side the model sees (default: training).")
    flags.DEFINE_list("set", [], "Config overrides KEY=VALUE, e.g. classify.temperature=0.5.")
    flags.DEFINE_string("check_image", None, "Photo of the parity check (default: chelsea).")
    flags.DEFINE_list("platforms", None, "StableHLO platforms, e.g. cpu,cuda (default: this one).")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if not FLAGS.workdir or not FLAGS.output or not FLAGS.format:
        raise app.UsageError("--workdir, --format (onnx or stablehlo) and --output are required")
    reporting.quiet_library_logs()
    with cli.one_line_errors("colorize_jax.export"):
        described = export(
            FLAGS.workdir,
            FLAGS.format,
            FLAGS.output,
            step=FLAGS.step,
            checkpoint=FLAGS.checkpoint,
            render_size=FLAGS.render_size,
            overrides=dict(item.split("=", 1) for item in FLAGS.set),
            check_image=FLAGS.check_image,
            platforms=FLAGS.platforms,
        )
    print(
        f"exported step {described['step']} of {FLAGS.workdir} to {FLAGS.output} "
        f"({described['export_seconds']} s); sidecar {onnx_colorizer.sidecar_path(FLAGS.output)}"
    )
    for row in described["parity"]["checks"]:
        print(
            f"parity vs JAX, input {row['model_input']}: target max {row['target_max_abs']:.2e} "
            f"mean {row['target_mean_abs']:.2e}; 8-bit RGB of the {row['picture']} picture "
            f"max {row['rgb8_max_abs']} mean {row['rgb8_mean_abs']:.4f} (tolerance: target "
            f"max {TARGET_TOLERANCE}, RGB mean {RGB_TOLERANCE})"
        )
