"""Tests of the loss terms against hand computations."""

import jax.numpy as jnp
import numpy as np
import pytest

from colorize_jax import losses


def test_terms_match_hand_computation():
    pred = jnp.array([[0.0, 0.5], [1.0, -1.0]])
    target = jnp.array([[0.2, 0.5], [0.0, -0.5]])
    # errors: 0.2, 0, 1.0, 0.5
    np.testing.assert_allclose(losses.l1(pred, target), (0.2 + 0 + 1.0 + 0.5) / 4, rtol=1e-6)
    np.testing.assert_allclose(losses.mse(pred, target), (0.04 + 0 + 1.0 + 0.25) / 4, rtol=1e-6)
    # huber with delta 0.1: 0.2 -> 0.005 + 0.01; 0 -> 0; 1.0 -> 0.005 + 0.09; 0.5 -> 0.005 + 0.04
    expected = (0.015 + 0 + 0.095 + 0.045) / 4
    np.testing.assert_allclose(losses.huber(pred, target), expected, rtol=1e-6)


def test_weighted_sum_combines_terms_and_reports_each():
    pred = jnp.full((2, 3), 0.5)
    target = jnp.zeros((2, 3))
    total, terms = losses.weighted_sum({"l1": 0.3, "mse": 0.7}, pred, target)
    assert set(terms) == {"l1", "mse"}
    np.testing.assert_allclose(terms["l1"], 0.5)
    np.testing.assert_allclose(terms["mse"], 0.25)
    np.testing.assert_allclose(total, 0.3 * 0.5 + 0.7 * 0.25, rtol=1e-6)


def test_weighted_sum_computes_in_float32():
    pred = jnp.full((4,), 0.5, jnp.bfloat16)
    total, _ = losses.weighted_sum({"l1": 1.0}, pred, jnp.zeros((4,)))
    assert total.dtype == jnp.float32


def test_validate_names_unknown_terms():
    with pytest.raises(ValueError, match="unknown loss term 'l2'.*available: huber, l1, mse"):
        losses.validate({"l2": 1.0})
    with pytest.raises(ValueError, match="no term with a non-zero weight"):
        losses.validate({})
    with pytest.raises(ValueError, match="no term with a non-zero weight"):
        losses.validate({"l1": 0.0})
    losses.validate({"l1": 1.0, "mse": 0.5})


def test_zero_weight_terms_are_skipped():
    pred, target = jnp.full((3,), 0.5), jnp.zeros((3,))
    total, terms = losses.weighted_sum({"l1": 0.0, "mse": 2.0}, pred, target)
    assert set(terms) == {"mse"}
    np.testing.assert_allclose(total, 0.5)
