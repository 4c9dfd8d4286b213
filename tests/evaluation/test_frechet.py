"""The Fréchet distance from accumulated moment sums, against SciPy and closed forms."""

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from colorize_jax.evaluation import frechet


def _scipy_distance(x, y):
    """The usual FID computation: np.cov, scipy.linalg.sqrtm of the product, real part."""
    mu_x, mu_y = x.mean(axis=0), y.mean(axis=0)
    cov_x, cov_y = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    root = scipy.linalg.sqrtm(cov_x @ cov_y).real
    return np.sum((mu_x - mu_y) ** 2) + np.trace(cov_x + cov_y - 2 * root)


def _accumulated(features, batch_size=7):
    """Moment sums added up batch by batch, the last batch padded with masked rows."""
    total = {"sum": 0.0, "outer": 0.0}
    for start in range(0, len(features), batch_size):
        batch = features[start : start + batch_size]
        mask = np.ones(batch_size, np.float32)
        mask[len(batch) :] = 0
        padded = np.concatenate([batch, np.full((batch_size - len(batch), batch.shape[1]), 9.0)])
        sums = frechet.moment_sums(jnp.asarray(padded, jnp.float32), jnp.asarray(mask))
        total = {key: total[key] + np.asarray(sums[key], np.float64) for key in total}
    return total


def test_the_distance_of_accumulated_sums_matches_scipy_on_random_features():
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(16, 16)) / 4
    x = rng.normal(size=(60, 16)) @ mixing + 0.3
    y = rng.normal(size=(60, 16)) @ (mixing + 0.2 * rng.normal(size=(16, 16)) / 4) - 0.1
    expected = _scipy_distance(x, y)
    got = frechet.distance_from_sums(60, _accumulated(x), _accumulated(y))
    assert got == pytest.approx(expected, rel=1e-4)
    mean, covariance = frechet.gaussian_from_sums(60, *_accumulated(x).values())
    np.testing.assert_allclose(mean, x.mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(covariance, np.cov(x, rowvar=False), atol=1e-5)
    assert frechet.distance_from_sums(60, _accumulated(x), _accumulated(x)) == pytest.approx(
        0.0, abs=1e-6
    )


def test_known_gaussians_give_the_closed_form():
    # Diagonal covariances: d^2 = |mu1 - mu2|^2 + sum (sqrt(a) - sqrt(b))^2.
    mu_1, mu_2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    expected = 1 + 0 + 4 + (1 - 2) ** 2 + (2 - 1) ** 2 + 0
    assert frechet.distance(mu_1, np.diag(a), mu_2, np.diag(b)) == pytest.approx(expected)
    # Covariances of one eigenbasis (they commute): the same in that basis.
    rotation, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(3, 3)))
    cov_1, cov_2 = rotation @ np.diag(a) @ rotation.T, rotation @ np.diag(b) @ rotation.T
    assert frechet.distance(mu_1, cov_1, mu_2, cov_2) == pytest.approx(expected)
    # Scalar Gaussians: (m1 - m2)^2 + (s1 - s2)^2, also from samples of a point mass.
    assert frechet.distance([0.0], [[4.0]], [3.0], [[1.0]]) == pytest.approx(9 + 1)
    assert frechet.distance([0.0], [[0.0]], [0.0], [[1.0]]) == pytest.approx(1.0)


def test_fewer_samples_than_dimensions_stay_finite_and_agree_with_scipy():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(12, 40)), rng.normal(size=(12, 40)) * 1.5
    got = frechet.distance_from_sums(12, _accumulated(x, 5), _accumulated(y, 5))
    assert np.isfinite(got)
    assert got == pytest.approx(_scipy_distance(x, y), rel=1e-3)
    with pytest.raises(ValueError, match="at least 2"):
        frechet.gaussian_from_sums(1, np.zeros(3), np.zeros((3, 3)))
