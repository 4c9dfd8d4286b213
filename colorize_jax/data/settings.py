"""The data settings of a config: what the input pipeline reads.

Config fields read: ``config.data.*`` (each with its default and comment in
`presets.base_config`), ``config.seed`` (or ``config.data.shuffle_seed`` when set) for data
order and augmentation, and ``config.per_device_batch_size`` when `create_train_iterator` gets
no batch_size. The config is complete (`components.defaults.complete` fills the fields a config
file leaves out where the config enters): the fields are read as they are, with no defaults here.
`source` is "tfds:NAME[/CONFIG]", "folder:PATH" or "demo" (see sources); a folder without train/
and val/ holds out `val_fraction` (5%) of its files; `min_colorfulness` drops training photos
whose Hasler & Suesstrunk colourfulness (whole decoded photo, 0..255,
`colour.colorfulness.hasler`) is below it, as BigColor keeps photos of colourfulness >= 15 only;
evaluation keeps every photo.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from colorize_jax.data import sources


@dataclasses.dataclass(frozen=True)
class DataSettings:
    """The data fields of a config (see the module docstring and `presets.base_config`)."""

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
    val_fraction: float
    num_threads: int
    seed: int  # config.data.shuffle_seed, else config.seed

    @classmethod
    def from_config(cls, config: Any) -> DataSettings:
        """The settings of complete `config`; ValueError naming the fields it lacks."""
        data = config.data
        names = [field.name for field in dataclasses.fields(cls) if field.name != "seed"]
        missing = [f"config.data.{name}" for name in (*names, "shuffle_seed") if name not in data]
        if "seed" not in config:
            missing.append("config.seed")
        if missing:
            raise ValueError(
                f"the config lacks {', '.join(missing)}: complete it first with "
                "colorize_jax.components.defaults.complete (the commands do)"
            )
        seed = data.shuffle_seed if data.shuffle_seed is not None else config.seed
        return cls(**{name: data[name] for name in names}, seed=seed)

    def open(self, split: str) -> sources.FileSource | sources.MemorySource | sources.TfdsSource:
        return sources.open_source(
            self.source, split, tfds_data_dir=self.tfds_data_dir, val_fraction=self.val_fraction
        )
