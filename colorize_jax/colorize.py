"""Colorizes photos at full resolution with a trained model.

  python -m colorize_jax.colorize --workdir=DIR INPUT... --output_dir=OUT
      [--step=N | --checkpoint=latest] [--render_size=PX] [--format=png|jpeg] [--compare]
      [--allow_same_dir] [--batch_size=8] [--set=classify.temperature=0.5]
  python -m colorize_jax.colorize --onnx=MODEL.onnx INPUT... --output_dir=OUT [--render_size=PX]
      [--format=png|jpeg] [--compare] [--allow_same_dir] [--batch_size=8]

INPUT: image files, folders (searched recursively) or glob patterns. The network runs on a
copy whose shorter side is --render_size pixels (default: the training image size), rounded to a
multiple of the network's stride; its colour is upsampled to the original resolution and put
together with the original lightness, so the output has the input's size, orientation (EXIF
applied), alpha channel and CIELAB L (within quantization, < 0.5). Outputs are named after their
inputs in OUT (folders mirrored); an input is never overwritten. A bad input is reported on one
line and skipped; the exit status is 1 when any failed.

--onnx runs a model exported by `colorize_jax.export` (its sidecar MODEL.onnx.json beside it)
with onnxruntime instead of a workdir with JAX: the same outputs, sizes and errors, and no JAX
computation (`onnx_colorizer`). Its decode settings are those it was exported with, so --set,
--step and --checkpoint do not apply; --render_size defaults to the exported one.

Python:
  from colorize_jax.colorize import Colorizer
  rgb = Colorizer("runs/unet_lab").colorize(gray_or_rgb_uint8)   # (H, W, 3) uint8
  from colorize_jax.onnx_colorizer import OnnxColorizer
  rgb = OnnxColorizer("unet_lab.onnx").colorize(gray_or_rgb_uint8)
"""

from __future__ import annotations

import collections
import os
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags, logging
from etils import epath
from PIL import Image

from colorize_jax import colorspace, heads, models, photos, reporting, sharding, sheets, trained
from colorize_jax.data import decode

DEFAULT_CACHE_DIR = os.path.join(os.path.expanduser("~"), ".cache", "colorize_jax", "xla")


