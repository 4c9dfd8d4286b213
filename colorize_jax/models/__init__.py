"""Colorization networks, looked up by `config.model.name`.

Adding a model: write one module defining a Flax Linen class whose constructor takes
`num_outputs` plus its own hyper-parameters and whose `__call__(x, *, train)` maps an NHWC
lightness batch to NHWC predictions of the same size (padding inputs to a multiple of its
`stride` property, which inference uses to pick sizes); then add one line to `MODELS`. A model
that can start from pretrained weights also gets a line in `PRETRAINED_LOADERS`, read when its
`init_from` is set.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from colorize_jax import lookup
from colorize_jax.models import (
    efficientnet_weights,
    effnet_unet,
    encoder_decoder,
    patchgan,
    resnet_unet,
    shipped,
    torchvision_weights,
    unet,
)

MODELS: dict[str, type[nn.Module]] = {
    "unet": unet.UNet,
    "encoder_decoder": encoder_decoder.EncoderDecoder,
    "resnet_unet": resnet_unet.ResNetUNet,
    "effnet_unet": effnet_unet.EffNetUNet,
    "patchgan": patchgan.PatchGAN,  # a discriminator: config.discriminator.model
}

# Model name -> pure function (variables, path) -> variables with pretrained weights loaded.
PRETRAINED_LOADERS: dict[str, Callable[[dict, str], dict]] = {
    "resnet_unet": torchvision_weights.load_pretrained,
    "effnet_unet": efficientnet_weights.load_pretrained,
}


def create_model(model_config: Mapping[str, Any], num_outputs: int) -> nn.Module:
    """Builds the network named by `model_config["name"]` with the remaining fields as kwargs."""
    kwargs = dict(model_config)
    name = kwargs.pop("name")
    if name not in MODELS:
        raise ValueError(
            f"unknown model {name!r}{lookup.did_you_mean(name, MODELS)}; "
            f"registered: {', '.join(sorted(MODELS))}"
        )
    model_class = MODELS[name]
    fields = {f.name for f in dataclasses.fields(model_class)} - {"parent", "name"}
    if "init_from" not in fields:  # weights to load, not a field of the network (any model can
        kwargs.pop("init_from", None)  # start from a shipped one: load_pretrained_if_configured)
    unknown = sorted(set(kwargs) - fields)
    if unknown:
        raise ValueError(
            f"config.model has fields that model {name!r} does not take: {', '.join(unknown)}; "
            f"its fields: {', '.join(sorted(fields - {'num_outputs'}))}"
        )
    return model_class(num_outputs=num_outputs, **kwargs)


def load_pretrained_if_configured(model_config: Mapping[str, Any], variables: dict) -> dict:
    """`variables` with the weights of `model_config["init_from"]` loaded, if that is set.

    `init_from` may also name a shipped model (`shipped.names()`): all its variables are loaded,
    so the config must build the same network. Returns `variables` unchanged when the config
    has no (or an empty) `init_from`. Pure, so it
    can run on initialized variables or inside a jitted initializer (where the weights become
    constants of the compiled function).
    """
    path = model_config.get("init_from") or ""
    if not path:
        return variables
    if shipped.is_shipped_name(path):  # a whole shipped generator: fine-tuning it
        return shipped.load_into(variables, path)
    name = model_config["name"]
    if name not in PRETRAINED_LOADERS:
        raise ValueError(f"model {name!r} cannot load pretrained weights (init_from={path!r})")
    return PRETRAINED_LOADERS[name](variables, path)


def init_variables(model: nn.Module, rng: jax.Array, input_shape: tuple[int, ...]) -> dict:
    """Initializes `model` for NHWC inputs of `input_shape` (float32) and returns its variables."""
    return compile_init(
        lambda key: model.init(
            {"params": key, "dropout": key}, jnp.zeros(input_shape, jnp.float32)
        ),
        rng,
    )(rng)


def compile_init(init_fn, *example_args, out_shardings=None):
    """jit-compiles an initializer; on CPU with XLA's backend optimizations off.

    Initializers run once but are full of random-number code that XLA's CPU backend spends many
    seconds optimizing (10 s for a small U-Net); unoptimized, the same code compiles in a quarter
    of the time and still runs in well under a second.
    """
    jitted = jax.jit(init_fn, out_shardings=out_shardings)
    options = {"xla_backend_optimization_level": 0} if jax.default_backend() == "cpu" else None
    return jitted.lower(*example_args).compile(compiler_options=options)
