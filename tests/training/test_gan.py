"""Adversarial losses and the pure GAN train step: what each update touches, the NoGAN phases."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from colorize_jax import models
from colorize_jax.colour import colorspace
from colorize_jax.components import builder, defaults, optimizer
from colorize_jax.objectives import gan_losses
from colorize_jax.runtime import sharding
from colorize_jax.training import schemes
from tests.tiny_training import tiny_config

# SGD with its learning rate in the optimizer state, so one compiled step serves every rate.
SGD = optax.inject_hyperparams(optax.sgd)(learning_rate=0.0)


def _compile(fn, *example_args):
    """jit-compiles `fn` for `example_args` without XLA's CPU backend optimizations (half the
    compile time; these tests run only a few steps)."""
    return models.compile_init(fn, *example_args)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_gan_losses_match_their_definitions():
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(2, 3, 5, 5, 1)).astype(np.float32)
    bce = lambda p, label: -np.mean(label * np.log(p) + (1 - label) * np.log(1 - p))  # noqa: E731
    cases = {
        "gan_vanilla": (
            0.5 * (bce(_sigmoid(real), 1) + bce(_sigmoid(fake), 0)),
            -np.mean(np.log(_sigmoid(fake))),
        ),
        "gan_lsgan": (
            0.5 * (np.mean((real - 1) ** 2) + np.mean(fake**2)),
            np.mean((fake - 1) ** 2),
        ),
        "gan_hinge": (
            0.5 * (np.mean(np.maximum(0, 1 - real)) + np.mean(np.maximum(0, 1 + fake))),
            -np.mean(fake),
        ),
    }
    for name, (d_expected, g_expected) in cases.items():
        term = gan_losses.GAN_LOSSES[name]
        np.testing.assert_allclose(term.discriminator(real, fake), d_expected, rtol=1e-5)
        np.testing.assert_allclose(term.generator(fake), g_expected, rtol=1e-5)
    # Confident logits stay finite (no log of an underflowed sigmoid).
    big = jnp.full((4,), 200.0)
    assert float(gan_losses.vanilla_discriminator(big, -big)) == pytest.approx(0.0, abs=1e-6)
    assert float(gan_losses.vanilla_generator(-big)) == pytest.approx(200.0)


def test_gan_terms_are_valid_loss_names_only_with_a_discriminator():
    builder.build(tiny_config("pix2pix_lab"))
    builder.build(tiny_config())
    with pytest.raises(ValueError, match="unknown loss term 'gan_wgan'.*adversarial: gan_hinge"):
        builder.build(tiny_config("pix2pix_lab", **{"losses.gan_wgan": 1.0}))
    with pytest.raises(ValueError, match="'gan_lsgan' needs a discriminator"):
        builder.build(tiny_config(**{"losses.gan_lsgan": 1.0}))
    with pytest.raises(ValueError, match="gives no adversarial term a non-zero weight"):
        builder.build(tiny_config("pix2pix_lab", **{"losses.gan_vanilla": 0.0}))
    with pytest.raises(ValueError, match="more than one adversarial loss"):
        builder.build(tiny_config("pix2pix_lab", **{"losses.gan_hinge": 0.5}))


def test_the_scheme_and_the_networks_must_agree():
    config = tiny_config("pix2pix_lab")
    config.scheme = "plain"
    with pytest.raises(ValueError, match="'plain' trains no discriminator"):
        schemes.get(builder.build(config))
    config.scheme = "adversarail"
    with pytest.raises(ValueError, match="unknown config.scheme 'adversarail'.*adversarial"):
        schemes.get(builder.build(config))
    plain = tiny_config()
    plain.scheme = "adversarial"
    with pytest.raises(ValueError, match="needs config.discriminator"):
        schemes.get(builder.build(plain))


def test_discriminator_optimizer_takes_its_own_fields_else_the_generators():
    config = tiny_config("pix2pix_lab", learning_rate=1e-3, warmup_steps=7, num_train_steps=100)
    config.discriminator.optimizer.learning_rate = 4e-4
    d_settings = defaults.complete(config).discriminator.optimizer
    assert d_settings.learning_rate == 4e-4 and d_settings.adam_b1 == 0.5
    assert d_settings.warmup_steps == 7
    schedule = optimizer.create_learning_rate_fn(d_settings, config.num_train_steps)
    assert float(schedule(7)) == pytest.approx(4e-4)
    built = builder.build(config).networks["discriminator"]
    assert float(built.learning_rate_fn(7)) == pytest.approx(4e-4)


def _batch(seed, n=4, size=32):
    """Vivid images: an 8x8 grid of random saturated colours, upsampled."""
    rng = np.random.default_rng(seed)
    grid = rng.choice([0, 255], size=(n, 4, 4, 3)).astype(np.uint8)
    image = np.repeat(np.repeat(grid, size // 4, axis=1), size // 4, axis=2)
    return {
        "image": jnp.asarray(image),
        "mask": jnp.ones((n,), bool),
        "num_skipped": jnp.zeros((n,), jnp.int32),
    }


@pytest.fixture(scope="module")
def setup():
    # A long schedule, so that the learning rates stay near their peaks for the steps run here;
    # a discriminator learning rate 10x pix2pix's, so that it learns within 25 steps.
    config = tiny_config(
        "pix2pix_lab",
        warmup_steps=0,
        num_train_steps=1000,
        **{"discriminator.optimizer.learning_rate": 2e-3},
    )
    components = builder.build(config)
    model = components.generator.model
    state = schemes.create_train_state(components, jax.random.key(0), sharding.create_mesh())
    return config, model, state


def _step_fn(config):
    return schemes.make_step_fn(builder.build(config))


def _with_sgd(state, lr_generator, lr_discriminator):
    networks = {}
    for name, lr in (("generator", lr_generator), ("discriminator", lr_discriminator)):
        network = state.networks[name]
        opt_state = SGD.init(network.params)
        opt_state.hyperparams["learning_rate"] = jnp.asarray(lr, jnp.float32)
        networks[name] = network.replace(tx=SGD, opt_state=opt_state)
    return state.replace(networks=networks)


def _reference_gradients(state, batch, d_step_seen_by_g, *, l1_weight):
    """Both networks' gradients written out end to end, with optax's cross-entropy.

    The generator's gradient is taken against the discriminator moved by
    `-d_step_seen_by_g * its gradient` (0: the discriminator before its update).
    """
    g, d = state.generator, state.networks["discriminator"]
    inputs, targets = colorspace.encode(batch["image"], "lab")

    def generate(params):
        return g.apply_fn({**g.variables, "params": params}, inputs, train=True, mutable=True)[0]

    def discriminate(params, stats, colours):
        x = jnp.concatenate([inputs, colours], axis=-1)
        variables = {"params": params, "batch_stats": stats}
        return d.apply_fn(variables, x, train=True, mutable=["batch_stats"])

    bce = optax.losses.sigmoid_binary_cross_entropy
    fake = generate(g.params)

    def d_loss(params):
        real_logits, updates = discriminate(params, d.batch_stats, targets)
        fake_logits, updates = discriminate(params, updates["batch_stats"], fake)
        loss = 0.5 * (jnp.mean(bce(real_logits, 1.0)) + jnp.mean(bce(fake_logits, 0.0)))
        return loss, updates["batch_stats"]

    d_grads, d_stats = jax.grad(d_loss, has_aux=True)(d.params)
    d_params = jax.tree_util.tree_map(lambda p, g: p - d_step_seen_by_g * g, d.params, d_grads)

    def g_loss(params):
        predictions = generate(params)
        logits, _ = discriminate(d_params, d.batch_stats, predictions)
        l1 = jnp.mean(jnp.abs(predictions - targets))
        return l1_weight * l1 + jnp.mean(bce(logits, 1.0))

    return jax.grad(g_loss)(g.params), d_grads, d_stats


def _implied_gradients(before, after, lr):
    return jax.tree_util.tree_map(lambda a, b: (np.asarray(a) - np.asarray(b)) / lr, before, after)


def _assert_trees_close(actual, expected, **tolerances):
    jax.tree_util.tree_map(
        lambda a, e: np.testing.assert_allclose(a, e, **tolerances), actual, expected
    )


def _trees_equal(a, b) -> bool:
    leaves = jax.tree_util.tree_leaves(jax.tree_util.tree_map(np.array_equal, a, b))
    return all(leaves)


def test_each_update_follows_its_own_gradient_only(setup):
    config, _, state = setup
    config = tiny_config("pix2pix_lab", warmup_steps=0, num_train_steps=1000, **{"losses.l1": 1.0})
    batch = _batch(0)
    lr = 0.05
    start = _with_sgd(state, lr, lr)
    step = _compile(_step_fn(config), start, batch)
    new_state, metrics = step(start, batch)
    reference = _compile(functools.partial(_reference_gradients, l1_weight=1.0), start, batch, lr)
    g_ref, d_ref, d_stats_ref = reference(start, batch, lr)
    g_before, d_before = start.generator, start.networks["discriminator"]
    g_after, d_after = new_state.generator, new_state.networks["discriminator"]
    # D moved by its own loss's gradient on (real, detached fake): nothing of G's objective.
    _assert_trees_close(_implied_gradients(d_before.params, d_after.params, lr), d_ref, atol=2e-5)
    _assert_trees_close(d_after.batch_stats, d_stats_ref, rtol=1e-5, atol=1e-6)
    # G moved by the gradient of L1 + GAN through the updated discriminator.
    g_step = _implied_gradients(g_before.params, g_after.params, lr)
    _assert_trees_close(g_step, g_ref, rtol=2e-3, atol=1e-4)
    np.testing.assert_allclose(metrics["grad_norm"], optax.tree.norm(g_ref), rtol=1e-4)
    np.testing.assert_allclose(
        metrics["grad_norm_discriminator"], optax.tree.norm(d_ref), rtol=1e-4
    )
    # The comparison can tell which discriminator G was trained against.
    g_old_d, _, _ = reference(start, batch, 0.0)
    with pytest.raises(AssertionError):
        _assert_trees_close(g_step, g_old_d, rtol=2e-3, atol=1e-4)

    # With one learning rate at zero, that network's parameters stay exactly as they were.
    frozen_g, _ = step(_with_sgd(state, 0.0, lr), batch)
    assert _trees_equal(frozen_g.generator.params, state.generator.params)
    assert not _trees_equal(frozen_g.networks["discriminator"].params, d_before.params)
    frozen_d, _ = step(_with_sgd(state, lr, 0.0), batch)
    assert _trees_equal(frozen_d.networks["discriminator"].params, d_before.params)
    assert not _trees_equal(frozen_d.generator.params, g_before.params)


def test_nogan_schedule_freezes_one_network_per_phase(setup):
    config, _, state = setup
    config = tiny_config("pix2pix_lab", warmup_steps=0, num_train_steps=1000)
    config.gan.pretrain_generator_steps = 2
    config.gan.pretrain_discriminator_steps = 2
    step = _compile(_step_fn(config), state, _batch(0))
    # Reference for the generator warm-up: the regression step on the regression terms alone.
    regression_config = tiny_config(warmup_steps=0, num_train_steps=1000, **{"losses.l1": 100.0})
    regression_step = _compile(_step_fn(regression_config), state, _batch(0))
    states, phases = [state], []
    reference = state
    for i in range(5):
        batch = _batch(i)
        new_state, metrics = step(states[-1], batch)
        phases.append(int(metrics["gan_phase"]))
        before, after = states[-1].networks, new_state.networks
        d_same = _trees_equal(before["discriminator"], after["discriminator"])
        g_same = _trees_equal(before["generator"], after["generator"])
        if i < 2:
            assert d_same and not g_same, f"step {i}: only the generator trains"
            reference, ref_metrics = regression_step(reference, batch)
            np.testing.assert_allclose(metrics["loss"], ref_metrics["loss"], rtol=1e-5)
            np.testing.assert_allclose(metrics["grad_norm"], ref_metrics["grad_norm"], rtol=1e-4)
            _assert_trees_close(after["generator"].params, reference.generator.params, atol=1e-5)
            _assert_trees_close(
                after["generator"].opt_state, reference.generator.opt_state, rtol=1e-3, atol=1e-7
            )
        elif i < 4:
            assert g_same and not d_same, (
                f"step {i}: only the discriminator trains {g_same} {d_same}"
            )
        else:
            assert not g_same and not d_same, f"step {i}: both train"
        states.append(new_state)
    assert phases == [1, 1, 2, 2, 3]
    assert int(states[-1].step) == 5


def test_discriminator_learns_to_separate_real_from_a_fixed_fake(setup):
    config, model, state = setup
    # A discriminator warm-up longer than the test: the generator, hence the fake, stays fixed.
    config = config.copy_and_resolve_references()
    config.gan.pretrain_discriminator_steps = 1000
    batch = _batch(0, n=8)
    step = _compile(_step_fn(config), state, batch)
    for _ in range(25):
        state, metrics = step(state, batch)
    assert int(metrics["gan_phase"]) == 2
    # Independent check: the discriminator's patch logits, computed here from scratch.
    inputs, targets = colorspace.encode(batch["image"], "lab")
    g, d = state.generator, state.networks["discriminator"]
    fake, _ = model.apply(g.variables, inputs, train=True, mutable=["batch_stats"])

    def logits(colours):
        x = jnp.concatenate([inputs, colours], axis=-1)
        return d.apply_fn(d.variables, x, train=True, mutable=["batch_stats"])[0]

    real_logits, fake_logits = np.asarray(logits(targets)), np.asarray(logits(fake))
    accuracy = 0.5 * ((real_logits > 0).mean() + (fake_logits < 0).mean())
    assert accuracy > 0.9
    assert float(metrics["d_accuracy"]) > 0.9 and metrics["d_real"] > metrics["d_fake"]
