"""The classification head: output layout, regression unchanged, a training step."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from colorize_jax.colour import ab_bins
from colorize_jax.components import builder, defaults
from colorize_jax.objectives import heads, step_inputs, terms
from colorize_jax.runtime import sharding
from colorize_jax.training import plain, schemes
from tests.tiny_training import tiny_config


def _head(config):
    """The head `config` builds (as training and inference do)."""
    return builder.build_generator(config)[1]


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "image": jnp.asarray(rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)),
        "mask": jnp.ones((4,), bool),
        "num_skipped": jnp.zeros((4,), jnp.int32),
    }


def test_head_layout_follows_the_active_terms():
    config = tiny_config("unet_lab_classify")
    assert _head(config).num_outputs == 262  # logits only
    config.losses.l1 = 1.0
    head = _head(config)
    assert head.num_outputs == 264 and head.regression_channels == 2
    outputs = jnp.asarray(np.random.default_rng(0).normal(0, 3, (1, 2, 2, 264)), jnp.float32)
    parts = head.split(outputs)
    np.testing.assert_allclose(parts["regression"], np.tanh(outputs[..., :2]), rtol=1e-6)
    np.testing.assert_array_equal(parts["logits"], outputs[..., 2:])
    # Evaluation decodes the annealed mean of the logits (ab / 110), not the regression.
    np.testing.assert_allclose(
        head.predict(outputs),
        ab_bins.annealed_mean(outputs[..., 2:], head.centers, 0.38) / 110.0,
        rtol=1e-6,
    )
    config.classify.decode = "regression"
    np.testing.assert_array_equal(_head(config).predict(outputs), parts["regression"])
    # The regression baseline keeps its own layout and output activation.
    base = tiny_config()
    assert _head(base) == heads.Head(space="lab", regression_channels=2)
    assert _head(base).num_outputs == 2
    base.losses.classify = 1.0
    with pytest.raises(ValueError, match="needs config.classify"):
        _head(base)
    config.model.output_activation = "tanh"
    with pytest.raises(ValueError, match="output_activation='linear'"):
        _head(config)


def test_the_head_takes_its_channels_from_the_kinds_of_the_active_terms():
    config = defaults.complete(tiny_config("unet_lab_classify"))
    layouts = {
        frozenset(kinds): heads.create(config, set(kinds))
        for kinds in (
            {"logits"},
            {"logits", "decoded"},
            {"logits", "adversarial"},
            {"logits", "colour"},
            {"colour"},
        )
    }
    # Logits with decoded or adversarial terms train the decoded colour: no regressed channels.
    for kinds in ({"logits"}, {"logits", "decoded"}, {"logits", "adversarial"}):
        head = layouts[frozenset(kinds)]
        assert (head.regression_channels, head.num_classes, head.decode) == (
            0,
            262,
            "annealed_mean",
        )
    head = layouts[frozenset({"logits", "colour"})]
    assert (head.regression_channels, head.num_outputs, head.decode) == (2, 264, "annealed_mean")
    # No logits term: a tanh regression of the two channels, decoded as such.
    head = layouts[frozenset({"colour"})]
    assert (head.classify, head.num_outputs, head.decode) == (False, 2, "regression")
    assert head.regression_activation == "tanh"
    config.decode_chroma_gain = 0.0
    with pytest.raises(ValueError, match="decode_chroma_gain must be positive, not 0.0"):
        heads.create(config, {"logits"})


def test_the_regression_step_is_bit_identical_to_the_weighted_terms_of_the_raw_outputs():
    """A plain regression head reads the network's outputs as they are: the plain step is
    exactly one optimizer step on 0.5 * L1 + MSE of the raw outputs, written out by hand."""
    config = tiny_config(warmup_steps=0)
    config.losses.update({"l1": 0.5, "mse": 1.0})
    components = builder.build(config)
    assert components.head == heads.Head(space="lab", regression_channels=2)
    state = schemes.create_train_state(components, jax.random.key(0), sharding.create_mesh())

    def by_hand(state, batch):
        generator = state.generator
        _, inputs, targets, dropout_rng = step_inputs.prepare(
            batch, state.step, space="lab", seed=0, input_noise_std=0.0
        )

        def loss_fn(params):
            outputs, updates = generator.apply_fn(
                {**generator.variables, "params": params},
                inputs,
                train=True,
                mutable=["batch_stats"],
                rngs={"dropout": dropout_rng},
            )
            outputs = outputs.astype(jnp.float32)
            total = 0.5 * terms.l1(outputs, targets) + 1.0 * terms.mse(outputs, targets)
            return total, updates.get("batch_stats", {})

        (total, batch_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(generator.params)
        new = generator.apply_gradients(grads, batch_stats=batch_stats)
        return state.replace_network("generator", new).replace(step=state.step + 1), total

    stepped, metrics = jax.jit(functools.partial(plain.train_step, components=components))(
        state, _batch()
    )
    hand, total = jax.jit(by_hand)(state, _batch())
    np.testing.assert_array_equal(metrics["loss"], total)
    leaves = jax.tree_util.tree_leaves(stepped), jax.tree_util.tree_leaves(hand)
    assert len(leaves[0]) == len(leaves[1]) > 10
    for a, b in zip(*leaves, strict=True):
        np.testing.assert_array_equal(a, b)


def test_classify_and_l1_training_decreases_the_loss():
    config = tiny_config(
        "unet_lab_classify", warmup_steps=0, learning_rate=3e-3, num_train_steps=1000
    )
    config.losses.l1 = 1.0
    components = builder.build(config)
    assert components.head.num_outputs == 264
    state = schemes.create_train_state(components, jax.random.key(0), sharding.create_mesh())
    step = jax.jit(schemes.make_step_fn(components))
    # Four flat colours of different lightness: the colour follows from the lightness.
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]], np.uint8)
    batch = {
        **_batch(),
        "image": jnp.asarray(np.broadcast_to(colours[:, None, None], (4, 32, 32, 3))),
    }
    history = []
    for _ in range(8):
        state, metrics = step(state, batch)
        history.append({k: float(v) for k, v in metrics.items()})
    print(
        [round(h["loss_classify"], 3) for h in history], [round(h["loss_l1"], 3) for h in history]
    )
    first, last = history[0], history[-1]
    assert set(first) >= {"loss", "loss_classify", "loss_l1"}
    assert first["loss"] == pytest.approx(first["loss_classify"] + first["loss_l1"], rel=1e-5)
    # Untrained logits are near uniform: cross-entropy about log Q (uniform class weights).
    assert first["loss_classify"] == pytest.approx(np.log(262), rel=0.15)
    classify = [h["loss_classify"] for h in history]
    assert np.all(np.diff(classify) < 0) and classify[-1] < 0.95 * classify[0]
    assert last["loss_l1"] < first["loss_l1"]


def test_unbiased_decoding_divides_the_class_weights_out(tmp_path):
    centers = ab_bins.bin_centers(10.0)
    distribution = np.random.default_rng(4).dirichlet(np.full(len(centers), 0.3))
    prior = tmp_path / "prior.npz"
    ab_bins.save_prior(
        str(prior),
        {
            "distribution": distribution,
            "counts": distribution * 1000,
            "centers": centers,
            "grid_size": np.float64(10.0),
            "num_images": np.int64(3),
        },
    )
    config = tiny_config("unet_lab_classify")
    config.classify.prior_path = str(prior)
    config.classify.decode = "mean"
    config.classify.decode_unbiased = True
    head = _head(config)
    logits = np.random.default_rng(5).normal(0, 2, (3, len(centers))).astype(np.float32)
    # NumPy: the softmax divided by the class weights, renormalized; its expectation over bins.
    weights = head.class_weights
    p = np.exp(logits - logits.max(-1, keepdims=True)) / weights
    expected = (p / p.sum(-1, keepdims=True)) @ centers / 110.0
    np.testing.assert_allclose(head.predict(jnp.asarray(logits)), expected, rtol=1e-4, atol=1e-5)
    assert np.ptp(weights) > 1.0  # a non-uniform prior: the correction does something
    config.classify.decode_unbiased = False
    assert np.abs(_head(config).predict(jnp.asarray(logits)) - expected).max() > 1e-3


def test_decode_chroma_gain_scales_chroma_and_keeps_luma():
    from colorize_jax.colour import colorspace

    rng = np.random.default_rng(0)
    ab = jnp.asarray(rng.uniform(-0.5, 0.5, (4, 4, 2)), jnp.float32)
    np.testing.assert_allclose(heads.scale_chroma(ab, "lab", 1.5), np.clip(1.5 * ab, -1, 1))
    assert heads.scale_chroma(ab, "lab", 1.0) is ab
    np.testing.assert_array_equal(heads.scale_chroma(ab * 4, "yuv", 2.0), np.clip(8 * ab, -1, 1))
    rgb = jnp.asarray(rng.uniform(0.2, 0.8, (4, 4, 3)), jnp.float32)
    scaled = (heads.scale_chroma(rgb * 2 - 1, "rgb", 1.2) + 1) / 2
    np.testing.assert_allclose(
        colorspace.rgb_to_luma(scaled), colorspace.rgb_to_luma(rgb), atol=1e-6
    )
    yuv, yuv_scaled = colorspace.rgb_to_yuv(rgb), colorspace.rgb_to_yuv(scaled)
    np.testing.assert_allclose(yuv_scaled[..., 1:], 1.2 * yuv[..., 1:], atol=1e-5)
