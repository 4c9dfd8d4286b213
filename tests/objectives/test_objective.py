"""The one objective: `losses.create`'s checks, each kind of term fed its part of the outputs
by `losses.generator_loss`, and a new term that trains from one registry line and one config line.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from colorize_jax import presets
from colorize_jax.colour import colorspace
from colorize_jax.components import builder, defaults
from colorize_jax.objectives import heads, losses, step_inputs, terms
from colorize_jax.runtime import sharding
from colorize_jax.training import plain, schemes
from tests.tiny_training import tiny_config

T = 0.38  # the annealed mean's temperature in configs/unet_lab_classify.py


def _softplus(x):
    return np.logaddexp(0.0, x)


# The generator's side of each GAN loss in NumPy float64, on the discriminator's fake outputs.
GENERATOR_BY_HAND = {
    "gan_vanilla": lambda fake: np.mean(_softplus(-fake)),  # -log sigmoid(fake)
    "gan_lsgan": lambda fake: np.mean((fake - 1) ** 2),
    "gan_hinge": lambda fake: -np.mean(fake),
}


def _annealed_mean_by_hand(logits, centers, temperature=T):
    """softmax(z / T) @ centres, in ab / 110 (the decoded target scale), NumPy float64."""
    z = np.asarray(logits, np.float64) / temperature
    p = np.exp(z - z.max(-1, keepdims=True))
    return (p / p.sum(-1, keepdims=True)) @ centers / colorspace.LAB_AB_SCALE


# --- losses.create: the one validation ---------------------------------------------------------


def test_unknown_terms_are_named_with_the_close_matches_and_every_kind():
    available = (
        "available: colour: colorfulness, huber, l1, mse; decoded: perceptual; "
        "logits: classify; adversarial: gan_hinge, gan_lsgan, gan_vanilla"
    )
    with pytest.raises(ValueError) as error:
        losses.create({"l1": 1.0, "gan_vanila": 1.0}, discriminator=True)
    assert str(error.value) == (
        "unknown loss term 'gan_vanila' in config.losses "
        "(did you mean 'gan_vanilla', 'gan_lsgan'?); " + available
    )
    with pytest.raises(
        ValueError, match=r"'percepual' in config.losses \(did you mean 'perceptual'"
    ):
        losses.create({"percepual": 1.0})
    with pytest.raises(ValueError, match=r"'colourfulness' .*did you mean 'colorfulness'"):
        losses.create({"colourfulness": 1.0})
    # Nothing close: no suggestion, the list alone; an unknown name is an error even at weight 0.
    with pytest.raises(ValueError) as error:
        losses.create({"l1": 1.0, "zzz": 0.0})
    assert str(error.value) == "unknown loss term 'zzz' in config.losses; " + available


def test_a_config_must_turn_one_term_on():
    for weights in ({}, {"l1": 0.0}, {"l1": 0, "mse": 0.0, "gan_hinge": 0.0}):
        with pytest.raises(ValueError, match=r"config.losses has no term with a non-zero weight"):
            losses.create(weights)


def test_a_logits_term_needs_a_classification_head():
    with pytest.raises(
        ValueError,
        match=r"loss term 'classify' needs config.classify \(see configs/unet_lab_classify.py\)",
    ):
        losses.create({"l1": 1.0, "classify": 1.0})
    objective = losses.create({"l1": 1.0, "classify": 1.0}, classify=True)
    assert objective.kinds == {"colour", "logits"} and objective.adversarial is None
    # Off, it needs nothing; and a classification head may train colour terms alone.
    assert losses.create({"l1": 1.0, "classify": 0.0}).weights == {"l1": 1.0}
    assert losses.create({"l1": 1.0}, classify=True).kinds == {"colour"}


def test_an_adversarial_term_needs_a_discriminator():
    with pytest.raises(
        ValueError,
        match=r"loss term 'gan_hinge' needs a discriminator: set config.scheme = 'adversarial' "
        r"and config.discriminator \(see configs/pix2pix_lab.py\)",
    ):
        losses.create({"l1": 100.0, "gan_hinge": 1.0})
    objective = losses.create({"l1": 100.0, "gan_hinge": 1.0}, discriminator=True)
    assert objective.adversarial == "gan_hinge"
    assert objective.kinds == {"colour", "adversarial"}
    assert losses.create({"l1": 1.0, "gan_hinge": 0.0}).adversarial is None


def test_one_adversarial_term_at_most():
    with pytest.raises(
        ValueError,
        match=r"more than one adversarial loss \(gan_vanilla, gan_lsgan\): pick one",
    ):
        losses.create(
            {"l1": 100.0, "gan_vanilla": 1.0, "gan_lsgan": 0.5, "gan_hinge": 0.0},
            discriminator=True,
        )


def test_a_discriminator_needs_an_adversarial_term():
    with pytest.raises(
        ValueError,
        match=r"config.discriminator is set but config.losses gives no adversarial term a "
        r"non-zero weight; use one of gan_hinge, gan_lsgan, gan_vanilla",
    ):
        losses.create({"l1": 100.0, "gan_vanilla": 0.0}, discriminator=True)


def test_the_perceptual_settings_are_checked_and_read_only_when_it_is_on():
    section = presets.perceptual_settings()
    objective = losses.create({"l1": 1.0, "perceptual": 0.5}, {"perceptual": section})
    assert objective.kinds == {"colour", "decoded"}
    assert objective.settings == {
        "perceptual": {
            "network": "vgg16",
            "layers": (1, 2, 3, 4, 5),
            "layer_weights": (),
            "lpips_heads": False,
        }
    }
    # Lists (a saved config.json) become tuples.
    listed = {"network": "alexnet", "layers": [1, 2], "layer_weights": [1.0, 0.5]}
    assert losses.create({"perceptual": 1.0}, {"perceptual": listed}).settings["perceptual"] == {
        "network": "alexnet",
        "layers": (1, 2),
        "layer_weights": (1.0, 0.5),
    }
    with pytest.raises(
        ValueError,
        match=r"config.perceptual has fields that loss term 'perceptual' does not take: depth, "
        r"width; it takes layer_weights, layers, lpips_heads, network",
    ):
        losses.create({"perceptual": 1.0}, {"perceptual": {"depth": 3, "width": 2}})
    with pytest.raises(ValueError, match="unknown feature network 'resnet'"):
        losses.create({"perceptual": 1.0}, {"perceptual": {"network": "resnet"}})
    # Off, or without a section: nothing to read or check.
    bad = {"perceptual": {"network": "resnet", "depth": 3}}
    assert losses.create({"l1": 1.0, "perceptual": 0.0}, bad).settings == {}
    assert losses.create({"perceptual": 1.0}).settings == {}
    assert losses.create({"perceptual": 1.0}, {"perceptual": {}}).settings == {}


def test_the_builder_raises_the_objectives_errors_and_needs_no_model_for_it():
    config = tiny_config()
    config.losses.l2 = 1.0
    with pytest.raises(ValueError, match="unknown loss term 'l2'"):
        builder.build(config)
    with pytest.raises(ValueError, match="unknown loss term 'l2'"):
        builder.build_generator(config)
    config = tiny_config()
    config.losses.gan_lsgan = 1.0
    with pytest.raises(ValueError, match="'gan_lsgan' needs a discriminator"):
        builder.build(config)
    config = tiny_config("pix2pix_lab")
    config.losses.gan_vanilla = 0.0
    with pytest.raises(ValueError, match="config.discriminator is set but"):
        builder.build(config)
    components = builder.build(tiny_config("pix2pix_lab"))
    assert components.objective.weights == {"l1": 100.0, "gan_vanilla": 1.0}
    assert components.objective.adversarial == "gan_vanilla"


# --- generator_loss: each kind gets its part ---------------------------------------------------


def _classify_and_regress_config(**losses_on):
    config = tiny_config("unet_lab_classify")
    config.losses.l1 = 1.0  # the regressed channels beside the logits
    for name, weight in losses_on.items():
        config.losses[name] = weight
    return config


def _step_arrays(num_outputs, seed=0, size=32):
    rng = np.random.default_rng(seed)
    outputs = jnp.asarray(rng.normal(0, 1.5, (2, size, size, num_outputs)), jnp.float32)
    targets = jnp.asarray(rng.uniform(-0.4, 0.4, (2, size, size, 2)), jnp.float32)
    inputs = jnp.asarray(rng.uniform(-1, 1, (2, size, size, 1)), jnp.float32)
    return outputs, targets, inputs


def test_each_kind_receives_its_part_of_a_classification_head_that_also_regresses():
    config = _classify_and_regress_config(perceptual=0.5)
    config.perceptual.update({"network": "alexnet", "layers": (1, 2)})
    components = builder.build(config)
    objective, head = components.objective, components.head
    assert objective.weights == {"classify": 1.0, "l1": 1.0, "perceptual": 0.5}
    assert head.regression_channels == 2 and head.num_outputs == 2 + 262
    outputs, targets, inputs = _step_arrays(head.num_outputs)

    @jax.jit
    def loss(outputs):
        return losses.generator_loss(objective, head, outputs, targets, inputs=inputs)

    total, values = loss(outputs)
    assert set(values) == {"classify", "l1", "perceptual"}
    # "colour": the regressed channels through tanh, against the targets.
    l1_by_hand = np.mean(np.abs(np.tanh(np.asarray(outputs[..., :2], np.float64)) - targets))
    np.testing.assert_allclose(values["l1"], l1_by_hand, rtol=1e-5)
    # "logits": the rest of the channels, through the head's rebalanced cross-entropy.
    np.testing.assert_allclose(
        values["classify"], head.classify_loss(outputs[..., 2:], targets), rtol=1e-5
    )
    # "decoded": the annealed mean of the logits (the evaluated prediction), not the regression.
    decoded = _annealed_mean_by_hand(outputs[..., 2:], head.centers)
    np.testing.assert_allclose(head.loss_prediction(outputs), decoded, rtol=1e-4, atol=1e-5)
    settings = {"network": "alexnet", "layers": (1, 2), "layer_weights": (), "lpips_heads": False}
    perceptual = jax.jit(functools.partial(terms.perceptual, space="lab", **settings))
    np.testing.assert_allclose(
        values["perceptual"],
        perceptual(jnp.asarray(decoded, jnp.float32), targets, inputs=inputs),
        rtol=1e-4,
    )
    regressed = perceptual(jnp.tanh(outputs[..., :2]), targets, inputs=inputs)
    assert abs(float(regressed) - float(values["perceptual"])) > 1e-4
    np.testing.assert_allclose(
        total, values["classify"] + values["l1"] + 0.5 * values["perceptual"], rtol=1e-6
    )
    # The gradients land on the channels each kind reads.
    only = {
        name: jax.grad(
            lambda o, name=name: losses.generator_loss(
                losses.create({name: 1.0}, classify=True), head, o, targets, inputs=inputs
            )[0]
        )(outputs)
        for name in ("l1", "classify")
    }
    assert float(jnp.abs(only["l1"][..., :2]).max()) > 0
    np.testing.assert_array_equal(only["l1"][..., 2:], 0.0)
    assert float(jnp.abs(only["classify"][..., 2:]).max()) > 0
    np.testing.assert_array_equal(only["classify"][..., :2], 0.0)


def _adversarial_config(experiment, gan_name):
    config = tiny_config(experiment, complete=False)
    if not config.get("discriminator"):
        config.scheme = "adversarial"
        config.discriminator = presets.pix2pix_discriminator()
    for name in GENERATOR_BY_HAND:
        config.losses[name] = 0.0
    config.losses[gan_name] = 1.0
    config.losses.l1 = 10.0
    return defaults.complete(config)


def _discriminate(colours):
    """A stand-in discriminator: a fixed per-pixel function of the colour it is shown."""
    return 3.0 * colours[..., :1] - 2.0 * colours[..., 1:] + 0.25


@pytest.mark.parametrize("gan_name", sorted(GENERATOR_BY_HAND))
def test_the_adversarial_term_is_the_generator_side_on_the_decoded_colour(gan_name):
    components = builder.build(_adversarial_config("pix2pix_lab", gan_name))
    objective, head = components.objective, components.head
    assert objective.adversarial == gan_name and head.num_outputs == 2
    outputs, targets, inputs = _step_arrays(2, seed=1, size=8)
    seen = []

    def discriminate(colours):
        seen.append(colours)
        return _discriminate(colours)

    total, values = losses.generator_loss(
        objective, head, outputs, targets, inputs=inputs, discriminate=discriminate
    )
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0], outputs)  # a plain head decodes its outputs as such
    fake = np.asarray(_discriminate(np.asarray(outputs, np.float64)))
    np.testing.assert_allclose(values[gan_name], GENERATOR_BY_HAND[gan_name](fake), rtol=1e-5)
    l1_by_hand = np.mean(np.abs(np.asarray(outputs, np.float64) - targets))
    np.testing.assert_allclose(values["l1"], l1_by_hand, rtol=1e-5)
    np.testing.assert_allclose(total, 10.0 * l1_by_hand + values[gan_name], rtol=1e-5)
    # A step's own weights (the NoGAN warm-up's 0) change the sum, not the terms reported.
    warmup, warm_values = losses.generator_loss(
        objective,
        head,
        outputs,
        targets,
        inputs=inputs,
        discriminate=_discriminate,
        weights={**objective.weights, gan_name: jnp.float32(0.0)},
    )
    np.testing.assert_allclose(warmup, 10.0 * l1_by_hand, rtol=1e-5)
    np.testing.assert_allclose(warm_values[gan_name], values[gan_name], rtol=1e-6)
    with pytest.raises(ValueError, match=f"loss term '{gan_name}' needs a discriminator"):
        losses.generator_loss(objective, head, outputs, targets, inputs=inputs)


def test_a_classification_head_is_judged_on_its_annealed_mean():
    config = _adversarial_config("unet_lab_classify", "gan_lsgan")
    config.losses.l1 = 0.0  # classify + gan_lsgan: no regressed channels
    components = builder.build(config)
    objective, head = components.objective, components.head
    assert objective.weights == {"classify": 1.0, "gan_lsgan": 1.0}
    assert head.classify and head.regression_channels == 0
    outputs, targets, inputs = _step_arrays(head.num_outputs, seed=2, size=4)
    seen = []

    def discriminate(colours):
        seen.append(colours)
        return _discriminate(colours)

    _, values = losses.generator_loss(
        objective, head, outputs, targets, inputs=inputs, discriminate=discriminate
    )
    decoded = _annealed_mean_by_hand(outputs, head.centers)
    np.testing.assert_allclose(seen[0], decoded, rtol=1e-4, atol=1e-5)
    fake = _discriminate(decoded)
    np.testing.assert_allclose(values["gan_lsgan"], np.mean((fake - 1) ** 2), rtol=1e-4)
    np.testing.assert_allclose(values["classify"], head.classify_loss(outputs, targets), rtol=1e-6)


# --- a new term: one registry line, one config line --------------------------------------------


def _batch(seed=0, size=32):
    rng = np.random.default_rng(seed)
    return {
        "image": jnp.asarray(rng.integers(0, 256, (4, size, size, 3), dtype=np.uint8)),
        "mask": jnp.ones((4,), bool),
        "num_skipped": jnp.zeros((4,), jnp.int32),
    }


def _quartic(predictions, targets):
    """A new term: the mean fourth power of the colour error."""
    return jnp.mean((predictions - targets) ** 4)


def test_a_registered_term_trains_from_one_config_line(monkeypatch):
    monkeypatch.setitem(terms.TERMS, "my_term", terms.LossTerm(_quartic, "colour"))
    config = tiny_config(warmup_steps=0)
    config.losses.my_term = 1.0  # the one line that turns it on
    components = builder.build(config)
    assert components.objective.weights == {"l1": 1.0, "my_term": 1.0}
    with pytest.raises(ValueError, match=r"available: colour: colorfulness, huber, l1, mse, my_te"):
        losses.create({"my_tern": 1.0})
    state = schemes.create_train_state(components, jax.random.key(0), sharding.create_mesh())
    batch = _batch()
    step = jax.jit(functools.partial(plain.train_step, components=components))
    new_state, metrics = step(state, batch)
    assert {"loss", "loss_l1", "loss_my_term", "grad_norm"} <= set(metrics)
    np.testing.assert_allclose(
        metrics["loss"], metrics["loss_l1"] + metrics["loss_my_term"], rtol=1e-6
    )
    # Its value is the term of the network's outputs against the step's targets, by hand.
    generator = state.generator
    _, inputs, targets, dropout_rng = step_inputs.prepare(
        batch, state.step, space="lab", seed=0, input_noise_std=0.0
    )
    outputs, _ = generator.apply_fn(
        generator.variables,
        inputs,
        train=True,
        mutable=["batch_stats"],
        rngs={"dropout": dropout_rng},
    )
    error = np.asarray(outputs, np.float64) - np.asarray(targets, np.float64)
    np.testing.assert_allclose(metrics["loss_my_term"], np.mean(error**4), rtol=1e-3)
    np.testing.assert_allclose(metrics["loss_l1"], np.mean(np.abs(error)), rtol=1e-3)
    moved = jax.tree_util.tree_map(
        lambda a, b: bool(jnp.any(a != b)), state.generator.params, new_state.generator.params
    )
    assert all(jax.tree_util.tree_leaves(moved))
    # Alone, it trains the generator by itself: a gradient, other than L1's.
    config.losses.l1 = 0.0
    alone = builder.build(config)
    assert alone.objective.weights == {"my_term": 1.0}
    _, alone_metrics = jax.jit(schemes.make_step_fn(alone))(state, batch)
    assert set(k for k in alone_metrics if k.startswith("loss")) == {"loss", "loss_my_term"}
    np.testing.assert_allclose(alone_metrics["loss"], metrics["loss_my_term"], rtol=1e-6)
    assert 0 < float(alone_metrics["grad_norm"]) != float(metrics["grad_norm"])


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"layers": (6,)}, "config.perceptual: layers \\(6,\\) must be 1..5"),
        ({"layers": (1, 2), "layer_weights": (1.0,)}, "one weight each \\(got 1\\)"),
        ({"network": "efficientnet_lite0", "lpips_heads": True}, "heads exist for vgg16"),
    ],
)
def test_perceptual_settings_that_cannot_train_fail_at_create(settings, message):
    with pytest.raises(ValueError, match=message):
        losses.create({"perceptual": 1.0}, {"perceptual": settings})


def test_a_head_without_the_part_a_term_reads_is_a_clear_error():
    objective = losses.create({"l1": 1.0})
    logits_only = heads.Head(space="lab", regression_channels=0, classify=True)
    outputs = jnp.zeros((1, 4, 4, logits_only.num_outputs))
    with pytest.raises(ValueError, match="kind 'colour' needs colour, targets"):
        losses.generator_loss(
            objective, logits_only, outputs, jnp.zeros((1, 4, 4, 2)), inputs=jnp.zeros((1, 4, 4, 1))
        )
