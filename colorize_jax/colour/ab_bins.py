"""Colour classes over quantized ab (Zhang, Isola & Efros 2016, "Colorful Image Colorization").

The ab plane is cut into square cells of side `grid_size` centred on multiples of it; a pixel's
cell is its ab rounded to the nearest centre. The classes are the in-gamut cells: those that
some sRGB colour, at some lightness, falls into. They are computed here from this project's own
conversion (`colorspace.rgb_to_lab`), so they depend on `grid_size` alone and are rebuilt
exactly from the config; nothing about them needs to be stored beside a checkpoint.

Why the cube's surface suffices: rgb -> Lab is a homeomorphism, so the gamut solid's boundary
is the image of the cube's six faces. Each vertical line (fixed ab, varying L) that meets the
solid meets its boundary, so the ab set of the solid equals the ab set of the faces. Sampling
the faces with 513 points per edge (a nested refinement of 257; both give the same cells, as do
2049 points per edge and the full cube at 128 levels) is therefore the dense sampling.

With grid_size 10 this gives Q = 262 classes, not the paper's 313: the paper's set is larger
than the cells that sRGB reaches by our definition (even shifting every sampled colour by up to
5 ab units along a and b still reaches only 306 cells), so it came from a looser test.

Everything that runs inside the train or eval step is written in jax.numpy; the prior
(`smoothed_prior`, `rebalancing_weights`) is host-side numpy.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from etils import epath

from colorize_jax.colour import colorspace

SAMPLES_PER_EDGE = 513
DECODE_METHODS = ("annealed_mean", "mode", "mean", "chroma_mean")


def _cube_surface(samples_per_edge: int) -> np.ndarray:
    """sRGB colours (n, 3) on a regular grid over the six faces of the unit cube."""
    v = np.linspace(0.0, 1.0, samples_per_edge)
    u, w = (x.ravel() for x in np.meshgrid(v, v, indexing="ij"))
    faces = []
    for axis in range(3):
        for value in (0.0, 1.0):
            columns = [u, w]
            columns.insert(axis, np.full_like(u, value))
            faces.append(np.stack(columns, axis=-1))
    return np.concatenate(faces)


@functools.lru_cache(maxsize=8)
def bin_centers(grid_size: float = 10.0) -> np.ndarray:
    """The in-gamut bin centres (Q, 2) in ab units, float32, sorted by a then b.

    Deterministic for a given `grid_size`; the array is read-only (it is cached).
    """
    if grid_size <= 0:
        raise ValueError(f"grid_size must be positive, got {grid_size}")
    ab = colorspace.rgb_to_lab(_cube_surface(SAMPLES_PER_EDGE))[:, 1:]
    cells = np.unique(np.round(ab / grid_size).astype(np.int64), axis=0)  # lexicographic order
    centers = (cells * float(grid_size)).astype(np.float32)
    centers.flags.writeable = False
    return centers


def _squared_distances(ab: jax.Array, centers: np.ndarray) -> jax.Array:
    """|ab - c|^2 for every centre: shape ab.shape[:-1] + (Q,)."""
    diff = ab[..., None, :] - jnp.asarray(centers)
    return jnp.sum(jnp.square(diff), axis=-1)


def nearest_bin(ab: jax.Array, centers: np.ndarray) -> jax.Array:
    """Index of the bin centre nearest to each ab value (..., 2) -> (...,) int32."""
    return jnp.argmin(_squared_distances(jnp.asarray(ab, jnp.float32), centers), axis=-1).astype(
        jnp.int32
    )


def soft_encode(
    ab: jax.Array, centers: np.ndarray, *, num_nearest: int = 5, sigma: float = 5.0
) -> tuple[jax.Array, jax.Array]:
    """Soft class targets of ab values (..., 2) in ab units.

    Returns (targets, nearest): `targets` (..., Q) holds Gaussian weights exp(-d^2 / (2 sigma^2))
    of the distances d to the `num_nearest` nearest bins, zero elsewhere, normalized to sum to
    1; `nearest` (...,) is the index of the nearest bin. Dense on purpose: picking the bins by
    repeated argmin and weighting them through a mask are plain vectorized passes, where top_k
    and the gather/scatter of sparse indices ran about 30x slower on XLA's CPU backend.
    """
    squared = _squared_distances(jnp.asarray(ab, jnp.float32), centers)
    classes = jnp.arange(squared.shape[-1])
    remaining, selected = squared, jnp.zeros(squared.shape, bool)
    for _ in range(num_nearest):
        hit = classes == jnp.argmin(remaining, axis=-1)[..., None]
        selected = selected | hit
        remaining = jnp.where(hit, jnp.inf, remaining)
    nearest_squared = jnp.min(squared, axis=-1, keepdims=True)
    # Subtracting the nearest distance first keeps the exponentials away from underflow.
    weights = jnp.where(selected, jnp.exp(-(squared - nearest_squared) / (2.0 * sigma**2)), 0.0)
    targets = weights / jnp.sum(weights, axis=-1, keepdims=True)
    return targets, jnp.argmin(squared, axis=-1).astype(jnp.int32)


def bin_counts(ab: jax.Array, centers: np.ndarray, mask: jax.Array | None = None) -> jax.Array:
    """How many ab values (..., 2) fall nearest to each bin: (Q,) float32.

    `mask` (broadcastable to ab.shape[:-1]) leaves out the values where it is False.
    """
    nearest = nearest_bin(ab, centers).ravel()
    weights = jnp.ones(nearest.shape, jnp.float32)
    if mask is not None:
        weights = jnp.broadcast_to(mask, ab.shape[:-1]).ravel().astype(jnp.float32)
    return jnp.zeros(len(centers), jnp.float32).at[nearest].add(weights)


def smoothed_prior(
    distribution: np.ndarray, centers: np.ndarray, *, sigma: float = 5.0
) -> np.ndarray:
    """A bin distribution convolved with a Gaussian of `sigma` ab units over the bins, sum 1."""
    distribution = np.asarray(distribution, np.float64)
    centers = np.asarray(centers, np.float64)
    squared = np.sum(np.square(centers[:, None, :] - centers[None, :, :]), axis=-1)
    smoothed = np.exp(-squared / (2.0 * sigma**2)) @ distribution
    return smoothed / smoothed.sum()


def rebalancing_weights(
    distribution: np.ndarray, centers: np.ndarray, *, lam: float = 0.5, sigma: float = 5.0
) -> np.ndarray:
    """Class weights w ∝ ((1 - lam) p̃ + lam / Q)^-1, normalized so that sum(p̃ w) = 1.

    p̃ is `distribution` (the empirical bin frequencies, any scale) smoothed by
    `smoothed_prior`. lam = 1 gives uniform weights; lam = 0 weights each class by 1 / p̃.
    Returns float32 (Q,).
    """
    prior = smoothed_prior(distribution, centers, sigma=sigma)
    weights = 1.0 / ((1.0 - lam) * prior + lam / len(prior))
    return (weights / np.sum(prior * weights)).astype(np.float32)


def annealed_mean(logits: jax.Array, centers: np.ndarray, temperature: float = 0.38) -> jax.Array:
    """The paper's annealed mean: sum_q softmax(log p / T)_q c_q, (..., Q) -> (..., 2).

    softmax(log softmax(z) / T) = softmax(z / T), so the logits are rescaled directly.
    T = 1 is the mean of the predicted distribution, T -> 0 its mode.
    """
    probabilities = jax.nn.softmax(logits.astype(jnp.float32) / temperature, axis=-1)
    return probabilities @ jnp.asarray(centers)


def chroma_mean(logits: jax.Array, centers: np.ndarray, temperature: float = 1.0) -> jax.Array:
    """The mean's hue at the distribution's expected chroma, (..., Q) -> (..., 2).

    With p = softmax(z / T), the mean m = sum_q p_q c_q is the MSE-optimal ab, but averaging
    over hues shrinks its chroma |m| (the brown, washed-out look). This keeps m's direction and
    gives it the expected chroma E_p|c|: per pixel the squared error grows only by
    (E_p|c| - |m|)^2 over the mean's, far less than picking a mode when the hues disagree.
    """
    probabilities = jax.nn.softmax(logits.astype(jnp.float32) / temperature, axis=-1)
    centers = jnp.asarray(centers)
    mean = probabilities @ centers
    expected_chroma = probabilities @ jnp.linalg.norm(centers, axis=-1)
    # Below 1 ab unit the mean's direction is noise: scale less (the result stays <= E|c|).
    return mean * (expected_chroma / jnp.maximum(jnp.linalg.norm(mean, axis=-1), 1.0))[..., None]


def mode(logits: jax.Array, centers: np.ndarray) -> jax.Array:
    """The centre of the most probable bin, (..., Q) -> (..., 2)."""
    return jnp.asarray(centers)[jnp.argmax(logits, axis=-1)]


def decode(logits: jax.Array, centers: np.ndarray, method: str, temperature: float) -> jax.Array:
    """ab (..., 2) in ab units from class logits, by `method` (one of `DECODE_METHODS`)."""
    if method == "annealed_mean":
        return annealed_mean(logits, centers, temperature)
    if method == "mean":
        return annealed_mean(logits, centers, 1.0)
    if method == "mode":
        return mode(logits, centers)
    if method == "chroma_mean":
        return chroma_mean(logits, centers, temperature)
    raise ValueError(f"unknown decode method {method!r}: use one of {', '.join(DECODE_METHODS)}")


def save_prior(path: str, prior: dict[str, np.ndarray]) -> None:
    """Writes `prior` (from `ab_prior.compute_prior`) to `path` as .npz."""
    path = epath.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        np.savez(f, **prior)


def load_prior(path: str, grid_size: float) -> np.ndarray:
    """The (Q,) bin distribution saved at `path`, checked against the bins of `grid_size`."""
    path = epath.Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"no ab prior at {path}: compute it with `python -m colorize_jax.tools.ab_prior`"
        )
    with path.open("rb") as f:
        saved = dict(np.load(f))
    centers = bin_centers(grid_size)
    if saved["centers"].shape != centers.shape or not np.array_equal(saved["centers"], centers):
        raise ValueError(
            f"the ab prior {path} was computed for other bins (grid {float(saved['grid_size'])}, "
            f"{len(saved['centers'])} bins) than config.classify.grid_size={grid_size} "
            f"({len(centers)} bins)"
        )
    return saved["distribution"]
