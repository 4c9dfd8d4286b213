"""Image sources named by one string: "tfds:NAME[/CONFIG]", "folder:PATH", "demo" or a mixture.

`open_source(spec, split)` returns a random-access source (``len`` and integer indexing, as
grain's `MapDataset.source` expects) whose records are dicts
``{"image": <encoded bytes, file path, uint8 array or PIL image>, "name": <str>}``;
`decode.open_rgb` turns any of those payloads into pixels.

- ``tfds:NAME[/CONFIG][:VERSION]``: a TFDS dataset already prepared in the array_record format,
  read with `tfds.data_source` (random access, no TensorFlow). Images stay encoded (TFDS's
  ``SkipDecoding``) so that the pipeline can decode them at reduced size. Nothing is downloaded.
  `split` is a TFDS split, slicing included ("train", "train[:90%]").
- ``folder:PATH``: every JPEG/PNG/WebP/BMP/TIFF file (extensions in any case) under PATH,
  recursively, in sorted order; hidden files and folders (starting with ".") are ignored. When
  PATH has split subfolders, split "train" reads ``train/``, "validation" or "val" reads ``val/``
  or ``validation/`` and any other split the subfolder of that name. Without any, the files are
  split by a stable hash of their relative path: a share `val_fraction` (at least one image when
  there are two or more) forms "validation"/"val"/"test", the rest "train". The split of a file
  never changes when files are added or removed.
- ``demo``: nine colour photographs shipped inside scikit-image's wheel (works offline), decoded
  once into memory. Every split holds all nine: a smoke-test source (training sees random
  crops, evaluation centre crops), not a benchmark of generalisation.
- ``SOURCE[@WEIGHT]+SOURCE[@WEIGHT]+...``: a mixture of the sources above, each "@WEIGHT" the
  part's share of the training examples per epoch (parts without one share the rest equally;
  none: plain concatenation); held-out splits are the concatenation of the parts' held-out
  splits, in order. E.g. ``folder:photos+folder:bsds500_train@0.15`` (see `mixture`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from PIL import Image

from colorize_jax.data.decode import open_rgb

if TYPE_CHECKING:
    from colorize_jax.data.mixture import MixtureSource

SOURCE_FORMS = ("tfds:NAME[/CONFIG]", "folder:PATH", "demo", "SOURCE[@WEIGHT]+SOURCE[@WEIGHT]...")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
DEMO_IMAGES = (
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "hubble_deep_field.jpg",
    "ihc.png",
    "motorcycle_left.png",
    "motorcycle_right.png",
    "retina.jpg",
    "rocket.jpg",
)
HELD_OUT_SPLITS = ("validation", "val", "test")
_SPLIT_FOLDERS = {"validation": ("val", "validation"), "val": ("val", "validation")}
_KNOWN_SPLIT_FOLDERS = ("train", "val", "validation", "test")


class DataSourceError(ValueError):
    """A data source that cannot be used: unknown form, missing, empty or not prepared."""


class FileSource:
    """Random-access records of image files given by their paths."""

    def __init__(self, paths: Sequence[str], description: str):
        self.paths = list(paths)
        self.description = description

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, Any]:
        path = self.paths[index]
        return {"image": path, "name": path}

    def __repr__(self) -> str:
        return f"FileSource({self.description}, {len(self.paths)} images)"


class MemorySource:
    """Random-access records of images held decoded in memory (RGB PIL images)."""

    def __init__(self, images: Sequence[Image.Image], names: Sequence[str], description: str):
        self.images = list(images)
        self.names = list(names)
        self.description = description

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"image": self.images[index], "name": self.names[index]}

    def __repr__(self) -> str:
        return f"MemorySource({self.description}, {len(self.images)} images)"


class TfdsSource:
    """Random-access records of a TFDS data source with still-encoded "image" features."""

    def __init__(self, source: Sequence[dict[str, Any]], description: str):
        self.source = source
        self.description = description

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"image": self.source[index]["image"], "name": f"{self.description}#{index}"}

    def __repr__(self) -> str:
        return f"TfdsSource({self.description}, {len(self.source)} images)"


def parse_source(spec: str) -> tuple[str, str]:
    """Splits one source string into (kind, argument); kind is "tfds", "folder" or "demo".

    A mixture "A+B@W" is first cut into its parts by `mixture.parse_mixture`.
    """
    kind, sep, argument = spec.partition(":")
    if spec == "demo":
        return "demo", ""
    if sep and kind in ("tfds", "folder") and argument:
        return kind, argument
    raise DataSourceError(f"unknown data source {spec!r}: use one of {', '.join(SOURCE_FORMS)}")


def open_source(
    spec: str, split: str, *, tfds_data_dir: str | None = None, val_fraction: float = 0.05
) -> FileSource | MemorySource | TfdsSource | MixtureSource:
    """Opens split `split` of the source or mixture `spec` (see the module docstring).

    Returns a `FileSource`, `MemorySource`, `TfdsSource` or, for a mixture of several sources,
    a `mixture.MixtureSource`.

    Raises:
      DataSourceError: unknown form, missing path, no images, TFDS dataset not prepared, bad
        mixture weights.
    """
    if "+" in spec or "@" in spec:
        from colorize_jax.data import mixture  # Imported here: mixture builds on this module.

        return mixture.open_mixture(
            spec, split, tfds_data_dir=tfds_data_dir, val_fraction=val_fraction
        )
    return open_single(spec, split, tfds_data_dir=tfds_data_dir, val_fraction=val_fraction)


def open_single(
    spec: str, split: str, *, tfds_data_dir: str | None = None, val_fraction: float = 0.05
) -> FileSource | MemorySource | TfdsSource:
    """Opens split `split` of one source `spec`, "tfds:...", "folder:..." or "demo"."""
    kind, argument = parse_source(spec)
    if kind == "tfds":
        return open_tfds(argument, split, data_dir=tfds_data_dir)
    if kind == "folder":
        paths = folder_split_files(argument, split, val_fraction=val_fraction)
        return FileSource(paths, f"folder:{argument}[{split}]")
    paths = demo_files()
    # Nine photos: decoding them once here instead of for every crop makes the demo ~4x faster.
    images = [open_rgb(path) for path in paths]
    return MemorySource(images, paths, f"demo[{split}]")


def demo_files() -> list[str]:
    """Paths of the demo photographs inside the installed scikit-image package."""
    import skimage.data  # Only the demo source needs scikit-image.

    folder = os.path.dirname(skimage.data.__file__)
    paths = [os.path.join(folder, name) for name in DEMO_IMAGES]
    missing = [path for path in paths if not os.path.isfile(path)]
    if missing:
        raise DataSourceError(f"demo images missing from the scikit-image install: {missing}")
    return paths


def list_images(root: str, extensions: tuple[str, ...] = IMAGE_EXTENSIONS) -> list[str]:
    """Image files (`extensions`, lower case) under `root` (recursive, sorted by relative path,
    hidden entries skipped)."""
    found = []
    for folder, subfolders, files in os.walk(root, followlinks=True):
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        found += [
            os.path.join(folder, name)
            for name in files
            if not name.startswith(".") and name.lower().endswith(extensions)
        ]
    return sorted(found, key=lambda path: os.path.relpath(path, root))


def held_out_score(relative_path: str) -> float:
    """A stable pseudo-random number in [0, 1) from a file's relative path (any OS)."""
    key = relative_path.replace(os.sep, "/").encode("utf-8")
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") / 2.0**64