class Colorizer:
    """A trained model restored from a workdir, colorizing uint8 images of any size.

    Args:
      workdir: a training directory (checkpoints/ and config.json).
      step: the checkpoint step; None: `checkpoint`'s choice.
      checkpoint: "best" (by the config's best_metric; the latest if none was evaluated) or
        "latest".
      render_size: shorter side, in pixels, at which the network sees the image; None: the
        training image size. Rounded to a multiple of the network's stride.
      overrides: config fields to change before building the model, {"classify.temperature":
        0.5}; they must not change the parameters' shapes.
    """

    def __init__(
        self,
        workdir: str,
        *,
        step: int | None = None,
        checkpoint: str = "best",
        render_size: int | None = None,
        overrides: Mapping[str, Any] | None = None,
    ):
        config = trained.load_config(workdir, None)
        for key, value in (overrides or {}).items():
            _set_field(config, key, value)
        self.config = config
        mesh = sharding.create_mesh(jax.local_devices()[:1])
        state, self.step = trained.restore_generator(
            config, workdir, mesh, step=step, which=checkpoint
        )
        self.network = state.generator
        self.head = heads.create(config)
        model = models.create_model(config.model, self.head.num_outputs)
        self.stride = model.stride  # inputs are padded to it anyway; a multiple avoids the padding
        self.render_size = round_render_size(render_size or config.data.image_size, self.stride)
        self._predict = jax.jit(self._predict_ab)

    def render_shape(self, height: int, width: int) -> tuple[int, int]:
        """(height, width) of the network's copy of an image: shorter side = render_size."""
        return render_shape(self.render_size, self.stride, height, width)

    def colorize(self, image: np.ndarray) -> np.ndarray:
        """Colorizes one gray (H, W) / (H, W, 1) or RGB (H, W, 3) uint8 image -> (H, W, 3) uint8.

        An RGB image is recolorized from its own lightness, which the result keeps.
        """
        rgb = decode.decode_image(np.asarray(image), name="the image")
        return self.colorize_batch([rgb])[0]

    def colorize_batch(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Colorizes (H, W, 3) uint8 RGB images of any sizes; batches those of one render shape."""
        results: list[np.ndarray | None] = [None] * len(images)
        groups = collections.defaultdict(list)
        for index, rgb in enumerate(images):
            groups[self.render_shape(*rgb.shape[:2])].append(index)
        for shape, indices in groups.items():
            small = np.stack([_resize_rgb(images[i], shape) for i in indices])
            ab = np.asarray(self._predict(self.network, jnp.asarray(small)))
            for i, ab_small in zip(indices, ab, strict=True):
                results[i] = recombine(images[i], ab_small)
        return results

    def _predict_ab(self, network, images: jax.Array) -> jax.Array:
        """The predicted CIELAB (a, b) of uint8 RGB `images` (ab units), at their size."""
        space = self.config.data.color_space
        inputs, _ = colorspace.encode(images, space)
        predictions = self.head.predict(network.apply_fn(network.variables, inputs, train=False))
        return target_ab(inputs, predictions.astype(jnp.float32), space)


def load_colorizer(workdir: str, **kwargs: Any) -> Colorizer:
    """`Colorizer(workdir, **kwargs)`, its workdir's problems as one-line errors naming the fix.

    FileNotFoundError: no config.json, no checkpoint (or not that --step); ValueError: a
    checkpoint whose files do not restore (truncated, corrupt, or of another model config).
    """
    config_path = epath.Path(workdir) / "config.json"
    if not config_path.exists():
        raise FileNotFoundError(
            f"{config_path} not found: point --workdir at a training directory "
            "(config.json and checkpoints/, as colorize_jax.main writes them)"
        )
    try:
        return Colorizer(workdir, **kwargs)
    except (ValueError, FileNotFoundError):
        raise
    except Exception as error:  # noqa: BLE001 - orbax and TensorStore raise many kinds
        while error.__cause__ is not None:
            error = error.__cause__
        cause = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
        raise ValueError(
            f"cannot restore the checkpoint in {workdir} ({cause}): pick another with --step=N "
            "or --checkpoint=latest, or train again"
        ) from None


def round_render_size(size: int, stride: int) -> int:
    """`size` rounded to a positive multiple of `stride` (ValueError unless positive)."""
    if size <= 0:
        raise ValueError(f"render size must be positive, got {size}")
    return max(stride, round(size / stride) * stride)


def render_shape(render_size: int, stride: int, height: int, width: int) -> tuple[int, int]:
    """(height, width) at which a network of `stride` sees an image: shorter side render_size.

    Both sides are multiples of `stride`, which the exported models require too.
    """
    scale = render_size / min(height, width)
    return tuple(max(stride, round(side * scale / stride) * stride) for side in (height, width))


def target_ab(inputs: Any, predictions: Any, space: str) -> Any:
    """CIELAB (a, b) (ab units) of predicted colour targets for model `inputs` (NumPy or JAX)."""
    if space == "lab":
        return predictions * colorspace.LAB_AB_SCALE
    return colorspace.rgb_to_lab(colorspace.decode(inputs, predictions, space))[..., 1:]


def recombine(rgb: np.ndarray, ab_small: np.ndarray) -> np.ndarray:
    """The full-size lightness of `rgb` with `ab_small` upsampled to its size -> uint8 RGB."""
    height, width = rgb.shape[:2]
    lightness = colorspace.rgb_to_lab(rgb.astype(np.float32) / 255.0)[..., :1]
    ab = np.stack(
        [
            np.asarray(Image.fromarray(ab_small[..., c]).resize((width, height), Image.BICUBIC))
            for c in range(2)
        ],
        axis=-1,
    )
    lab = np.concatenate([lightness, ab.astype(np.float32)], axis=-1)
    return colorspace.to_uint8(colorspace.lab_to_rgb_keep_lightness(lab))


def gray_version(rgb: np.ndarray) -> np.ndarray:
    """The uint8 RGB gray image of the same CIELAB lightness as `rgb` (what the model sees)."""
    lab = colorspace.rgb_to_lab(rgb.astype(np.float32) / 255.0)
    return colorspace.to_uint8(colorspace.lab_to_rgb(lab * np.float32([1, 0, 0])))


def _resize_rgb(rgb: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if rgb.shape[:2] == shape:
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((shape[1], shape[0]), Image.BICUBIC))


def _set_field(config, key: str, value: Any) -> None:
    """Sets the dotted `key` of `config` to `value` (parsed like its current value)."""
    *parents, name = key.split(".")
    node = config
    for part in parents:
        if part not in node:
            raise ValueError(f"unknown config field {key!r}")
        node = node[part]
    if name not in node:
        raise ValueError(f"unknown config field {key!r}")
    current = node[name]
    if isinstance(value, str) and isinstance(current, bool):
        value = value.lower() in ("1", "true", "yes")
    elif isinstance(value, str) and isinstance(current, int | float):
        value = type(current)(value)
    node[name] = value


def enable_compilation_cache(cache_dir: str) -> None:
    """Persists XLA compilations under `cache_dir`, so a second run does not recompile."""
    if not cache_dir:
        return
    os.makedirs(cache_dir, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", cache_dir)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


# ---------------------------------------------------------------------------------------------
# Command line

FLAGS = flags.FLAGS


def define_flags() -> None:
    """The command line's flags (defined only when run as a program, so importing is free)."""
    flags.DEFINE_string("workdir", None, "Training directory holding checkpoints/ and config.json.")
    flags.DEFINE_string("onnx", None, "ONNX model of colorize_jax.export (instead of --workdir).")
    flags.DEFINE_string("output_dir", None, "Folder for the colorized images (created).")
    flags.DEFINE_integer("step", None, "Checkpoint step (default: see --checkpoint).")
    flags.DEFINE_enum("checkpoint", "best", ["best", "latest"], "Which checkpoint without --step.")
    flags.DEFINE_integer("render_size", None, "Shorter side the network sees (default: training).")
    flags.DEFINE_enum("format", "png", list(photos.OUTPUT_FORMATS), "Output file format.")
    flags.DEFINE_boolean("compare", False, "Also write NAME_compare: gray | colorized | original.")
    flags.DEFINE_boolean("allow_same_dir", False, "Allow --output_dir to be an input's folder.")
    flags.DEFINE_integer("batch_size", 8, "Images colorized together (of one render shape).")
    flags.DEFINE_list("set", [], "Config overrides KEY=VALUE, e.g. classify.temperature=0.5.")
    flags.DEFINE_string("compilation_cache_dir", DEFAULT_CACHE_DIR, "XLA cache ('' to disable).")


def run(colorizer: Colorizer, inputs: Sequence[photos.PhotoInput], output_dir: str) -> int:
    """Colorizes `inputs` into `output_dir`; returns the number of failed inputs."""
    input_paths = {os.path.realpath(photo.path) for photo in inputs}
    failures = 0
    progress = reporting.Progress(len(inputs), "colorized", unit="images")
    inputs = sorted(inputs, key=photos.header_size)  # similar sizes share batches
    for chunk_start in range(0, len(inputs), FLAGS.batch_size):
        pending = []
        for photo in inputs[chunk_start : chunk_start + FLAGS.batch_size]:
            try:
                pending.append((photo, photos.read_photo(photo.path)))
            except decode.ImageDecodeError as error:
                failures += 1
                _report_error(str(error))
                progress.advance()
        if not pending:
            continue
        colorized = colorizer.colorize_batch([image.rgb for _, image in pending])
        for (photo, image), rgb in zip(pending, colorized, strict=True):
            path = photos.output_path(photo, output_dir, FLAGS.format)
            if os.path.realpath(path) in input_paths:
                path = photos.output_path(photo, output_dir, FLAGS.format, "_colorized")
            photos.write_photo(path, rgb, image.alpha, FLAGS.format)
            if FLAGS.compare:
                gray = gray_version(image.rgb)
                row = [gray, rgb] + ([image.rgb] if image.has_colour else [])
                compare = photos.output_path(photo, output_dir, FLAGS.format, "_compare")
                photos.write_photo(compare, sheets.grid([row]), None, FLAGS.format)
            progress.advance()
    progress.close()
    return failures


def _report_error(message: str) -> None:
    print(f"colorize_jax.colorize: error: {message}", file=sys.stderr, flush=True)


def _load_colorizer():
    """The Colorizer of --workdir (JAX), or the onnxruntime one of --onnx (no JAX computation)."""
    if FLAGS.onnx:
        from colorize_jax import onnx_colorizer  # noqa: PLC0415 - it imports this module

        return onnx_colorizer.OnnxColorizer(FLAGS.onnx, render_size=FLAGS.render_size)
    enable_compilation_cache(FLAGS.compilation_cache_dir)
    return load_colorizer(
        FLAGS.workdir,
        step=FLAGS.step,
        checkpoint=FLAGS.checkpoint,
        render_size=FLAGS.render_size,
        overrides=dict(item.split("=", 1) for item in FLAGS.set),
    )


def main(argv: list[str]) -> None:
    specs = argv[1:]
    if not specs:
        raise app.UsageError("give at least one INPUT: image files, folders or glob patterns")
    if bool(FLAGS.workdir) == bool(FLAGS.onnx) or not FLAGS.output_dir:
        raise app.UsageError("--output_dir and one of --workdir or --onnx are required")
    if FLAGS.onnx and (FLAGS.set or FLAGS.step is not None):
        raise app.UsageError("--set and --step apply to --workdir; an ONNX model is fixed")
    reporting.quiet_library_logs()
    inputs, errors = photos.find_inputs(specs)
    for error in errors:
        _report_error(error)
    try:
        photos.check_output_dir(inputs, FLAGS.output_dir, allow_same_dir=FLAGS.allow_same_dir)
        start = time.perf_counter()
        colorizer = _load_colorizer()
    except (ValueError, FileNotFoundError) as error:
        raise SystemExit(f"colorize_jax.colorize: error: {str(error).splitlines()[0]}") from None
    logging.info(
        "model of %s at step %d, render size %d (stride %d), loaded in %.1f s",
        FLAGS.workdir or FLAGS.onnx,
        colorizer.step,
        colorizer.render_size,
        colorizer.stride,
        time.perf_counter() - start,
    )
    failures = run(colorizer, inputs, FLAGS.output_dir) + len(errors)
    done = len(inputs) - (failures - len(errors))
    print(f"colorized {done} images into {FLAGS.output_dir}; {failures} failed", file=sys.stderr)
    if failures:
        raise SystemExit(1)


if __name__ == "__main__":
    define_flags()
    app.run(main)
