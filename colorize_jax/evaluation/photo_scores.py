"""Scores a model on whole colour photos, at full resolution, through the real inference path.

Each colour photo is colorized from its own lightness by a function of (H, W, 3) uint8 RGB ->
(H, W, 3) uint8 RGB (in practice `full_resolution.Colorizer`: the network at its render size,
the colour upsampled and joined to the photo's full-resolution lightness) and compared with the
original by `metrics.image_metrics`, the metrics of the "pixel" evaluator (`metrics.KEYS`).
Photos differ in size, so each is scored on its own (a batch of one). Gray photos have no colour
truth: they are skipped and counted. The photo set is "skimage" (`SKIMAGE_PHOTOS`, shipped with
scikit-image) or the user's files: a file, a folder (searched recursively) or a glob pattern.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from absl import logging

from colorize_jax.data import decode
from colorize_jax.evaluation import metrics
from colorize_jax.inference import photo_files

SKIMAGE = "skimage"
# scikit-image's natural colour photographs, in the package's data folder (no download): a
# portrait, a cat, a cup of coffee, galaxies, a motorbike in a workshop, a rocket on its launch
# pad. Left out: motorcycle_right.png (the other view of motorcycle_left's stereo pair), the
# microscopy and medical images (ihc.png, retina.jpg), and synthetic or gray images.
SKIMAGE_PHOTOS = (
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "hubble_deep_field.jpg",
    "motorcycle_left.png",
    "rocket.jpg",
)
# A photo whose mean absolute difference between its colour channels is under this (0..255) has
# no colour to score against: it is skipped as gray.
GRAY_THRESHOLD = 2.0
RESULTS_FILE = "photos_metrics.json"


def skimage_photo_paths() -> list[str]:
    """Paths of `SKIMAGE_PHOTOS` in the installed scikit-image package."""
    import skimage.data

    folder = os.path.dirname(skimage.data.__file__)
    paths = [os.path.join(folder, name) for name in SKIMAGE_PHOTOS]
    missing = [os.path.basename(path) for path in paths if not os.path.isfile(path)]
    if missing:
        raise FileNotFoundError(f"scikit-image's data folder {folder} lacks {', '.join(missing)}")
    return paths


def find_photos(spec: str) -> list[tuple[str, str]]:
    """(name, path) of each photo of `spec`: "skimage", a file, a folder or a glob pattern.

    Names are file names (paths relative to the folder for a folder). Raises ValueError when
    `spec` names nothing, or a folder or pattern without images.
    """
    if not spec:
        raise ValueError("no photos given: pass --photos=skimage or a folder, file or glob")
    if spec == SKIMAGE:
        return [(os.path.basename(path), path) for path in skimage_photo_paths()]
    inputs, errors = photo_files.find_inputs([spec])
    if errors:
        raise ValueError(f"--photos={errors[0]}")
    root = spec if os.path.isdir(spec) else None
    return [
        (os.path.relpath(p.path, root) if root else os.path.basename(p.path), p.path)
        for p in inputs
    ]


def is_gray(rgb: np.ndarray) -> bool:
    """Whether uint8 RGB `rgb` has (almost) no colour: mean |channel difference| < 2."""
    channels = rgb.astype(np.int16)
    differences = [np.abs(channels[..., i] - channels[..., j]) for i, j in ((0, 1), (1, 2), (0, 2))]
    return float(np.mean(differences)) < GRAY_THRESHOLD


def _image_metrics():
    import jax

    return jax.jit(metrics.image_metrics)  # compiled once per photo size


def evaluate_photos(
    colorize: Callable[[np.ndarray], np.ndarray], spec: str, *, on_photo=None
) -> dict[str, Any]:
    """Colorizes every colour photo of `spec` with `colorize` and scores it against the original.

    Returns the mean of each metric over the photos, `colorfulness_gap` (|mean CF - mean CF
    truth|, as the quality table reports it), `num_images`, the skipped gray photos and the
    unreadable files (names and counts), the photo `names` and `per_photo` figures (a list, in
    the order of `names`, of {name, height, width, metric: value}). `on_photo(name, rgb,
    colorized)` is called for each scored photo. Raises ValueError without any colour photo.
    """
    found = find_photos(spec)
    image_metrics = _image_metrics()
    per_photo, gray, failed = [], [], []
    for name, path in found:
        try:
            photo = photo_files.read_photo(path)
        except decode.ImageDecodeError as error:
            logging.warning("skipping %s", error)
            failed.append(name)
            continue
        if not photo.has_colour or is_gray(photo.rgb):
            gray.append(name)
            continue
        colorized = np.asarray(colorize(photo.rgb))
        if colorized.shape != photo.rgb.shape:
            raise ValueError(f"{name}: colorized to {colorized.shape}, not {photo.rgb.shape}")
        figures = image_metrics(colorized[None], photo.rgb[None])
        height, width = photo.rgb.shape[:2]
        per_photo.append(
            {"name": name, "height": height, "width": width}
            | {key: float(figures[key][0]) for key in metrics.KEYS}
        )
        if on_photo is not None:
            on_photo(name, photo.rgb, colorized)
        logging.info("%s (%dx%d): PSNR %.2f", name, width, height, per_photo[-1]["psnr"])
    if not per_photo:
        raise ValueError(
            f"--photos={spec}: no colour photos to score ({len(gray)} gray skipped, "
            f"{len(failed)} unreadable)"
        )
    means = {key: float(np.mean([p[key] for p in per_photo])) for key in metrics.KEYS}
    return {
        **means,
        "colorfulness_gap": abs(means["colorfulness"] - means["colorfulness_gt"]),
        "num_images": len(per_photo),
        "num_skipped_gray": len(gray),
        "skipped_gray": gray,
        "num_failed": len(failed),
        "failed": failed,
        "names": [p["name"] for p in per_photo],
        "per_photo": per_photo,
        "photos": spec,
    }


def no_colour(rgb: np.ndarray) -> np.ndarray:
    """The "no colour" baseline: the photo's own lightness with ab = 0, as a Colorizer joins it."""
    from colorize_jax.inference import full_resolution

    return full_resolution.recombine(rgb, np.zeros((8, 8, 2), np.float32))


