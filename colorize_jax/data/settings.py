"""The data settings of a config: what the input pipeline reads, with its defaults filled in.

Config fields read: ``config.data.*`` (each with its default and comment in
`presets.base_config`, which fills the fields a config leaves out), ``config.seed`` (or
``config.data.shuffle_seed`` when set) for data order and augmentation, and
``config.per_device_batch_size`` when `create_train_iterator` gets no batch_size. `source` is
"tfds:NAME[/CONFIG]", "folder:PATH" or "demo" (see sources); a folder without train/ and val/
holds out `val_fraction` (5%) of its files; `min_colorfulness` drops training photos whose Hasler
& Suesstrunk colourfulness (whole decoded photo, 0..255, `colour.colorfulness.hasler`) is below
it, as BigColor keeps photos of colourfulness >= 15 only; evaluation keeps every photo.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from colorize_jax import presets
from colorize_jax.data import sources


@dataclasses.dataclass(frozen=True)
class DataSettings:
    """The data fields of a config (see the module docstring). Their defaults are those of
    `presets.base_config().data`, the one place they live; `from_config` fills them in."""

    source: str
    image_size: int
    train_split: str
    eval_split: str
    tfds_data_dir: str | None
    min_crop_scale: float
    flip: bool
    max_rotation: float
    min_colorfulness: float
    max_eval_examples: int
    num_workers: int
    prefetch_buffer_size: int
    val_fraction: float = 0.05  # a folder without train/ and val/: share held out
    num_threads: int = 4  # grain's decoding threads per worker
    seed: int = 0

    @classmethod
    def from_config(cls, config: Any) -> DataSettings:
        data, defaults = config.data, presets.base_config().data
        missing = [name for name in ("source", "image_size") if data.get(name) is None]
        if missing:
            raise ValueError(f"config.data needs {', '.join(missing)}")
        values = {}
        for field in dataclasses.fields(cls):
            if field.name == "seed":
                continue
            if data.get(field.name) is not None:
                values[field.name] = data.get(field.name)
            elif field.name in defaults:
                values[field.name] = defaults[field.name]
        shuffle_seed = data.get("shuffle_seed")
        values["seed"] = shuffle_seed if shuffle_seed is not None else config.get("seed", 0)
        return cls(**values)

    def open(self, split: str) -> sources.FileSource | sources.MemorySource | sources.TfdsSource:
        return sources.open_source(
            self.source, split, tfds_data_dir=self.tfds_data_dir, val_fraction=self.val_fraction
        )
