"""Input pipeline: image sources, decoding, augmentation and grain iterators.

See `pipeline` for the batch format and the config fields, `sources` for the source strings.
"""

from colorize_jax.data.decode import ImageDecodeError, decode_image, open_rgb
from colorize_jax.data.pipeline import EvalDataset, create_eval_dataset, create_train_iterator
from colorize_jax.data.settings import DataSettings
from colorize_jax.data.sources import DataSourceError, open_source
from colorize_jax.data.unreadable import TooManyUnreadableError

__all__ = [
    "DataSettings",
    "DataSourceError",
    "EvalDataset",
    "ImageDecodeError",
    "TooManyUnreadableError",
    "create_eval_dataset",
    "create_train_iterator",
    "decode_image",
    "open_rgb",
    "open_source",
]
