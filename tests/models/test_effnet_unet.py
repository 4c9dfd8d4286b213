"""The EfficientNet-Lite U-Net: the twin's network, any input size, the encoder's gray input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import skimage.color

from colorize_jax import models
from colorize_jax.models import efficientnet, effnet_unet
from colorize_jax.training.state import count_params
from tests.model_fitting import fit_losses


def _model(**fields):
    return models.create_model({"name": "effnet_unet", **fields}, 2)


def test_default_network_is_the_pytorch_twin():
    # ../shared/bench/torch_effnet_unet_twin.py: 4,479,202 parameters.
    shapes = jax.eval_shape(_model().init, jax.random.key(0), jnp.zeros((1, 64, 64, 1)))
    assert count_params(shapes["params"]) == 4_479_202
    # Lite0's 4,652,008 without the head: conv 320 -> 1280, its BN, the 1280 -> 1000 classifier.
    head = 320 * 1280 + 2 * 1280 + 1280 * 1000 + 1000
    assert count_params(shapes["params"]["encoder"]) == 4_652_008 - head


@pytest.mark.parametrize("height, width", [(64, 64), (45, 70), (33, 97)])
def test_any_input_size_gives_an_output_of_that_size(height, width):
    model = _model(decoder_widths=(8, 8, 8, 8, 8))
    variables = models.init_variables(model, jax.random.key(0), (1, 64, 64, 1))
    out = jax.jit(lambda v, x: model.apply(v, x))(variables, jnp.zeros((2, height, width, 1)))
    assert out.shape == (2, height, width, 2)
    assert float(jnp.max(jnp.abs(out))) <= 1.0  # tanh


def test_encoder_sees_the_srgb_gray_of_the_lightness():
    rng = np.random.default_rng(0)
    rgb = rng.uniform(0, 1, (5, 7, 3))
    lab = skimage.color.rgb2lab(rgb)
    gray = skimage.color.lab2rgb(np.stack([lab[..., 0], 0 * lab[..., 0], 0 * lab[..., 0]], -1))
    x = jnp.asarray(lab[..., :1] / 50 - 1, jnp.float32)
    np.testing.assert_allclose(effnet_unet.encoder_rgb(x, "lightness"), gray, atol=1e-4)
    luma = jnp.asarray([[[-1.0], [0.0], [1.0]]])
    np.testing.assert_allclose(effnet_unet.encoder_rgb(luma, "luma")[..., 0], [[0.0, 0.5, 1.0]])


def test_init_from_loads_the_wheels_encoder_and_leaves_the_decoder():
    model = _model()
    variables = models.init_variables(model, jax.random.key(0), (1, 64, 64, 1))
    config = {"name": "effnet_unet", "init_from": "efficientnet_lite0"}
    loaded = models.load_pretrained_if_configured(config, variables)
    stem = loaded["params"]["encoder"]["conv_stem"]["kernel"]
    assert not np.allclose(stem, variables["params"]["encoder"]["conv_stem"]["kernel"])
    assert np.all(loaded["batch_stats"]["encoder"]["blocks_15"]["bn2"]["var"] > 0)
    decoder = [k for k in variables["params"] if k != "encoder"]
    for name in decoder:
        assert loaded["params"][name] is variables["params"][name]


def test_the_pretrained_encoder_classifies_through_the_unets_gray_input():
    # The U-Net's encoder input path (L -> sRGB gray -> scaled) feeds the classifier as ImageNet
    # training did: chelsea's gray stays a cat (ImageNet 281-285).
    import skimage.data
    import skimage.transform

    photo = skimage.transform.resize(skimage.data.chelsea(), (224, 224), anti_aliasing=True)
    lightness = skimage.color.rgb2lab(photo)[..., :1] / 50 - 1
    rgb = effnet_unet.encoder_rgb(jnp.asarray(lightness, jnp.float32), "lightness")
    classifier = efficientnet.EfficientNetLite("lite0", num_classes=1000)
    shapes = jax.eval_shape(classifier.init, jax.random.key(0), jnp.zeros((1, 224, 224, 3)))
    scoped = {name: {"encoder": tree} for name, tree in shapes.items()}
    config = {"name": "effnet_unet", "init_from": "efficientnet_lite0"}
    variables = {
        name: tree["encoder"]
        for name, tree in models.load_pretrained_if_configured(config, scoped).items()
    }
    logits = classifier.apply(variables, efficientnet.scale_input(rgb)[None])
    assert 281 <= int(jnp.argmax(logits)) <= 285


def test_frozen_encoder_batch_norm_keeps_the_statistics():
    model = _model(freeze_encoder_batch_norm=True, decoder_widths=(8, 8, 8, 8, 8))
    variables = models.init_variables(model, jax.random.key(0), (1, 32, 32, 1))
    x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 1)), jnp.float32)
    _, updates = model.apply(variables, x, train=True, mutable=["batch_stats"])
    before, after = variables["batch_stats"], updates["batch_stats"]
    jax.tree_util.tree_map(np.testing.assert_array_equal, before["encoder"], after["encoder"])
    decoder = [k for k in before if k != "encoder"]
    assert any(
        not np.array_equal(a, b)
        for name in decoder
        for a, b in zip(
            jax.tree_util.tree_leaves(before[name]),
            jax.tree_util.tree_leaves(after[name]),
            strict=True,
        )
    )


def test_loss_decreases_on_a_small_batch():
    losses = fit_losses(_model(decoder_widths=(16, 16, 16, 16, 16)), size=32)
    assert losses[-1] < 0.6 * losses[0]


def test_a_frozen_encoder_gets_no_gradient_and_keeps_its_statistics():
    model = _model(frozen_encoder=True, decoder_widths=(8, 8, 8, 8, 8))
    variables = models.init_variables(model, jax.random.key(0), (1, 32, 32, 1))
    x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 1)), jnp.float32)

    def loss(params):
        out, updates = model.apply(
            {**variables, "params": params}, x, train=True, mutable=["batch_stats"]
        )
        return jnp.mean(jnp.square(out - 0.3)), updates

    (_, updates), grads = jax.value_and_grad(loss, has_aux=True)(variables["params"])
    assert all(not np.any(g) for g in jax.tree_util.tree_leaves(grads["encoder"]))
    decoder = [g for k, v in grads.items() if k != "encoder" for g in jax.tree_util.tree_leaves(v)]
    assert all(np.any(g) for g in decoder)
    jax.tree_util.tree_map(
        np.testing.assert_array_equal,
        variables["batch_stats"]["encoder"],
        updates["batch_stats"]["encoder"],
    )
