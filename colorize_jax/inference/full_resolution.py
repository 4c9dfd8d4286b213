"""Full-resolution colorization with a trained generator: the Colorizer and its pure helpers.

The network sees a copy of each photo whose shorter side is the render size (a multiple of the
network's stride); the predicted colour is upsampled to the photo's resolution and recombined
with its own lightness (`recombine`). The prediction is `predict.predict`, the one evaluation
uses too; `predict_ab` only turns it into CIELAB (a, b). The command line is
`colorize_jax.colorize`; the ONNX counterpart, with the same interface, is
`onnx_colorizer.OnnxColorizer`.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import functools
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from etils import epath
from PIL import Image

from colorize_jax.colour import colorspace
from colorize_jax.data import decode
from colorize_jax.inference import predict, restore
from colorize_jax.models import shipped
from colorize_jax.objectives import heads
from colorize_jax.runtime import sharding

DEFAULT_CACHE_DIR = os.path.join(os.path.expanduser("~"), ".cache", "colorize_jax", "xla")


class Colorizer:
    """A trained model, from a workdir or shipped in the package, colorizing uint8 images.

    Args:
      workdir: a training directory (checkpoints/ and config.json); or None with `model`.
      model: the name of a shipped model (`models.shipped.names()`) instead of a workdir, or
        one opened from another folder (`shipped.open_model(name, root)`);
        `Colorizer.pretrained()` takes the default one.
      step: the checkpoint step; None: `checkpoint`'s choice (workdirs only).
      checkpoint: "best" (by the config's best_metric; the latest if none was evaluated) or
        "latest".
      render_size: shorter side, in pixels, at which the network sees the image; None: the
        config's `render_size`, else its training image size. Rounded to a multiple of the
        network's stride.
      overrides: config fields to change before building the model, {"classify.temperature":
        0.5}; they must not change the parameters' shapes.
      vivid: decode with the config's `vivid_chroma_gain` (its more colourful setting) unless
        the overrides set `decode_chroma_gain`.
    """

    def __init__(
        self,
        workdir: str | None = None,
        *,
        model: str | shipped.ShippedModel | None = None,
        step: int | None = None,
        checkpoint: str = "best",
        render_size: int | None = None,
        overrides: Mapping[str, Any] | None = None,
        vivid: bool = False,
    ):
        if (workdir is None) == (model is None):
            raise ValueError("give a Colorizer one of workdir or model (a shipped model's name)")
        if isinstance(model, str):
            model = shipped.open_model(model)
        config = (
            restore.load_config(workdir, None) if model is None else restore.shipped_config(model)
        )
        overrides = dict(overrides or {})
        if vivid:
            overrides.setdefault("decode_chroma_gain", config.vivid_chroma_gain)
        for key, value in overrides.items():
            set_config_field(config, key, value)
        self.config = config
        self.source = workdir if model is None else f"shipped model {model.name}"
        if model is None:
            mesh = sharding.create_mesh(jax.local_devices()[:1])
            self.network, self.step = restore.restore_generator(
                config, workdir, mesh, step=step, which=checkpoint
            )
        else:
            self.network, self.step = restore.shipped_generator(config, model)
        self.head = self.network.head
        self.stride = self.network.model.stride  # inputs are padded to it; a multiple avoids it
        default_size = config.render_size or config.data.image_size
        self.render_size = round_render_size(render_size or default_size, self.stride)
        self._predict = jax.jit(functools.partial(predict_ab, head=self.head))

    @classmethod
    def pretrained(cls, name: str = shipped.DEFAULT_MODEL, **kwargs: Any) -> Colorizer:
        """The Colorizer of shipped model `name` (render_size=, overrides=, vivid= as above)."""
        return cls(model=name, **kwargs)

    def render_shape(self, height: int, width: int) -> tuple[int, int]:
        """(height, width) of the network's copy of an image: shorter side = render_size."""
        return render_shape(self.render_size, self.stride, height, width)

    def with_settings(
        self,
        *,
        render_size: int | None = None,
        chroma_gain: float | None = None,
        temperature: float | None = None,
    ) -> Colorizer:
        """This model with other inference settings, sharing its weights (nothing is reloaded).

        The same colours as a Colorizer built with `render_size=` and the overrides
        `decode_chroma_gain` and `classify.temperature`. None keeps a setting; `temperature`
        needs a classification head (ValueError otherwise), values must be positive.
        """
        head = self.head
        updates = {"decode_chroma_gain": chroma_gain, "classify.temperature": temperature}
        for key, value in updates.items():
            if value is not None and not value > 0:
                raise ValueError(f"{key} must be positive, got {value}")
        if chroma_gain is not None:
            head = dataclasses.replace(head, chroma_gain=float(chroma_gain))
        if temperature is not None:
            if not head.classify:
                raise ValueError(f"{self.source} has no classification head: no temperature")
            head = dataclasses.replace(head, temperature=float(temperature))
        variant = copy.copy(self)
        variant.config = self.config.copy_and_resolve_references()
        for key, value in updates.items():
            if value is not None:
                set_config_field(variant.config, key, float(value))
        if render_size is not None:
            variant.render_size = round_render_size(render_size, self.stride)
        if head != self.head:
            variant.head = head
            variant.network = self.network.replace(head=head)
            variant._predict = jax.jit(functools.partial(predict_ab, head=head))
        return variant

    def colorize(self, image: np.ndarray) -> np.ndarray:
        """Colorizes one gray (H, W) / (H, W, 1) or RGB (H, W, 3) uint8 image -> (H, W, 3) uint8.

        An RGB image is recolorized from its own lightness, which the result keeps.
        """
        rgb = decode.decode_image(np.asarray(image), name="the image")
        return self.colorize_batch([rgb])[0]

    def colorize_batch(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Colorizes (H, W, 3) uint8 RGB images of any sizes; batches those of one render shape."""
        return colorize_by_render_shape(images, self.render_shape, self.predict_ab)

    def predict_ab(self, images: np.ndarray) -> np.ndarray:
        """The predicted CIELAB (a, b) (ab units) of a uint8 RGB batch (B, H, W, 3), at its
        size (sides best multiples of `stride`): what `colorize_batch` recombines."""
        return np.asarray(self._predict(self.network, images=jnp.asarray(images)))


def predict_ab(network: predict.Network, images: jax.Array, *, head: heads.Head) -> jax.Array:
    """The CIELAB (a, b) (ab units) of `predict.predict`'s colour for uint8 RGB `images`."""
    inputs, predictions = predict.predict(network, head, images)
    return target_ab(inputs, predictions, head.space)


def colorize_by_render_shape(
    images: Sequence[np.ndarray],
    render_shape: Callable[[int, int], tuple[int, int]],
    predict_ab: Callable[[np.ndarray], np.ndarray],
) -> list[np.ndarray]:
    """Colorizes uint8 RGB `images` of any sizes, each recombined with its own lightness.

    Images of one `render_shape(height, width)` are resized to it and go through `predict_ab`
    (a uint8 batch -> its CIELAB (a, b) at that shape) together; the Colorizer and the ONNX
    colorizer differ only in `predict_ab`.
    """
    results: list[np.ndarray | None] = [None] * len(images)
    groups = collections.defaultdict(list)
    for index, rgb in enumerate(images):
        groups[render_shape(*rgb.shape[:2])].append(index)
    for shape, indices in groups.items():
        small = np.stack([resize_rgb(images[i], shape) for i in indices])
        for i, ab_small in zip(indices, predict_ab(small), strict=True):
            results[i] = recombine(images[i], ab_small)
    return results


def load_colorizer(workdir: str | None = None, **kwargs: Any) -> Colorizer:
    """`Colorizer(workdir, **kwargs)`, its problems as one-line errors naming the fix.

    FileNotFoundError: no config.json, no checkpoint (or not that --step); ValueError: a
    checkpoint whose files do not restore (truncated, corrupt, or of another model config), an
    unknown shipped `model=` or damaged shipped files.
    """
    if workdir is not None:
        config_path = epath.Path(workdir) / restore.CONFIG_FILE
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
    return join_lightness(rgb, upsample_ab(ab_small, *rgb.shape[:2]))


def upsample_ab(ab_small: np.ndarray, height: int, width: int) -> np.ndarray:
    """CIELAB (a, b) (h, w, 2) resized to (height, width, 2) float32, bicubic."""
    if ab_small.shape[:2] == (height, width):
        return np.asarray(ab_small, np.float32)
    channels = [
        np.asarray(
            Image.fromarray(np.asarray(ab_small[..., c], np.float32)).resize(
                (width, height), Image.BICUBIC
            )
        )
        for c in range(2)
    ]
    return np.stack(channels, axis=-1).astype(np.float32)


def join_lightness(rgb: Any, ab: Any) -> Any:
    """uint8 RGB `rgb`'s CIELAB lightness with the chroma `ab` of its size -> uint8 RGB whose
    lightness is kept (chroma shrunk into the gamut). NumPy in, NumPy out; jittable."""
    xp = jnp if isinstance(rgb, jax.Array) else np
    lightness = colorspace.rgb_to_lab(rgb.astype(xp.float32) / 255.0)[..., :1]
    lab = xp.concatenate([lightness, xp.asarray(ab, xp.float32)], axis=-1)
    return colorspace.to_uint8(colorspace.lab_to_rgb_keep_lightness(lab))


def gray_version(rgb: np.ndarray) -> np.ndarray:
    """The uint8 RGB gray image of the same CIELAB lightness as `rgb` (what the model sees)."""
    lab = colorspace.rgb_to_lab(rgb.astype(np.float32) / 255.0)
    return colorspace.to_uint8(colorspace.lab_to_rgb(lab * np.float32([1, 0, 0])))


def resize_rgb(rgb: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """uint8 RGB `rgb` resized to `shape` (height, width), bicubic: the network's copy."""
    if rgb.shape[:2] == shape:
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((shape[1], shape[0]), Image.BICUBIC))


def set_config_field(config, key: str, value: Any) -> None:
    """Sets the dotted `key` of `config` to `value` with ConfigDict's typed update; a string
    value is first parsed as the field's current type ("0.5", "true")."""
    node = config
    for part in key.split("."):
        if not hasattr(node, "keys") or part not in node:
            raise ValueError(f"unknown config field {key!r}")
        node = node[part]
    if isinstance(value, str) and isinstance(node, bool):
        value = value.lower() in ("1", "true", "yes")
    elif isinstance(value, str) and isinstance(node, int | float):
        value = type(node)(value)
    config.update_from_flattened_dict({key: value})


def enable_compilation_cache(cache_dir: str) -> None:
    """Persists XLA compilations under `cache_dir`, so a second run does not recompile."""
    if not cache_dir:
        return
    os.makedirs(cache_dir, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", cache_dir)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
