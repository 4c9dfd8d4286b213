"""Tests of the transformer blocks and the U-Net's optional bottleneck attention."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from colorize_jax import models
from colorize_jax.models import attention
from colorize_jax.training.state import count_params
from tests.model_fitting import fit_losses


def _unet(**overrides):
    config = {
        "name": "unet",
        "depth": 2,
        "base_width": 8,
        "bottleneck_attention_blocks": 1,
        **overrides,
    }
    return models.create_model(config, num_outputs=2)


def test_sincos_embedding_layout():
    embedding = attention.sincos_position_embedding(3, 5, 8)
    assert embedding.shape == (15, 8)
    # Token (row 2, col 4): channels 0-1 sin of the row, 2-3 cos of the row, 4-7 the column.
    frequencies = np.array([1.0, 0.01])
    np.testing.assert_allclose(embedding[2 * 5 + 4, :2], np.sin(2 * frequencies), rtol=1e-6)
    np.testing.assert_allclose(embedding[2 * 5 + 4, 2:4], np.cos(2 * frequencies), rtol=1e-6)
    np.testing.assert_allclose(embedding[2 * 5 + 4, 4:6], np.sin(4 * frequencies), rtol=1e-6)
    np.testing.assert_allclose(embedding[2 * 5 + 4, 6:], np.cos(4 * frequencies), rtol=1e-6)
    assert len({tuple(row) for row in embedding}) == 15  # Every position is distinct.
    with pytest.raises(ValueError, match="divisible by 4"):
        attention.sincos_position_embedding(2, 2, 6)


def test_transformer_block_parameter_count_and_residual_shape():
    channels, tokens = 16, 6
    block = attention.TransformerBlock(num_heads=4)
    x = jnp.ones((2, tokens, channels))
    variables = models.compile_init(block.init, jax.random.key(0), x)(jax.random.key(0), x)
    # Two LayerNorms (scale, bias), q/k/v/out projections with biases, MLP 16 -> 64 -> 16.
    expected = 2 * 2 * channels + 4 * (channels * channels + channels)
    expected += (channels * 4 * channels + 4 * channels) + (4 * channels * channels + channels)
    assert count_params(variables["params"]) == expected
    assert jax.jit(block.apply)(variables, x).shape == x.shape


def test_attention_mixes_information_across_positions():
    # A change at one position reaches every other one (a conv stack of this depth could not).
    model = attention.BottleneckTransformer(num_blocks=1, num_heads=2)
    x = jax.random.normal(jax.random.key(1), (1, 4, 4, 8))
    variables = models.init_variables(model, jax.random.key(0), x.shape)
    # One channel only: LayerNorm would cancel a shift of all channels of a token.
    changed = x.at[0, 0, 0, 0].add(5.0)
    apply = jax.jit(model.apply)
    difference = jnp.abs(apply(variables, changed) - apply(variables, x))
    assert float(difference[0, 3, 3].max()) > 1e-4


@pytest.mark.parametrize("position_embedding", ["sincos", "learned"])
def test_unet_with_attention_matches_any_input_size(position_embedding):
    model = _unet(position_embedding=position_embedding)
    variables = models.init_variables(model, jax.random.key(0), (1, 16, 16, 1))
    y = jax.jit(model.apply)(variables, jnp.zeros((1, 100, 70, 1)))  # A 25 x 18 token grid.
    assert y.shape == (1, 100, 70, 2)
    assert np.all(np.isfinite(np.asarray(y)))


def test_attention_blocks_add_their_parameters_to_the_unet():
    x = jnp.zeros((1, 16, 16, 1))
    counts = {}
    for blocks, embedding in [(0, "sincos"), (2, "sincos"), (2, "learned")]:
        model = _unet(bottleneck_attention_blocks=blocks, position_embedding=embedding)
        variables = jax.eval_shape(model.init, jax.random.key(0), x)
        counts[blocks, embedding] = count_params(variables["params"])
    width = 32  # Bottleneck of depth 2, base width 8.
    per_block = 2 * 2 * width + 4 * (width * width + width) + 8 * width * width + 5 * width
    final_norm = 2 * width
    assert counts[2, "sincos"] - counts[0, "sincos"] == 2 * per_block + final_norm
    assert counts[2, "learned"] - counts[2, "sincos"] == 16 * 16 * width


def test_heads_must_divide_the_bottleneck_width():
    model = _unet(attention_heads=5)
    with pytest.raises(ValueError, match="32 channels cannot be split into 5 heads"):
        jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 8, 8, 1)))


def test_unknown_position_embedding_is_a_clear_error():
    model = _unet(position_embedding="rope")
    with pytest.raises(ValueError, match="unknown position embedding 'rope'"):
        jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 8, 8, 1)))


def test_unet_with_attention_loss_decreases_on_a_small_batch():
    losses = fit_losses(_unet())
    assert losses[-1] < 0.5 * losses[0]