def config_overrides(
    saved: Mapping[str, Any], given: Mapping[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """The fields of plain config `given` whose values differ from `saved`'s, by dotted name.

    These are what `Colorizer(overrides=...)` must change in a workdir's saved config to decode
    as `given` does. Returns (overrides, fields of `given` that `saved` lacks).
    """
    overrides, unknown = {}, []

    def walk(prefix: str, old: Any, new: Any) -> None:
        if isinstance(new, Mapping):
            for key, value in new.items():
                name = f"{prefix}{key}"
                if not isinstance(old, Mapping) or key not in old:
                    unknown.append(name)
                else:
                    walk(name + ".", old[key], value)
        elif old != new:
            overrides[prefix[:-1]] = new

    walk("", saved, given)
    return overrides, unknown


def build_colorizer(
    workdir: str | None,
    *,
    model: str | None = None,
    config=None,
    overrides: Mapping[str, Any] | None = None,
    vivid: bool = False,
    step: int | None = None,
    checkpoint: str = "latest",
    render_size: int | None = None,
):
    """A `full_resolution.Colorizer` of `workdir`'s checkpoint, or of the shipped model `model` when
    `workdir` is None.

    `config` (None: the saved one) decodes as the split evaluation would: the fields in which it
    differs from the workdir's saved config become the Colorizer's overrides, as do
    `overrides` ({"decode_chroma_gain": 1.6}); `vivid` decodes with the config's vivid setting.
    """
    from colorize_jax.inference import restore
    from colorize_jax.inference.full_resolution import Colorizer
    from colorize_jax.models import shipped

    if model is not None:
        model = shipped.open_model(model)  # model.json read once, for both uses below
    changed = {}
    if config is not None:
        saved = (
            restore.load_config(workdir, None) if model is None else restore.shipped_config(model)
        )
        changed, unknown = config_overrides(restore.as_plain(saved), restore.as_plain(config))
        if unknown:
            logging.warning("fields the saved config lacks, ignored: %s", ", ".join(unknown))
    changed.update(overrides or {})
    return Colorizer(
        workdir,
        model=model,
        step=step,
        checkpoint=checkpoint,
        render_size=render_size,
        overrides=changed,
        vivid=vivid,
    )


def evaluate_model(workdir: str | None, spec: str, **kwargs: Any) -> dict[str, Any]:
    """`evaluate_photos` with the Colorizer `build_colorizer(workdir, **kwargs)` makes (model=,
    config=, overrides=, vivid=, step=, checkpoint=, render_size=).

    The results also hold the `step`, the `render_size` and the decode settings changed.
    """
    find_photos(spec)  # a bad spec fails before the model loads
    colorizer = build_colorizer(workdir, **kwargs)
    logging.info(
        "evaluating %s at step %d on the photos %s (render size %d)",
        colorizer.source,
        colorizer.step,
        spec,
        colorizer.render_size,
    )
    results = evaluate_photos(lambda rgb: colorizer.colorize_batch([rgb])[0], spec)
    decode = {"decode_chroma_gain": float(colorizer.config.decode_chroma_gain)}
    return results | {"step": colorizer.step, "render_size": colorizer.render_size, **decode}


def write_results(output_dir: str, results: Mapping[str, Any], name: str = RESULTS_FILE) -> str:
    """Writes `results` as OUTPUT_DIR/NAME (photos_metrics.json) atomically; returns its path."""
    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, name)
    with open(path + ".partial", "w") as f:
        f.write(json.dumps(results, indent=2, sort_keys=True) + "\n")
    os.replace(path + ".partial", path)
    return path
