"""The Fréchet distance between Gaussian fits of two sets of feature vectors.

    d^2 = |mu_1 - mu_2|^2 + tr(C_1 + C_2 - 2 (C_1 C_2)^(1/2))

the 2-Wasserstein distance between N(mu_1, C_1) and N(mu_2, C_2) (Dowson & Landau 1982), which
FID applies to Inception features. The evaluation applies it to EfficientNet-Lite0's pooled
features and calls it `fd_effnet`: its numbers are not FID's and compare only with each other.

The fits come from sums accumulated batch by batch (`moment_sums` on the device, added up in
float64 on the host by the caller), so no feature is kept: `gaussian_from_sums` turns the count,
the sum and the sum of outer products into the mean and the unbiased covariance.
tr((C_1 C_2)^(1/2)) is computed as the sum of the square roots of the eigenvalues of the
symmetric PSD matrix C_1^(1/2) C_2 C_1^(1/2) (same spectrum as C_1 C_2), which stays real and
exact where a general matrix square root of the product (scipy.linalg.sqrtm) meets rounding
noise, e.g. with fewer samples than dimensions (rank-deficient covariances).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def moment_sums(features: jax.Array, mask: jax.Array) -> dict[str, jax.Array]:
    """{"sum": (D,), "outer": (D, D)} over the rows of (B, D) `features` where `mask` (B,) is 1."""
    weighted = features.astype(jnp.float32) * mask.astype(jnp.float32)[:, None]
    outer = jnp.einsum("bi,bj->ij", weighted, features, precision=jax.lax.Precision.HIGHEST)
    return {"sum": jnp.sum(weighted, axis=0), "outer": outer}


def gaussian_from_sums(
    count: float, total: np.ndarray, outer: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(mean, unbiased covariance) in float64 of `count` vectors with these sums."""
    if count < 2:
        raise ValueError(f"a covariance needs at least 2 feature vectors, not {count}")
    total, outer = np.asarray(total, np.float64), np.asarray(outer, np.float64)
    mean = total / count
    covariance = (outer - count * np.outer(mean, mean)) / (count - 1)
    return mean, (covariance + covariance.T) / 2


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    eigenvalues, eigenvectors = np.linalg.eigh(matrix)
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ eigenvectors.T


def distance(
    mean_1: np.ndarray, covariance_1: np.ndarray, mean_2: np.ndarray, covariance_2: np.ndarray
) -> float:
    """The Fréchet distance (squared, as FID reports it) between two Gaussians, float64."""
    mean_1, mean_2 = np.asarray(mean_1, np.float64), np.asarray(mean_2, np.float64)
    covariance_1 = np.asarray(covariance_1, np.float64)
    covariance_2 = np.asarray(covariance_2, np.float64)
    root_1 = _psd_sqrt(covariance_1)
    middle = root_1 @ covariance_2 @ root_1
    eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2)
    trace_root = float(np.sum(np.sqrt(np.clip(eigenvalues, 0.0, None))))
    squared_mean = float(np.sum(np.square(mean_1 - mean_2)))
    value = squared_mean + float(np.trace(covariance_1) + np.trace(covariance_2)) - 2 * trace_root
    return max(value, 0.0)


def distance_from_sums(count: float, sums_1: dict, sums_2: dict) -> float:
    """`distance` of the Gaussian fits of two `moment_sums` totals over `count` vectors each."""
    return distance(
        *gaussian_from_sums(count, sums_1["sum"], sums_1["outer"]),
        *gaussian_from_sums(count, sums_2["sum"], sums_2["outer"]),
    )
