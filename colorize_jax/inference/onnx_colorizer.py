"""Colorizes with a model exported by `colorize_jax.inference.export`: onnxruntime and NumPy only.

  python -m colorize_jax.colorize --onnx=MODEL.onnx INPUT... --output_dir=OUT

The ONNX file maps the lightness batch to the predicted colour target (the network and the
head's decode); its sidecar MODEL.onnx.json (`sidecar_path`) says the rest: colour space,
stride, render size. Everything around the network is NumPy, as `full_resolution.Colorizer` does it:
the copy at the render shape, its lightness (`colorspace.encode`), the target's CIELAB (a, b)
(`full_resolution.target_ab`) and their recombination with the full-resolution lightness
(`full_resolution.recombine`). `colorspace` computes NumPy inputs with NumPy, so no JAX
computation runs (the tests run it with JAX unable to start a backend).

Python:
  from colorize_jax.inference.onnx_colorizer import OnnxColorizer
  rgb = OnnxColorizer("unet_lab.onnx").colorize(gray_or_rgb_uint8)   # (H, W, 3) uint8
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from colorize_jax.colour import colorspace
from colorize_jax.data import decode
from colorize_jax.inference import full_resolution
from colorize_jax.runtime import cli

INPUT_NAME, OUTPUT_NAME = "lightness", "target"
EXPORT_HINT = "python -m colorize_jax.export --workdir=DIR --format={} --output={}"


def sidecar_path(path: str) -> str:
    """The JSON written beside an exported model: PATH + ".json" (MODEL.onnx.json)."""
    return path + ".json"


def read_sidecar(path: str, model_format: str) -> dict[str, Any]:
    """The sidecar of the `model_format` model at `path`; FileNotFoundError/ValueError say why."""
    fix = EXPORT_HINT.format(model_format, path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: export a model first with {fix}")
    sidecar = sidecar_path(path)
    if not os.path.isfile(sidecar):
        raise FileNotFoundError(
            f"{sidecar} not found (colorize_jax.export writes it beside {path}): re-export "
            f"with {fix}"
        )
    try:
        with open(sidecar) as f:
            metadata = json.load(f)
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read {sidecar} ({error}): re-export with {fix}") from None
    if metadata.get("format") != model_format:
        raise ValueError(
            f"{sidecar} describes a {metadata.get('format')!r} model, not {model_format!r}: "
            f"re-export with {fix}"
        )
    return metadata


class ExportedColorizer:
    """`full_resolution.Colorizer`'s colorization around an exported model's NumPy `predict`.

    Args:
      metadata: the model's sidecar (`colorize_jax.inference.export_sidecar.metadata`).
      predict: float32 lightness (B, H, W, 1) -> float32 colour target (B, H, W, C), H and W
        multiples of the stride.
      render_size: shorter side at which the model sees an image; None: the exported one.
    """

    def __init__(
        self,
        metadata: Mapping[str, Any],
        predict: Callable[[np.ndarray], np.ndarray],
        *,
        render_size: int | None = None,
    ):
        self.metadata = dict(metadata)
        self.space = metadata["color_space"]
        self.stride = int(metadata["stride"])
        self.step = int(metadata["step"])
        self.render_size = full_resolution.round_render_size(
            render_size or metadata["render_size"], self.stride
        )
        self.predict = predict

    def render_shape(self, height: int, width: int) -> tuple[int, int]:
        """(height, width) of the model's copy of an image: shorter side = render_size."""
        return full_resolution.render_shape(self.render_size, self.stride, height, width)

    def with_settings(
        self,
        *,
        render_size: int | None = None,
        chroma_gain: float | None = None,
        temperature: float | None = None,
    ) -> ExportedColorizer:
        """This model at another render size (None keeps it), as `Colorizer.with_settings`.

        The decode settings were fixed at export: a chroma gain or temperature is a ValueError.
        """
        if chroma_gain is not None or temperature is not None:
            raise ValueError("an exported model decodes as it was exported: re-export to change")
        variant = copy.copy(self)
        if render_size is not None:
            variant.render_size = full_resolution.round_render_size(render_size, self.stride)
        return variant

    def colorize(self, image: np.ndarray) -> np.ndarray:
        """Colorizes one gray (H, W) / (H, W, 1) or RGB (H, W, 3) uint8 image -> (H, W, 3) uint8."""
        rgb = decode.decode_image(np.asarray(image), name="the image")
        return self.colorize_batch([rgb])[0]

    def colorize_batch(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Colorizes (H, W, 3) uint8 RGB images of any sizes; batches those of one render shape."""
        return full_resolution.colorize_by_render_shape(images, self.render_shape, self.predict_ab)

    def predict_ab(self, small: np.ndarray) -> np.ndarray:
        """The predicted CIELAB (a, b) of a uint8 RGB batch at the render shape (NumPy), as
        `full_resolution.Colorizer.predict_ab` gives it."""
        inputs, _ = colorspace.encode(small, self.space)
        targets = np.asarray(self.predict(inputs), np.float32)
        return full_resolution.target_ab(inputs, targets, self.space)


class OnnxColorizer(ExportedColorizer):
    """An ONNX model of `colorize_jax.export` run by onnxruntime (CPU), colorizing uint8 images.

    Args:
      path: the .onnx file; its sidecar PATH.json must be beside it.
      render_size: shorter side at which the model sees an image; None: the exported one.
      threads: onnxruntime's intra-op threads; 0: its default (one per physical core).
    """

    def __init__(self, path: str, *, render_size: int | None = None, threads: int = 0):
        metadata = read_sidecar(path, "onnx")
        self.session = load_session(path, threads)
        super().__init__(metadata, self._run, render_size=render_size)

    def _run(self, lightness: np.ndarray) -> np.ndarray:
        return self.session.run([OUTPUT_NAME], {INPUT_NAME: lightness})[0]


def load_session(path: str, threads: int = 0):
    """An onnxruntime CPU session of the ONNX file at `path` (ValueError if it cannot load)."""
    import onnxruntime  # noqa: PLC0415 - an optional dependency (setup.cfg's export extra)

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    # Idle threads sleep rather than spin: the NumPy work between runs needs the cores.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    except Exception as error:  # noqa: BLE001 - onnxruntime's own exception types
        raise ValueError(
            f"onnxruntime cannot load {path} ({cli.first_line(error)}): re-export it with "
            f"{EXPORT_HINT.format('onnx', path)}"
        ) from None
