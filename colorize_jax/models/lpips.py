"""LPIPS (Zhang et al. 2018) and the channel-normalized feature distance it is built on.

The distance between two images at one layer of a frozen network: each feature vector (one per
spatial position) is unit-normalized over its channels, the two are subtracted, squared, summed
over the channels (LPIPS: weighted by its learned non-negative linear head first) and averaged
over the positions. LPIPS sums that over the five ReLU layers of AlexNet or VGG16
(`models.vgg`); the `perceptual` loss term (`losses`) weights chosen layers of VGG16, AlexNet
or EfficientNet-Lite0 (`models.imagenet_classifier`) itself.

`lpips` follows the published definition and the `lpips` package's defaults (v0.1 heads,
inputs mapped to [-1, 1] then through its ScalingLayer, `normalize` epsilon 1e-10). Images
smaller than `MIN_SIZE` on a side are first upsampled (bilinear) to it, both alike: AlexNet's
fifth layer needs more than 32 px.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from colorize_jax.models import imagenet_classifier, vgg

LPIPS_NETWORKS = {"alex": "alexnet", "vgg": "vgg16"}  # metric name suffix -> network
FEATURE_NETWORKS = (*vgg.NETWORKS, "efficientnet_lite0")
NUM_LAYERS = 5
MIN_SIZE = 64
EPSILON = 1e-10


def normalize_channels(features: jax.Array) -> jax.Array:
    """Each feature vector divided by its Euclidean norm over the channels (plus 1e-10)."""
    norm = jnp.sqrt(jnp.sum(jnp.square(features), axis=-1, keepdims=True))
    return features / (norm + EPSILON)


def layer_distance(
    features_a: jax.Array, features_b: jax.Array, channel_weights: jax.Array | None = None
) -> jax.Array:
    """Per image (B,): the spatial mean of the squared difference of the channel-normalized
    (B, H, W, C) features, summed over the channels (weighted by `channel_weights` (C,))."""
    squared = jnp.square(normalize_channels(features_a) - normalize_channels(features_b))
    if channel_weights is None:
        per_position = jnp.sum(squared, axis=-1)
    else:
        per_position = jnp.einsum("bhwc,c->bhw", squared, jnp.asarray(channel_weights))
    return jnp.mean(per_position, axis=(1, 2))


def check_network(network: str) -> None:
    if network not in FEATURE_NETWORKS:
        raise ValueError(
            f"unknown feature network {network!r}: use one of {', '.join(FEATURE_NETWORKS)}"
        )


def check_settings(
    network: str,
    layers: Sequence[int] = (1, 2, 3, 4, 5),
    layer_weights: Sequence[float] | None = None,
    lpips_heads: bool = False,
) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """(layers, one weight per layer) of valid feature-distance settings; else ValueError."""
    check_network(network)
    layers = tuple(int(layer) for layer in layers)
    weights = tuple(layer_weights) if layer_weights else (1.0,) * len(layers)
    if not layers or len(weights) != len(layers) or not all(1 <= i <= NUM_LAYERS for i in layers):
        raise ValueError(
            f"layers {layers} must be 1..{NUM_LAYERS}, one weight each (got {len(weights)})"
        )
    if lpips_heads and network not in vgg.NETWORKS:
        raise ValueError(f"LPIPS's linear heads exist for {', '.join(vgg.NETWORKS)} only")
    return layers, weights


def feature_maps(network: str, rgb: jax.Array, num_layers: int = NUM_LAYERS) -> list[jax.Array]:
    """The first `num_layers` of the frozen `network`'s five feature maps of RGB in [0, 1]."""
    check_network(network)
    if network == "efficientnet_lite0":
        return imagenet_classifier.feature_maps(rgb, num_layers)
    return vgg.features(network, rgb, num_layers)


def feature_distance(
    pred_rgb: jax.Array,
    truth_rgb: jax.Array,
    *,
    network: str,
    layers: Sequence[int] = (1, 2, 3, 4, 5),
    layer_weights: Sequence[float] | None = None,
    lpips_heads: bool = False,
) -> jax.Array:
    """Per image (B,): sum over `layers` (1-based, of 5) of weight x `layer_distance`.

    `pred_rgb`, `truth_rgb`: (B, H, W, 3) RGB in [0, 1]. `layer_weights` None or empty weighs
    each layer 1; `lpips_heads` weighs the channels by LPIPS's learned heads (vgg16, alexnet).
    A gradient flows into `pred_rgb` only: the truth's features are computed without one.
    """
    layers, weights = check_settings(network, layers, layer_weights, lpips_heads)
    depth = max(layers)
    pred_features = feature_maps(network, pred_rgb, depth)
    truth_features = feature_maps(network, jax.lax.stop_gradient(truth_rgb), depth)
    heads = vgg.load(network)[1] if lpips_heads else (None,) * NUM_LAYERS
    total = jnp.zeros(pred_rgb.shape[:1], jnp.float32)
    for layer, weight in zip(layers, weights, strict=True):
        distance = layer_distance(
            pred_features[layer - 1],
            jax.lax.stop_gradient(truth_features[layer - 1]),
            heads[layer - 1],
        )
        total = total + float(weight) * distance
    return total


def upsample_to(rgb: jax.Array, min_size: int) -> jax.Array:
    """`rgb` (B, H, W, C) resized (bilinear) so that its shorter side is at least `min_size`."""
    height, width = rgb.shape[1:3]
    if min(height, width) >= min_size:
        return rgb
    scale = min_size / min(height, width)
    shape = (rgb.shape[0], round(height * scale), round(width * scale), rgb.shape[3])
    return jax.image.resize(rgb, shape, "bilinear")


def lpips(pred: jax.Array, truth: jax.Array, network: str = "alexnet") -> jax.Array:
    """LPIPS per image (B,) between RGB batches of 0..255 values (as `metrics`' inputs).

    `network` "alexnet" (LPIPS's default, "lpips_alex") or "vgg16" ("lpips_vgg"). 0 for
    identical images; symmetric; about 0.1-0.7 for visibly different ones.
    """
    pred = upsample_to(jnp.asarray(pred).astype(jnp.float32) / 255.0, MIN_SIZE)
    truth = upsample_to(jnp.asarray(truth).astype(jnp.float32) / 255.0, MIN_SIZE)
    return feature_distance(pred, truth, network=network, lpips_heads=True)
