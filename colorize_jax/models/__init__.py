"""Colorization networks, looked up by `config.model.name`.

Adding a model: write one module defining a Flax Linen class whose constructor takes
`num_outputs` plus its own hyper-parameters and whose `__call__(x, *, train)` maps an NHWC
lightness batch to NHWC predictions; then add one line to `MODELS`.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

import flax.linen as nn

from colorize_jax.models import unet

MODELS: dict[str, type[nn.Module]] = {
    "unet": unet.UNet,
}


def create_model(model_config: Mapping[str, Any], num_outputs: int) -> nn.Module:
    """Builds the network named by `model_config["name"]` with the remaining fields as kwargs."""
    kwargs = dict(model_config)
    name = kwargs.pop("name")
    if name not in MODELS:
        close = difflib.get_close_matches(name, MODELS, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ValueError(f"unknown model {name!r}{hint}; registered: {', '.join(sorted(MODELS))}")
    return MODELS[name](num_outputs=num_outputs, **kwargs)
