"""Shared by the model tests: a few optimizer steps of a model on one small synthetic batch."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from colorize_jax import models


def fit_losses(model, *, steps: int = 30, size: int = 16, learning_rate: float = 1e-2) -> list:
    """The L1 losses of `steps` Adam steps on a fixed batch of 4 `size` x `size` images.

    The targets are a smooth function of the input, so any working network fits them quickly.
    """
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.uniform(-1, 1, (4, size, size, 1)), jnp.float32)
    y = jnp.tanh(jnp.concatenate([x, -x], axis=-1) * 0.5)
    variables = models.init_variables(model, jax.random.key(0), x.shape)
    params, batch_stats = variables["params"], variables.get("batch_stats", {})
    tx = optax.adam(learning_rate)
    opt_state = tx.init(params)

    @jax.jit
    def step(params, batch_stats, opt_state):
        def loss_fn(p):
            out, updates = model.apply(
                {"params": p, "batch_stats": batch_stats}, x, train=True, mutable=["batch_stats"]
            )
            return jnp.mean(jnp.abs(out - y)), updates.get("batch_stats", {})

        (loss, new_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), new_stats, opt_state, loss

    losses = []
    for _ in range(steps):
        params, batch_stats, opt_state, loss = step(params, batch_stats, opt_state)
        losses.append(float(loss))
    return losses
