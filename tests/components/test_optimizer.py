"""The encoder's own learning rate: a multiplier and a frozen start, as optax computes them."""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from colorize_jax import presets
from colorize_jax.components import builder, defaults, optimizer
from colorize_jax.training import loop, run_config, schemes
from tests.tiny_training import final_state, read_jsonl, tiny_config

LEARNING_RATE = 1e-2


class _EncoderDecoder(nn.Module):
    @nn.compact
    def __call__(self, x):
        return nn.Dense(3, name="decoder")(nn.tanh(nn.Dense(4, name="encoder")(x)))


def _setup(**fields):
    """Params, the optimizer of `base_config()` updated with `fields`, and the loss gradient."""
    config = presets.base_config()
    config.optimizer.update(fields)
    model = _EncoderDecoder()
    x = jnp.asarray(np.random.default_rng(0).normal(size=(8, 5)), jnp.float32)
    params = model.init(jax.random.key(0), x)["params"]
    tx = optimizer.create_optimizer(config.optimizer, lambda step: LEARNING_RATE)

    def loss(p):
        return jnp.mean(jnp.square(model.apply({"params": p}, x) - 1.0))

    return params, tx, jax.grad(loss)


def _run(tx, grads_per_step, params):
    """The updates of `tx` over the given gradients at fixed `params`, one entry per step."""
    state, history = tx.init(params), []
    for grads in grads_per_step:
        updates, state = tx.update(grads, state, params)
        history.append(updates)
    return history


def test_encoder_moves_by_the_multiplier_times_adamws_update_with_global_clipping():
    params, tx, grad = _setup(encoder_lr_multiplier=0.2, weight_decay=0.1, grad_clip_norm=1e-3)
    grads = grad(params)
    # Step 2's encoder gradient is 100x larger: a global clip scales the decoder's down with it,
    # a per-group clip would not, and Adam's second update tells the two apart.
    bigger = {
        "encoder": jax.tree.map(lambda g: 100 * g, grads["encoder"]),
        "decoder": grads["decoder"],
    }
    reference_tx = optax.chain(
        optax.clip_by_global_norm(1e-3),
        optax.adamw(LEARNING_RATE, b1=0.9, b2=0.999, weight_decay=0.1),
    )
    got = _run(tx, [grads, bigger], params)
    want = _run(reference_tx, [grads, bigger], params)
    for step in range(2):
        for leaf in ("kernel", "bias"):
            np.testing.assert_allclose(
                got[step]["encoder"][leaf], 0.2 * want[step]["encoder"][leaf], rtol=1e-5
            )
            np.testing.assert_allclose(
                got[step]["decoder"][leaf], want[step]["decoder"][leaf], rtol=1e-5
            )
    # Adam's first update by hand: -lr * (g / (|g| + eps) + weight_decay * p), 0.2x for the encoder.
    g, p = grads["encoder"]["kernel"], params["encoder"]["kernel"]
    clipped = g * 1e-3 / optax.tree.norm(grads)
    by_hand = -0.2 * LEARNING_RATE * (clipped / (jnp.abs(clipped) + 1e-8) + 0.1 * p)
    np.testing.assert_allclose(got[0]["encoder"]["kernel"], by_hand, rtol=1e-4)


def test_a_frozen_encoder_is_bit_identical_until_its_steps_are_done():
    # base_config's weight decay and clipping stay on: neither may move a frozen encoder.
    params, tx, grad = _setup(freeze_encoder_steps=2)
    state = tx.init(params)
    history = [params]
    for _ in range(3):
        updates, state = tx.update(grad(params), state, params)
        params = optax.apply_updates(params, updates)
        history.append(params)
    for step in (1, 2):
        jax.tree.map(np.testing.assert_array_equal, history[step]["encoder"], history[0]["encoder"])
    for step in (1, 2, 3):
        for leaf in ("kernel", "bias"):
            before, after = history[step - 1]["decoder"][leaf], history[step]["decoder"][leaf]
            assert np.all(before != after)
    assert all(
        np.any(history[3]["encoder"][leaf] != history[2]["encoder"][leaf])
        for leaf in ("kernel", "bias")
    )


def test_the_encoder_schedule_is_zero_then_the_multiplied_rate():
    settings = presets.optimizer_settings(encoder_lr_multiplier=0.5, freeze_encoder_steps=3)
    schedule = optimizer.create_encoder_learning_rate_fn(settings, lambda step: 2.0 * step)
    assert [float(schedule(jnp.asarray(s))) for s in range(5)] == [0, 0, 0, 3.0, 4.0]
    defaults_only = presets.optimizer_settings()
    assert optimizer.create_encoder_learning_rate_fn(defaults_only, lambda s: 1.0) is None
    settings.encoder_lr_multiplier = -1.0
    with pytest.raises(ValueError, match="encoder_lr_multiplier must be >= 0"):
        optimizer.create_encoder_learning_rate_fn(settings, lambda s: 1.0)


@pytest.mark.parametrize("clip", [1.0, 0.0])
def test_defaults_keep_plain_adamws_state(clip):
    params, tx, _ = _setup(grad_clip_norm=clip)
    plain = optax.adamw(lambda step: LEARNING_RATE, weight_decay=1e-4)
    if clip:
        plain = optax.chain(optax.clip_by_global_norm(clip), plain)
    assert jax.tree.structure(tx.init(params)) == jax.tree.structure(plain.init(params))


