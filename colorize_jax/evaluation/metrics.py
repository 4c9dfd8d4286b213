"""Per-image colorization metrics in JAX (jit-able, batched over the leading axis).

Every image metric takes `pred` and `truth` RGB batches (B, H, W, 3) holding 0..255 values
(uint8, or float) and returns a float32 array of shape (B,), one value per image. Averaging
over a dataset (and masking padded examples) is left to the caller.

References the tests check against: `skimage.metrics.peak_signal_noise_ratio` and
`structural_similarity` (data_range=255, channel_axis=-1, its defaults),
`skimage.color.deltaE_ciede2000` / `deltaE_cie76` on `skimage.color.rgb2lab`, and numpy
hand computations for colourfulness and the AuC.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from colorize_jax.colour import colorfulness as colorfulness_lib
from colorize_jax.colour import colorspace

PSNR_CAP_DB = 100.0
SSIM_WINDOW = 7
AUC_TOLERANCE = 1e-3  # ab units; 8-bit sRGB steps are ~100x larger
AUC_MAX_THRESHOLD = 150
# The keys of `image_metrics`, in the order evaluation reports them (the "pixel" evaluator).
KEYS = (
    "psnr",
    "ssim",
    "deltae2000",
    "colorfulness",
    "colorfulness_gt",
    "delta_colorfulness",
    "auc_ab",
    "acc_de2.3",
    "acc_de10",
)


def _to_float(images: jax.Array) -> jax.Array:
    return jnp.asarray(images).astype(jnp.float32)


def _to_lab(images: jax.Array) -> jax.Array:
    return colorspace.rgb_to_lab(_to_float(images) / 255.0)


def _per_image_mean(x: jax.Array) -> jax.Array:
    return jnp.mean(x.reshape(x.shape[0], -1), axis=1)


def psnr(pred: jax.Array, truth: jax.Array) -> jax.Array:
    """Peak signal-to-noise ratio in dB for an 8-bit range (255), per image.

    Capped at `PSNR_CAP_DB` = 100 dB (mean squared error floored at 255^2 * 1e-10) so that
    identical images, for which scikit-image returns inf, keep dataset means finite. Only
    near-identical images reach the cap (e.g. a single value off by 1 among > 153,788 values).
    """
    mse = _per_image_mean(jnp.square(_to_float(pred) - _to_float(truth)))
    floor = 255.0**2 * 10.0 ** (-PSNR_CAP_DB / 10.0)
    return 10.0 * jnp.log10(255.0**2 / jnp.maximum(mse, floor))


def _box_mean(x: jax.Array, size: int) -> jax.Array:
    """Mean over every full `size` x `size` window of (B, H, W, C) ("valid" positions only)."""
    total = jax.lax.reduce_window(x, 0.0, jax.lax.add, (1, size, size, 1), (1, 1, 1, 1), "VALID")
    return total / (size * size)


def ssim(pred: jax.Array, truth: jax.Array) -> jax.Array:
    """Mean structural similarity per image, averaged over the RGB channels.

    Same as `skimage.metrics.structural_similarity(p, t, data_range=255, channel_axis=-1)`:
    7x7 uniform window, sample covariance, K1 = 0.01, K2 = 0.03, and only windows that lie
    fully inside the image (scikit-image crops the 3-pixel border its padding affects).
    """
    x, y = _to_float(pred), _to_float(truth)
    # Second moments are taken about a per-image, per-channel constant: SSIM's variances do not
    # depend on it, and it avoids float32 cancellation in E[x^2] - E[x]^2 at 0..255 scale.
    shift = jnp.mean(y, axis=(1, 2), keepdims=True)
    xs, ys = x - shift, y - shift
    moments = _box_mean(jnp.concatenate([xs, ys, xs * xs, ys * ys, xs * ys], axis=-1), SSIM_WINDOW)
    mx, my, mxx, myy, mxy = jnp.split(moments, 5, axis=-1)
    n = SSIM_WINDOW * SSIM_WINDOW
    cov_norm = n / (n - 1)
    var_x = cov_norm * (mxx - mx * mx)
    var_y = cov_norm * (myy - my * my)
    cov_xy = cov_norm * (mxy - mx * my)
    ux, uy = mx + shift, my + shift
    c1 = (0.01 * 255.0) ** 2
    c2 = (0.03 * 255.0) ** 2
    numerator = (2.0 * ux * uy + c1) * (2.0 * cov_xy + c2)
    denominator = (ux * ux + uy * uy + c1) * (var_x + var_y + c2)
    return _per_image_mean(numerator / denominator)


def ciede2000(lab1: jax.Array, lab2: jax.Array) -> jax.Array:
    """Per-pixel CIEDE2000 colour difference (kL = kC = kH = 1) of CIELAB arrays (..., 3).

    Follows Sharma, Wu & Dalal (2005), with the same conventions as
    `skimage.color.deltaE_ciede2000` (hue angles in [0, 2 pi), zero-chroma cases).
    """
    l1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    l2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]
    two_pi = 2.0 * math.pi

    mean_chroma = 0.5 * (jnp.hypot(a1, b1) + jnp.hypot(a2, b2))
    c7 = mean_chroma**7
    a_scale = 1.0 + 0.5 * (1.0 - jnp.sqrt(c7 / (c7 + 25.0**7)))
    c1, c2 = jnp.hypot(a1 * a_scale, b1), jnp.hypot(a2 * a_scale, b2)
    h1 = jnp.mod(jnp.arctan2(b1, a1 * a_scale), two_pi)
    h2 = jnp.mod(jnp.arctan2(b2, a2 * a_scale), two_pi)

    mean_l = 0.5 * (l1 + l2)
    sl = 1.0 + 0.015 * (mean_l - 50.0) ** 2 / jnp.sqrt(20.0 + (mean_l - 50.0) ** 2)
    l_term = (l2 - l1) / sl

    mean_c = 0.5 * (c1 + c2)
    c_term = (c2 - c1) / (1.0 + 0.045 * mean_c)

    chroma_product = c1 * c2
    has_hue = chroma_product != 0.0
    h_diff = h2 - h1
    dh = jnp.where(h_diff > math.pi, h_diff - two_pi, h_diff)
    dh = jnp.where(h_diff < -math.pi, dh + two_pi, dh)
    dh = jnp.where(has_hue, dh, 0.0)
    big_h = 2.0 * jnp.sqrt(chroma_product) * jnp.sin(dh / 2.0)

    h_sum = h1 + h2
    wraps = has_hue & (jnp.abs(h_diff) > math.pi)
    mean_h = jnp.where(wraps & (h_sum < two_pi), h_sum + two_pi, h_sum)
    mean_h = jnp.where(wraps & (h_sum >= two_pi), h_sum - two_pi, mean_h)
    mean_h = jnp.where(has_hue, 0.5 * mean_h, h_sum)
    t = (
        1.0
        - 0.17 * jnp.cos(mean_h - math.radians(30.0))
        + 0.24 * jnp.cos(2.0 * mean_h)
        + 0.32 * jnp.cos(3.0 * mean_h + math.radians(6.0))
        - 0.20 * jnp.cos(4.0 * mean_h - math.radians(63.0))
    )
    h_term = big_h / (1.0 + 0.015 * mean_c * t)

    mean_c7 = mean_c**7
    rc = 2.0 * jnp.sqrt(mean_c7 / (mean_c7 + 25.0**7))
    dtheta = math.radians(30.0) * jnp.exp(-(((jnp.degrees(mean_h) - 275.0) / 25.0) ** 2))
    r_term = -jnp.sin(2.0 * dtheta) * rc * c_term * h_term

    squared = l_term**2 + c_term**2 + h_term**2 + r_term
    return jnp.sqrt(jnp.maximum(squared, 0.0))


def deltae2000(pred: jax.Array, truth: jax.Array) -> jax.Array:
    """Mean CIEDE2000 difference over pixels, per image (truth is the reference colour)."""
    return _per_image_mean(ciede2000(_to_lab(truth), _to_lab(pred)))


def colorfulness(rgb: jax.Array) -> jax.Array:
    """Hasler & Suesstrunk (2003) colourfulness per image, on the 0..255 scale.

    With signed opponent channels rg = R - G and yb = (R + G) / 2 - B:
    sqrt(var(rg) + var(yb)) + 0.3 * sqrt(mean(rg)^2 + mean(yb)^2). Grey images give 0.
    The formula is `colorize_jax.colour.colorfulness.hasler`, shared with the loss term and the
    training-data filter.
    """
    return colorfulness_lib.hasler(_to_float(rgb))


def auc_ab_from_lab(pred_lab: jax.Array, truth_lab: jax.Array) -> jax.Array:
    """Raw-accuracy AuC of Zhang et al. (2016) from CIELAB batches (B, ..., 3), per image.

    The share of pixels whose ab distance is <= t, averaged over the integer thresholds
    t = 0, 1, ..., 150. A pixel at distance d passes the thresholds ceil(d)..150, so its share
    is max(151 - ceil(d), 0) / 151: no (pixels x thresholds) array is built. Distances within
    `AUC_TOLERANCE` of an integer count as that integer: rounding noise of the two colour
    conversions (XLA may fuse them differently) must not fail an exact match at t = 0.
    """
    distance = jnp.linalg.norm(pred_lab[..., 1:] - truth_lab[..., 1:], axis=-1)
    num_thresholds = AUC_MAX_THRESHOLD + 1
    passed = jnp.clip(num_thresholds - jnp.ceil(distance - AUC_TOLERANCE), 0.0, num_thresholds)
    return _per_image_mean(passed) / num_thresholds


def auc_ab(pred: jax.Array, truth: jax.Array) -> jax.Array:
    """Raw-accuracy AuC over ab thresholds 0..150 (1.0 = perfect), per image."""
    return auc_ab_from_lab(_to_lab(pred), _to_lab(truth))


def acc_deltae76(pred: jax.Array, truth: jax.Array, threshold: float) -> jax.Array:
    """Share of pixels whose CIE76 difference (Euclidean in CIELAB) is < `threshold`."""
    return _acc_deltae76_from_lab(_to_lab(pred), _to_lab(truth), threshold)


def _acc_deltae76_from_lab(pred_lab: jax.Array, truth_lab: jax.Array, threshold: float):
    distance = jnp.linalg.norm(pred_lab - truth_lab, axis=-1)
    return _per_image_mean((distance < threshold).astype(jnp.float32))


def image_metrics(pred: jax.Array, truth: jax.Array) -> dict[str, jax.Array]:
    """All per-image metrics (`KEYS`), each of shape (B,): psnr, ssim, deltae2000,
    colorfulness (of the prediction), colorfulness_gt, delta_colorfulness (absolute
    difference), auc_ab, and the shares of pixels with CIE76 difference under 2.3 and 10
    (acc_de2.3, acc_de10)."""
    pred_lab, truth_lab = _to_lab(pred), _to_lab(truth)
    pred_colorfulness, truth_colorfulness = colorfulness(pred), colorfulness(truth)
    return {
        "psnr": psnr(pred, truth),
        "ssim": ssim(pred, truth),
        "deltae2000": _per_image_mean(ciede2000(truth_lab, pred_lab)),
        "colorfulness": pred_colorfulness,
        "colorfulness_gt": truth_colorfulness,
        "delta_colorfulness": jnp.abs(pred_colorfulness - truth_colorfulness),
        "auc_ab": auc_ab_from_lab(pred_lab, truth_lab),
        "acc_de2.3": _acc_deltae76_from_lab(pred_lab, truth_lab, 2.3),
        "acc_de10": _acc_deltae76_from_lab(pred_lab, truth_lab, 10.0),
    }
