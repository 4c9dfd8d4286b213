"""The perceptual loss term: zero at the truth, every colour space and head, frozen networks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from colorize_jax.colour import ab_bins, colorspace
from colorize_jax.components import builder, defaults
from colorize_jax.models import lpips, vgg
from colorize_jax.objectives import losses, terms
from colorize_jax.runtime import sharding
from colorize_jax.training import schemes
from tests.tiny_training import tiny_config


def _images(seed=0, size=32):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (4, size // 8, size // 8, 3)).astype(np.uint8)
    return jnp.asarray(np.kron(base, np.ones((1, 8, 8, 1), np.uint8)))  # blocks of colour


def _batch(seed=0):
    return {
        "image": _images(seed),
        "mask": jnp.ones((4,), bool),
        "num_skipped": jnp.zeros((4,), jnp.int32),
    }


@jax.jit
def _terms(predictions, targets, inputs):
    return {
        (space, network): terms.perceptual(
            predictions[space], targets[space], inputs=inputs[space], space=space, **settings
        )
        for space in colorspace.SPACES
        for network, settings in {
            "vgg16": {"network": "vgg16", "layers": (1, 2), "layer_weights": (1.0, 0.5)},
            "alexnet": {"network": "alexnet", "lpips_heads": True},
            "efficientnet_lite0": {"network": "efficientnet_lite0", "layers": (2, 4)},
        }.items()
    }


def test_the_term_is_zero_at_the_truth_and_grows_with_the_colour_error():
    encoded = {space: colorspace.encode(_images(), space) for space in colorspace.SPACES}
    inputs = {space: encoded[space][0] for space in encoded}
    targets = {space: encoded[space][1] for space in encoded}
    washed = {space: targets[space] * 0.5 for space in targets}
    luma = colorspace.rgb_to_luma(targets["rgb"])  # rgb: desaturated about the luma
    washed["rgb"] = luma + 0.5 * (targets["rgb"] - luma)
    at_truth, off = _terms(targets, targets, inputs), _terms(washed, targets, inputs)
    for key, value in at_truth.items():
        assert float(value) == pytest.approx(0.0, abs=1e-6), key
        assert float(off[key]) > 1e-3, key


def test_the_gradient_reaches_the_prediction_and_never_the_frozen_weights():
    inputs, targets = colorspace.encode(_images(1), "lab")
    params = vgg.device_params("vgg16")

    def term(predictions, params):
        pred_rgb = colorspace.decode(inputs, predictions, "lab")
        truth_rgb = colorspace.decode(inputs, targets, "lab")
        pred = vgg.features("vgg16", pred_rgb, 2, params)
        truth = vgg.features("vgg16", truth_rgb, 2, params)
        return jnp.mean(sum(lpips.layer_distance(a, b) for a, b in zip(pred, truth, strict=True)))

    grad_pred, grad_params = jax.jit(jax.grad(term, argnums=(0, 1)))(targets * 0.3, params)
    assert float(jnp.abs(grad_pred).max()) > 0
    assert all(float(jnp.abs(g).max()) == 0 for g in jax.tree_util.tree_leaves(grad_params))
    # The term itself uses the same weights, read once.
    assert vgg.device_params("vgg16") is params


def _perceptual_config(experiment="unet_lab", **settings):
    config = tiny_config(experiment, warmup_steps=0)
    config.losses.perceptual = 0.5
    config.perceptual.update({"network": "alexnet", "layers": (1, 2), **settings})
    return config


def _train_state(components):
    return schemes.create_train_state(components, jax.random.key(0), sharding.create_mesh())


def test_train_step_trains_the_generator_on_the_term_and_holds_no_feature_network():
    config = _perceptual_config()
    components = builder.build(config)
    state = _train_state(components)
    new_state, metrics = jax.jit(schemes.make_step_fn(components))(state, _batch())
    assert {"loss_l1", "loss_perceptual"} <= set(metrics)
    np.testing.assert_allclose(
        metrics["loss"], metrics["loss_l1"] + 0.5 * metrics["loss_perceptual"], rtol=1e-6
    )
    assert float(metrics["loss_perceptual"]) > 0 and np.isfinite(float(metrics["grad_norm"]))
    # Only the generator's own parameters are in the state (and move): no VGG, no AlexNet.
    names = {"/".join(map(str, path)) for path, _ in jax.tree_util.tree_leaves_with_path(state)}
    assert not any("conv1_1" in name or "conv5" in name for name in names)
    moved = jax.tree_util.tree_map(
        lambda a, b: bool(jnp.any(a != b)), state.generator.params, new_state.generator.params
    )
    assert all(jax.tree_util.tree_leaves(moved))
    # The perceptual term alone gives the generator a gradient too.
    config.losses.l1 = 0.0
    _, alone = jax.jit(schemes.make_step_fn(builder.build(config)))(state, _batch())
    assert float(alone["grad_norm"]) > 0 and set(alone) >= {"loss_perceptual"}
    assert "loss_l1" not in alone


def test_the_classification_head_trains_its_decoded_colour():
    config = _perceptual_config("unet_lab_classify")  # classify + perceptual, no L1
    components = builder.build(config)
    objective, head = components.objective, components.head
    assert head.regression_channels == 0 and head.num_classes > 0  # no channels added for it
    assert objective.weights == {"classify": 1.0, "perceptual": 0.5}
    inputs, targets = colorspace.encode(_images(2), "lab")
    logits = jnp.asarray(np.random.default_rng(3).normal(size=(4, 32, 32, head.num_outputs)))
    settings = objective.settings["perceptual"]
    assert settings["network"] == "alexnet" and settings["layers"] == (1, 2)

    def total(outputs):
        return losses.generator_loss(objective, head, outputs, targets, inputs=inputs)

    (value, values), grad = jax.jit(jax.value_and_grad(total, has_aux=True))(logits)
    annealed = ab_bins.annealed_mean(logits, head.centers, 0.38) / 110.0
    np.testing.assert_allclose(head.predict(logits), annealed, rtol=1e-6)  # what is evaluated
    expected = terms.perceptual(
        annealed,
        targets,
        inputs=inputs,
        space="lab",
        **settings,
    )
    np.testing.assert_allclose(values["perceptual"], expected, rtol=1e-5)
    np.testing.assert_allclose(value, values["classify"] + 0.5 * values["perceptual"], rtol=1e-5)
    assert float(jnp.abs(grad).max()) > 0
    # "mode" has no gradient: the term trains the annealed mean there.
    config.classify.decode = "mode"
    mode_head = builder.build_generator(config)[1]
    assert mode_head.decode == "mode"
    np.testing.assert_allclose(mode_head.loss_prediction(logits), head.predict(logits))
    (_, mode_values), mode_grad = jax.jit(
        jax.value_and_grad(
            lambda o: losses.generator_loss(objective, mode_head, o, targets, inputs=inputs),
            has_aux=True,
        )
    )(logits)
    np.testing.assert_allclose(mode_values["perceptual"], expected, rtol=1e-5)
    assert float(jnp.abs(mode_grad).max()) > 0


def test_the_adversarial_step_passes_the_inputs_to_the_term():
    config = _perceptual_config("pix2pix_lab")
    components = builder.build(config)
    assert schemes.get(components).__name__ == "colorize_jax.training.adversarial"
    _, metrics = jax.jit(schemes.make_step_fn(components))(_train_state(components), _batch())
    assert float(metrics["loss_perceptual"]) > 0 and np.isfinite(float(metrics["loss"]))
    assert {"loss_l1", "loss_gan_vanilla", "loss_discriminator"} <= set(metrics)


def test_settings_are_checked_and_inputs_required():
    config = _perceptual_config()
    assert builder.build(config).objective.settings["perceptual"]["layers"] == (1, 2)
    config.perceptual.network = "resnet"
    with pytest.raises(ValueError, match="unknown feature network 'resnet'"):
        builder.build(config)
    config.perceptual = {"network": "vgg16", "depth": 3}
    config = defaults.complete(config)  # as where a config enters: layers filled, depth kept
    with pytest.raises(ValueError, match="does not take: depth"):
        builder.build(config)
    config.losses.perceptual = 0.0
    assert builder.build(config).objective.settings == {}  # off: its settings are not read
    objective = losses.create({"perceptual": 1.0})
    head = builder.build_generator(tiny_config())[1]
    predictions = jnp.zeros((1, 8, 8, 2))
    with pytest.raises(TypeError, match="inputs"):
        losses.generator_loss(objective, head, predictions, predictions)
    with pytest.raises(ValueError, match=r"layers \(6,\) must be 1..5"):
        lpips.feature_distance(
            jnp.zeros((1, 8, 8, 3)), jnp.zeros((1, 8, 8, 3)), network="alexnet", layers=(6,)
        )
