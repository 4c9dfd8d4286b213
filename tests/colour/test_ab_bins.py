"""ab bins, soft targets, rebalancing, decoding and the classify loss against independent paths."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from skimage import color

from colorize_jax.colour import ab_bins
from colorize_jax.objectives import heads


@pytest.fixture(scope="module")
def centers():
    return ab_bins.bin_centers(10)


def _cells(ab: np.ndarray) -> set[tuple[int, int]]:
    return set(map(tuple, np.round(ab / 10).astype(int) * 10))


def test_bins_are_exactly_the_cells_scikit_image_reaches(centers):
    assert centers.shape == (262, 2)
    assert set(map(tuple, centers.astype(int))) == _cells(
        color.rgb2lab(ab_bins._cube_surface(257))[:, 1:]
    )
    # The whole cube (not just its surface) reaches no other cell.
    v = np.linspace(0.0, 1.0, 33)
    cube = np.stack(np.meshgrid(v, v, v, indexing="ij"), axis=-1).reshape(-1, 3)
    assert _cells(color.rgb2lab(cube)[:, 1:]) <= set(map(tuple, centers.astype(int)))
    np.testing.assert_array_equal(ab_bins.bin_centers(10), centers)  # deterministic


def test_a_far_out_of_gamut_cell_is_not_a_bin(centers):
    assert not np.any(np.all(centers == [-80.0, -80.0], axis=-1))
    # No lightness makes (-80, -80) an sRGB colour: the round trip through RGB clips it.
    lab = np.stack([np.linspace(1, 99, 50), np.full(50, -80.0), np.full(50, -80.0)], axis=-1)
    back = color.rgb2lab(color.lab2rgb(lab))
    assert np.all(np.abs(back[:, 1:] - lab[:, 1:]).max(axis=-1) > 10)


def test_soft_encoding_matches_a_hand_computation(centers):
    targets, nearest = ab_bins.soft_encode(jnp.asarray([[3.0, 4.0]]), centers)
    # The five nearest grid centres of (3, 4) and their squared distances, by hand.
    bins = [(0, 0), (0, 10), (10, 0), (10, 10), (-10, 0)]
    squared = np.array([25.0, 45.0, 65.0, 85.0, 185.0])
    indices = [int(np.flatnonzero(np.all(centers == b, axis=-1))[0]) for b in bins]
    expected = np.exp(-squared / 50.0)
    np.testing.assert_allclose(
        np.asarray(targets[0])[indices], expected / expected.sum(), rtol=1e-5
    )
    assert np.count_nonzero(targets[0]) == 5
    assert float(targets.sum()) == pytest.approx(1.0, abs=1e-6)
    assert int(nearest[0]) == indices[0]


def test_soft_encoding_of_random_ab_sums_to_one_over_five_bins(centers):
    ab = np.random.default_rng(0).uniform(-80, 80, (7, 2)).astype(np.float32)
    targets, nearest = ab_bins.soft_encode(jnp.asarray(ab), centers)
    assert targets.shape == (7, len(centers)) and nearest.shape == (7,)
    np.testing.assert_allclose(targets.sum(-1), 1.0, rtol=1e-6)
    assert np.all(np.count_nonzero(np.asarray(targets), axis=-1) == 5)
    # The weighted bins are the five nearest, by a brute-force NumPy search, nearest heaviest.
    squared = ((ab[:, None, :] - centers[None]) ** 2).sum(-1)
    order = np.argsort(squared, axis=-1)[:, :5]
    np.testing.assert_array_equal(np.sort(np.flatnonzero(targets[0])), np.sort(order[0]))
    weights = np.take_along_axis(np.asarray(targets), order, axis=-1)
    assert np.all(weights > 0) and np.all(np.diff(weights, axis=-1) <= 0)
    np.testing.assert_array_equal(nearest, squared.argmin(-1))
    np.testing.assert_array_equal(ab_bins.nearest_bin(jnp.asarray(ab), centers), squared.argmin(-1))


def test_rebalancing_weights_by_hand():
    far = np.array([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0]])  # too far apart to smooth
    p = np.array([0.7, 0.2, 0.1])
    w = ab_bins.rebalancing_weights(p, far, lam=0.5, sigma=5.0)
    expected = 1.0 / (0.5 * p + 0.5 / 3)
    np.testing.assert_allclose(w, expected / np.sum(p * expected), rtol=1e-6)
    assert np.sum(p * w) == pytest.approx(1.0, rel=1e-6)
    assert w[2] > w[1] > w[0]  # rarer classes weigh more
    np.testing.assert_allclose(ab_bins.rebalancing_weights(p, far, lam=1.0), 1.0, rtol=1e-6)


def test_prior_smoothing_spreads_to_neighbours_by_the_gaussian():
    near = np.array([[0.0, 0.0], [10.0, 0.0]])
    smoothed = ab_bins.smoothed_prior(np.array([1.0, 0.0]), near, sigma=5.0)
    # exp(-10^2 / (2 * 5^2)) = exp(-2) of the mass leaks to the neighbour, then renormalized.
    np.testing.assert_allclose(smoothed, np.array([1.0, np.exp(-2.0)]) / (1 + np.exp(-2.0)))


def test_annealed_mean_against_numpy(centers):
    logits = np.random.default_rng(1).normal(0, 2, (4, len(centers))).astype(np.float32)
    probabilities = np.exp(logits - logits.max(-1, keepdims=True))
    probabilities /= probabilities.sum(-1, keepdims=True)

    def paper(t):  # f_T(z) = exp(log z / T) / sum exp(log z / T), then the expectation
        annealed = np.exp(np.log(probabilities) / t)
        return (annealed / annealed.sum(-1, keepdims=True)) @ centers

    mean = ab_bins.decode(jnp.asarray(logits), centers, "mean", 0.38)
    np.testing.assert_allclose(mean, probabilities @ centers, rtol=1e-4, atol=1e-3)
    annealed = ab_bins.decode(jnp.asarray(logits), centers, "annealed_mean", 0.38)
    np.testing.assert_allclose(annealed, paper(0.38), rtol=1e-4, atol=1e-3)
    mode = centers[logits.argmax(-1)]
    np.testing.assert_array_equal(ab_bins.decode(jnp.asarray(logits), centers, "mode", 0.38), mode)
    np.testing.assert_allclose(ab_bins.annealed_mean(jnp.asarray(logits), centers, 1e-3), mode)
    with pytest.raises(ValueError, match="unknown decode method 'median'"):
        ab_bins.decode(jnp.asarray(logits), centers, "median", 0.38)


def test_classify_loss_against_numpy_cross_entropy(centers):
    rng = np.random.default_rng(2)
    q = len(centers)
    logits = rng.normal(0, 1, (2, 3, 3, q)).astype(np.float32)
    ab = rng.uniform(-60, 60, (2, 3, 3, 2)).astype(np.float32)
    class_weights = rng.uniform(0.5, 2.0, q).astype(np.float32)
    targets, nearest = ab_bins.soft_encode(jnp.asarray(ab), centers)
    got = heads.rebalanced_cross_entropy(
        jnp.asarray(logits), targets, jnp.asarray(class_weights)[nearest]
    )
    # NumPy: a dense soft target over all Q bins, log-softmax, weight of the nearest bin.
    flat_ab, flat_logits = ab.reshape(-1, 2).astype(np.float64), logits.reshape(-1, q)
    total = 0.0
    for x, z in zip(flat_ab, flat_logits, strict=True):
        squared = ((x - centers) ** 2).sum(-1)
        order = np.argsort(squared)[:5]
        target = np.zeros(q)
        target[order] = np.exp(-squared[order] / 50.0)
        target /= target.sum()
        log_p = z - z.max() - np.log(np.exp(z - z.max()).sum())
        total += class_weights[order[0]] * -(target * log_p).sum()
    np.testing.assert_allclose(got, total / len(flat_ab), rtol=1e-5)


def test_bin_counts_skip_masked_values(centers):
    ab = jnp.asarray([[[0.5, 0.5], [0.2, -0.3]], [[31.0, 9.0], [-1.0, 2.0]]])
    counts = ab_bins.bin_counts(ab, centers, jnp.asarray([True, False])[:, None])
    origin = int(np.flatnonzero(np.all(centers == 0, axis=-1))[0])
    assert float(counts.sum()) == 2.0 and float(counts[origin]) == 2.0
    assert counts.dtype == jnp.float32


def test_chroma_mean_keeps_the_means_hue_at_the_expected_chroma(centers):
    logits = np.random.default_rng(6).normal(0, 2, (5, len(centers))).astype(np.float32)
    p = np.exp(logits / 0.5 - (logits / 0.5).max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    mean = p @ centers.astype(np.float64)
    chroma = p @ np.hypot(centers[:, 0], centers[:, 1])
    expected = mean / np.maximum(np.hypot(mean[:, 0], mean[:, 1]), 1.0)[:, None] * chroma[:, None]
    got = ab_bins.decode(jnp.asarray(logits), centers, "chroma_mean", 0.5)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-3)
    # Two opposite bins equally likely: the mean is gray, so there is no hue to scale up.
    a, b = (
        np.flatnonzero(np.all(centers == [30, 0], -1))[0],
        np.flatnonzero(np.all(centers == [-30, 0], -1))[0],
    )
    two = np.full((1, len(centers)), -1e9, np.float32)
    two[0, [a, b]] = 0.0
    np.testing.assert_allclose(
        ab_bins.chroma_mean(jnp.asarray(two), centers), [[0.0, 0.0]], atol=1e-3
    )
    one = np.full((1, len(centers)), -1e9, np.float32)
    one[0, a] = 0.0  # a single bin: its centre, like every decode
    np.testing.assert_allclose(
        ab_bins.chroma_mean(jnp.asarray(one), centers), [[30.0, 0.0]], atol=1e-3
    )
