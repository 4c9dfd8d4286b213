"""The encoder's own learning rate: a multiplier and a frozen start, as optax computes them."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from colorize_jax import presets, train


class _EncoderDecoder(nn.Module):
    @nn.compact
    def __call__(self, x):
        return nn.Dense(3, name="decoder")(nn.Dense(4, name="encoder")(x))


def _setup(**fields):
    config = presets.base_config()
    config.update(fields)
    config.weight_decay = 0.0
    config.grad_clip_norm = 0.0
    model = _EncoderDecoder()
    x = jnp.asarray(np.random.default_rng(0).normal(size=(8, 5)), jnp.float32)
    params = model.init(jax.random.key(0), x)["params"]
    tx = train.create_optimizer(config, lambda step: 1e-2)

    def loss(p):
        return jnp.mean(jnp.square(model.apply({"params": p}, x) - 1.0))

    return params, tx, jax.grad(loss)


def _moved(before, after):
    return {
        name: float(
            sum(
                jnp.sum(jnp.abs(a - b))
                for a, b in zip(*map(jax.tree.leaves, (after[name], before[name])), strict=True)
            )
        )
        for name in before
    }


def test_encoder_moves_by_the_multiplier_times_adams_update():
    params, tx, grad = _setup(encoder_lr_multiplier=0.2)
    grads = grad(params)
    updates, _ = tx.update(grads, tx.init(params), params)
    # Adam's first update is -lr * g / (|g| + eps) elementwise: a hand computation.
    reference = optax.adam(1e-2).update(grads, optax.adam(1e-2).init(params), params)[0]
    np.testing.assert_allclose(
        updates["encoder"]["kernel"], 0.2 * reference["encoder"]["kernel"], rtol=1e-5
    )
    np.testing.assert_allclose(
        updates["decoder"]["kernel"], reference["decoder"]["kernel"], rtol=1e-5
    )


def test_a_frozen_encoder_starts_learning_after_its_steps():
    params, tx, grad = _setup(freeze_encoder_steps=2)
    state = tx.init(params)
    history = [params]
    for _ in range(3):
        updates, state = tx.update(grad(params), state, params)
        params = optax.apply_updates(params, updates)
        history.append(params)
    first, second, third = (_moved(history[i], history[i + 1]) for i in range(3))
    assert first["encoder"] == 0 and second["encoder"] == 0 and third["encoder"] > 0
    assert first["decoder"] > 0


def test_defaults_keep_plain_adamw_and_a_model_without_encoder_is_named():
    params, tx, _ = _setup()
    plain = optax.adamw(lambda step: 1e-2, weight_decay=0.0)
    assert jax.tree.structure(tx.init(params)) == jax.tree.structure(plain.init(params))
    config = presets.base_config()
    config.encoder_lr_multiplier = 0.5
    tx = train.create_optimizer(config, lambda step: 1e-2)
    with pytest.raises(ValueError, match="need a model with an 'encoder' module"):
        tx.init({"Dense_0": {"kernel": jnp.zeros((2, 2))}})