def folder_split_files(path: str, split: str, *, val_fraction: float = 0.05) -> list[str]:
    """Image paths of split `split` of a folder source (see the module docstring)."""
    root = os.path.expanduser(path)
    if not os.path.exists(root):
        raise DataSourceError(f"folder source {path!r} does not exist")
    if not os.path.isdir(root):
        raise DataSourceError(f"folder source {path!r} is not a directory")
    present = [name for name in _KNOWN_SPLIT_FOLDERS if os.path.isdir(os.path.join(root, name))]
    if present:
        wanted = _SPLIT_FOLDERS.get(split, (split,))
        folder = next((name for name in wanted if name in present), None)
        if folder is None:
            raise DataSourceError(
                f"folder source {path!r} has split subfolders {present} but none for split "
                f"{split!r} (looked for {'/, '.join(wanted)}/)"
            )
        files = list_images(os.path.join(root, folder))
        _require_images(files, os.path.join(path, folder))
        return files
    files = list_images(root)
    _require_images(files, path)
    if split != "train" and split not in HELD_OUT_SPLITS:
        raise DataSourceError(
            f"folder source {path!r} has no split subfolders, so split {split!r} is not "
            f"defined: use 'train' or one of {HELD_OUT_SPLITS}"
        )
    scores = [held_out_score(os.path.relpath(file, root)) for file in files]
    held_out = {i for i, score in enumerate(scores) if score < val_fraction}
    if not held_out and len(files) >= 2:
        held_out = {min(range(len(files)), key=scores.__getitem__)}
    keep = (lambda i: i in held_out) if split in HELD_OUT_SPLITS else (lambda i: i not in held_out)
    return [file for i, file in enumerate(files) if keep(i)]


def _require_images(files: list[str], path: str) -> None:
    if not files:
        raise DataSourceError(
            f"no images found in folder {path!r} (looked for {', '.join(IMAGE_EXTENSIONS)}, "
            "any case, recursively)"
        )


def open_tfds(name: str, split: str, *, data_dir: str | None = None) -> TfdsSource:
    """Opens a prepared TFDS dataset for random access, without downloading anything."""
    # Imported here: tensorflow_datasets is slow to import and only this source needs it.
    import tensorflow_datasets as tfds

    shown_dir = data_dir or os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets"
    fix = (
        "nothing is downloaded at run time: on a machine with internet access (and tensorflow, "
        f"which building TFDS's catalog datasets needs) run `tfds build {name} "
        f"--file_format=array_record --data_dir=DIR`, then copy DIR to {shown_dir} or point "
        "config.data.tfds_data_dir at it"
    )
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except (ValueError, OSError) as e:  # DatasetNotFoundError is a ValueError.
        first_line = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DataSourceError(
            f"TFDS dataset {name!r} is not prepared in data_dir {shown_dir} ({first_line}): {fix}"
        ) from e
    if not builder.is_prepared():
        raise DataSourceError(
            f"TFDS dataset {name!r} is not prepared in data_dir {shown_dir}: {fix}"
        )
    file_format = builder.info.file_format
    if (
        file_format is not None
        and file_format not in tfds.core.file_adapters.FileFormat.with_random_access()
    ):
        raise DataSourceError(
            f"TFDS dataset {name!r} in {shown_dir} is stored as {file_format.value}, which has no "
            f"random access: {fix}"
        )
    if "image" not in builder.info.features:
        raise DataSourceError(f"TFDS dataset {name!r} has no 'image' feature")
    available = list(builder.info.splits.keys())
    if split.split("[")[0] not in available:
        raise DataSourceError(f"TFDS dataset {name!r} has no split {split!r}; it has {available}")
    source = tfds.data_source(
        name,
        split=split,
        data_dir=data_dir,
        download=False,
        decoders={"image": tfds.decode.SkipDecoding()},
    )
    return TfdsSource(source, f"tfds:{name}[{split}]")
