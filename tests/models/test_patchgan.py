"""PatchGAN discriminator: layout against pix2pix, receptive field, spectral normalization."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from colorize_jax import models, presets
from colorize_jax.components import builder, defaults
from colorize_jax.models.patchgan import PatchGAN, receptive_field
from colorize_jax.runtime import sharding
from colorize_jax.training import schemes
from colorize_jax.training.state import count_params
from configs import pix2pix_lab
from tests.tiny_training import tiny_config


def _shapes(model, size, channels, batch=1):
    x = jnp.zeros((batch, size, size, channels))
    variables = jax.eval_shape(lambda: model.init(jax.random.key(0), x, train=False))
    out = jax.eval_shape(lambda v: model.apply(v, x, train=False), variables)
    return variables, out.shape


def test_default_matches_pix2pix_parameter_count_and_output_shape():
    # pix2pix's default netD on 6-channel (RGB, RGB) pairs, layer by layer: a biased first conv,
    # three bias-free convs each with BatchNorm scale and bias, a biased one-channel conv.
    expected = (
        (4 * 4 * 6 * 64 + 64)
        + (4 * 4 * 64 * 128 + 2 * 128)
        + (4 * 4 * 128 * 256 + 2 * 256)
        + (4 * 4 * 256 * 512 + 2 * 512)
        + (4 * 4 * 512 * 1 + 1)
    )
    assert expected == 2_768_705  # what pix2pix reports for it: "2.769 M"
    variables, shape = _shapes(PatchGAN(), 256, 6, batch=2)
    assert count_params(variables["params"]) == expected
    # 256 / 2**3 = 32, then each stride-1 4x4 conv with padding 1 loses one pixel.
    assert shape == (2, 30, 30, 1)
    assert set(variables) == {"params", "batch_stats"}


def test_norm_choices_change_parameters_as_expected():
    # Without normalization every conv has a bias; instance norm has a scale and a bias.
    plain = (
        (4 * 4 * 3 * 64 + 64)
        + (4 * 4 * 64 * 128 + 128)
        + (4 * 4 * 128 * 256 + 256)
        + (4 * 4 * 256 * 512 + 512)
        + (4 * 4 * 512 + 1)
    )
    variables, _ = _shapes(PatchGAN(norm="none"), 64, 3)
    assert count_params(variables["params"]) == plain
    assert set(variables) == {"params"}
    variables, _ = _shapes(PatchGAN(norm="instance"), 64, 3)
    assert count_params(variables["params"]) == plain - (128 + 256 + 512) + 2 * (128 + 256 + 512)
    assert set(variables) == {"params"}  # no running statistics
    with pytest.raises(ValueError, match="unknown discriminator norm 'layer'"):
        _shapes(PatchGAN(norm="layer"), 64, 3)


@pytest.mark.parametrize(
    "num_layers, size, out",
    [(1, 32, 14), (2, 64, 14), (3, 64, 6), (4, 256, 14)],
)
def test_output_size(num_layers, size, out):
    _, shape = _shapes(PatchGAN(num_layers=num_layers, base_width=4), size, 3)
    assert shape == (1, out, out, 1)


def test_receptive_field_is_70_pixels_for_three_layers():
    assert receptive_field(3) == 70 and receptive_field(2) == 34
    model = PatchGAN(base_width=4, norm="none")
    x = jax.random.normal(jax.random.key(1), (1, 96, 96, 3))
    variables = models.init_variables(model, jax.random.key(0), x.shape)
    # One logit in the middle of the 10x10 map; its gradient is non-zero exactly on its patch.
    grad = jax.grad(lambda x: model.apply(variables, x, train=False)[0, 5, 5, 0])(x)
    rows = np.flatnonzero(np.abs(np.asarray(grad)).sum(axis=(0, 2, 3)))
    cols = np.flatnonzero(np.abs(np.asarray(grad)).sum(axis=(0, 1, 3)))
    assert rows[0] > 0 and rows[-1] < 95  # the patch lies inside the image
    assert rows[-1] - rows[0] + 1 == 70 and len(rows) == 70
    assert cols[-1] - cols[0] + 1 == 70 and len(cols) == 70
    # Patches of neighbouring logits are 2**3 = 8 pixels apart.
    grad = jax.grad(lambda x: model.apply(variables, x, train=False)[0, 6, 5, 0])(x)
    assert np.flatnonzero(np.abs(np.asarray(grad)).sum(axis=(0, 2, 3)))[0] == rows[0] + 8


def test_spectral_norm_estimates_the_largest_singular_value():
    model = PatchGAN(num_layers=1, base_width=8, norm="none", spectral_norm=True)
    x = jax.random.normal(jax.random.key(1), (2, 16, 16, 3))
    variables = models.init_variables(model, jax.random.key(0), x.shape)
    assert set(variables) == {"params", "batch_stats"}

    @jax.jit
    def power_step(variables):
        _, updates = model.apply(variables, x, train=True, mutable=["batch_stats"])
        return {**variables, **updates}

    for _ in range(30):
        variables = power_step(variables)
    stats = variables["batch_stats"]
    for layer, stat in stats.items():
        conv = layer.replace("SpectralNorm", "Conv")
        kernel = np.asarray(variables["params"][conv]["kernel"])
        largest = np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]
        np.testing.assert_allclose(stat[f"{conv}/kernel/sigma"], largest, rtol=1e-3)

    # The weights are divided by their norm: scaling every kernel leaves the logits unchanged
    # (evaluation mode needs no mutable collections).
    scaled = jax.tree_util.tree_map_with_path(
        lambda path, p: p * 10.0 if path[-1].key == "kernel" else p, variables["params"]
    )
    logits = model.apply(variables, x, train=False)
    np.testing.assert_allclose(
        model.apply({**variables, "params": scaled}, x, train=False), logits, rtol=1e-4, atol=1e-5
    )
    plain = PatchGAN(num_layers=1, base_width=8, norm="none")
    unnormalized = plain.apply({"params": variables["params"]}, x, train=False)
    assert not np.allclose(unnormalized, logits, atol=1e-3)


@pytest.mark.parametrize("preset", presets.PRESETS)
def test_pix2pix_discriminator_builds_with_every_preset(preset):
    config = defaults.complete(pix2pix_lab.get_config(preset))  # as training start does
    discriminator = builder.build(config).networks["discriminator"]
    size = config.data.image_size
    assert discriminator.input_channels == 3  # L + ab
    variables, shape = _shapes(discriminator.model, size, discriminator.input_channels)
    assert shape[-1] == 1 and shape[1] >= 2
    assert count_params(variables["params"]) > 10_000
    if preset in ("cpu", "demo"):
        assert config.discriminator.model.dtype == "float32"
        assert receptive_field(config.discriminator.model.num_layers) < size
    else:
        assert config.discriminator.model.num_layers == 3
        assert config.discriminator.model.dtype == "bfloat16"
    assert config.optimizer.learning_rate == config.discriminator.optimizer.learning_rate == 2e-4
    assert config.optimizer.adam_b1 == config.discriminator.optimizer.adam_b1 == 0.5


def test_spectral_norm_state_advances_in_the_discriminator_update_only():
    overrides = {"discriminator.model.spectral_norm": True, "discriminator.model.norm": "none"}
    config = tiny_config("pix2pix_lab", **overrides)
    components = builder.build(config)
    state = schemes.create_train_state(components, jax.random.key(0), sharding.create_mesh())
    batch = {
        "image": jnp.asarray(np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), np.uint8)),
        "num_skipped": jnp.zeros((4,), jnp.int32),
    }
    step = models.compile_init(
        schemes.make_step_fn(components), state, batch
    )  # unoptimized: faster
    new_state, metrics = step(state, batch)
    assert np.isfinite(float(metrics["loss_discriminator"]))
    before = state.networks["discriminator"]
    after = new_state.networks["discriminator"]

    # The power iteration does not depend on the data: one step per discriminator pass, from the
    # stored vector. The update makes two passes (real, then fake) with the parameters before it;
    # the generator's pass through the updated discriminator must leave no trace.
    def power_steps(variables, n):
        x = jnp.zeros((1, 32, 32, 3))
        for _ in range(n):
            _, updates = before.apply_fn(variables, x, train=True, mutable=["batch_stats"])
            variables = {**variables, **updates}
        return variables["batch_stats"]

    expected = power_steps(before.variables, 2)
    jax.tree_util.tree_map(
        lambda a, e: np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-6),
        after.batch_stats,
        expected,
    )
    one_more = power_steps({"params": after.params, "batch_stats": expected}, 1)
    differs = jax.tree_util.tree_map(
        lambda a, b: not np.allclose(a, b, rtol=1e-5, atol=1e-6), after.batch_stats, one_more
    )
    assert any(jax.tree_util.tree_leaves(differs))