def test_a_model_without_encoder_is_named_with_the_field():
    settings = presets.optimizer_settings(encoder_lr_multiplier=0.5)
    tx = optimizer.create_optimizer(settings, lambda step: 1e-2, model_name="unet")
    with pytest.raises(ValueError) as error:
        tx.init({"Dense_0": {"kernel": jnp.zeros((2, 2))}})
    message = str(error.value)
    expected = "config.optimizer.encoder_lr_multiplier=0.5 needs a model with a top-level 'encoder'"
    assert expected in message
    assert "model 'unet' has none" in message and "Dense_0" in message


def _resnet_model(**overrides):
    return presets.resnet_unet_model(
        resnet_depth=18,
        encoder_width=8,
        decoder_widths=(16, 16, 8, 8, 8),
        dtype="float32",
        **overrides,
    )


def test_the_discriminator_keeps_plain_adamw():
    config = tiny_config("pix2pix_lab", model=_resnet_model(), encoder_lr_multiplier=0.5)
    d_settings = defaults.complete(config).discriminator.optimizer
    assert d_settings.encoder_lr_multiplier == 1.0 and d_settings.freeze_encoder_steps == 0
    components = builder.build(config)
    state = jax.eval_shape(functools.partial(schemes.init_state, components), jax.random.key(0))
    generator_state = state.networks["generator"].opt_state
    assert any(
        isinstance(node, optax.MultiTransformState)
        for node in jax.tree.leaves(
            generator_state, is_leaf=lambda n: isinstance(n, optax.MultiTransformState)
        )
    )
    plain = builder.build(tiny_config("pix2pix_lab", model=_resnet_model()))
    plain_state = jax.eval_shape(functools.partial(schemes.init_state, plain), jax.random.key(0))
    assert jax.tree.structure(state.networks["discriminator"].opt_state) == jax.tree.structure(
        plain_state.networks["discriminator"].opt_state
    )


def test_turning_the_encoder_schedule_on_or_off_is_structural_its_values_are_not():
    base = tiny_config(model=_resnet_model())
    saved = run_config.as_plain(tiny_config(model=_resnet_model(), encoder_lr_multiplier=0.2))
    other_value = tiny_config(model=_resnet_model(), encoder_lr_multiplier=0.1)
    other_value.optimizer.freeze_encoder_steps = 100
    assert run_config.differences(saved, run_config.as_plain(other_value)) == []
    [difference] = run_config.differences(saved, run_config.as_plain(base))
    assert difference.startswith("encoder's own learning rate") and difference.endswith(
        "True -> False"
    )


def test_resnet_unet_trains_with_a_frozen_then_slower_encoder(tmp_path):
    # Two steps, no evaluation: the second is the encoder's first at a tenth of the rate.
    config = tiny_config(
        model=_resnet_model(),
        encoder_lr_multiplier=0.1,
        freeze_encoder_steps=1,
        num_train_steps=10,
        eval_every_steps=100,
        checkpoint_every_steps=100,
    )
    loop.train_and_evaluate(config, str(tmp_path), stop_after_steps=2)
    rows = [row for row in read_jsonl(tmp_path / "metrics.jsonl") if "train/loss" in row]
    assert [row["step"] for row in rows] == [1, 2]
    assert rows[0]["train/learning_rate_encoder"] == 0.0
    assert rows[1]["train/learning_rate"] > 0
    np.testing.assert_allclose(
        rows[1]["train/learning_rate_encoder"], 0.1 * rows[1]["train/learning_rate"], rtol=1e-6
    )
    # The checkpoint restores into the split optimizer's state (what a resume does).
    state, step = final_state(tmp_path, config)
    assert step == 2
    [split] = [
        node
        for node in jax.tree.leaves(
            state.generator.opt_state, is_leaf=lambda n: isinstance(n, optax.MultiTransformState)
        )
        if isinstance(node, optax.MultiTransformState)
    ]
    assert set(split.inner_states) == {"encoder", "other"}
    encoder_adam = split.inner_states["encoder"].inner_state[0]
    assert int(encoder_adam.count) == 2
    assert any(np.any(mu != 0) for mu in jax.tree.leaves(encoder_adam.mu["encoder"]))


def test_a_frozen_encoder_model_leaves_the_encoder_alone_and_adamw_trains_the_rest():
    config = presets.base_config()
    config.optimizer.update(weight_decay=0.1, encoder_lr_multiplier=0.2)  # ignored when frozen
    params, _, grad = _setup()
    tx = optimizer.create_optimizer(
        config.optimizer, lambda step: LEARNING_RATE, frozen_encoder=True
    )
    grads = grad(params)
    got = _run(tx, [grads, grads], params)
    want = _run(optax.adamw(LEARNING_RATE, weight_decay=0.1), [grads, grads], params)
    for step in range(2):
        for leaf in ("kernel", "bias"):
            assert not np.any(got[step]["encoder"][leaf])  # no update, no weight decay
            np.testing.assert_allclose(
                got[step]["decoder"][leaf], want[step]["decoder"][leaf], rtol=1e-5
            )
