"""Colour-space conversions shared by the host pipeline (numpy) and the device (jax.numpy).

Every function picks its array module from its input: a `jax.Array` (tracers included) is
computed with `jax.numpy`, anything else with numpy. Shapes are any leading shape with the
channels last.

CIELAB follows exactly the definition of `skimage.color.rgb2lab` / `lab2rgb` (sRGB with the
0.04045 / 0.0031308 thresholds, the sRGB-to-XYZ matrix and D65/2-degree white point from
scikit-image, and its CIE constants 0.008856 / 7.787 / 0.2068966), so values agree with
scikit-image up to float rounding. The power and cube-root branches are evaluated on clamped
arguments so that gradients stay finite everywhere (also at black and on the gamut surface).

YUV is BT.601 analogue YUV with scikit-image's matrix (`skimage.color.rgb2yuv`):
Y = 0.299 R + 0.587 G + 0.114 B, U ~= 0.492 (B - Y), V ~= 0.877 (R - Y), hence
U in [-U_MAX, U_MAX] and V in [-V_MAX, V_MAX] for RGB in [0, 1].

Model inputs and targets (`encode`) are float32 and scaled to about [-1, 1]:

    space  inputs (..., 1)   targets (..., C)
    lab    L / 50 - 1        (a, b) / 110
    rgb    luma * 2 - 1      rgb * 2 - 1
    yuv    Y * 2 - 1         (U / U_MAX, V / V_MAX)
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

SPACES = ("lab", "rgb", "yuv")
_TARGET_CHANNELS = {"lab": 2, "rgb": 3, "yuv": 2}

# sRGB (linear) -> XYZ, and the D65 / 2-degree white, as scikit-image defines them.
XYZ_FROM_RGB = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ]
)
RGB_FROM_XYZ = np.linalg.inv(XYZ_FROM_RGB)
D65_WHITE = (0.95047, 1.0, 1.08883)

YUV_FROM_RGB = np.array(
    [
        [0.299, 0.587, 0.114],
        [-0.14714119, -0.28886916, 0.43601035],
        [0.61497538, -0.51496512, -0.10001026],
    ]
)
RGB_FROM_YUV = np.linalg.inv(YUV_FROM_RGB)
U_MAX = float(YUV_FROM_RGB[1, 2])  # U of pure blue
V_MAX = float(YUV_FROM_RGB[2, 0])  # V of pure red

LAB_AB_SCALE = 110.0

_SRGB_DECODE_THRESHOLD = 0.04045
_SRGB_ENCODE_THRESHOLD = 0.0031308
_LAB_EPSILON = 0.008856
_LAB_F_THRESHOLD = 0.2068966
_LAB_SLOPE = 7.787
_LAB_OFFSET = 16.0 / 116.0


def _module(*arrays: Any):
    """jax.numpy if any argument is a jax array (or tracer), else numpy."""
    return jnp if any(isinstance(a, jax.Array) for a in arrays) else np


def _as_float(x: Any, xp) -> Any:
    """`x` as an array of its own float dtype, or float32 when it is not floating point."""
    x = xp.asarray(x)
    return x if xp.issubdtype(x.dtype, xp.floating) else x.astype(xp.float32)


def _apply_matrix(x: Any, matrix: np.ndarray, xp) -> Any:
    """`x @ matrix.T` over the last axis, as explicit multiply-adds.

    Written out rather than as a matmul so that float32 stays exact float32 on accelerators
    whose default matmul precision is reduced (TF32 / bfloat16 passes).
    """
    channels = [x[..., j] for j in range(3)]
    rows = [sum(float(matrix[i, j]) * channels[j] for j in range(3)) for i in range(3)]
    return xp.stack(rows, axis=-1)


def _srgb_to_linear(c: Any, xp) -> Any:
    safe = xp.maximum(c, _SRGB_DECODE_THRESHOLD)  # keeps the power (and its gradient) finite
    return xp.where(c > _SRGB_DECODE_THRESHOLD, ((safe + 0.055) / 1.055) ** 2.4, c / 12.92)


def _linear_to_srgb(c: Any, xp) -> Any:
    safe = xp.maximum(c, _SRGB_ENCODE_THRESHOLD)
    return xp.where(c > _SRGB_ENCODE_THRESHOLD, 1.055 * safe ** (1 / 2.4) - 0.055, c * 12.92)


def rgb_to_lab(rgb: Any) -> Any:
    """sRGB in [0, 1] (channels last) -> CIELAB (L in [0, 100]), as `skimage.color.rgb2lab`.

    Floating inputs keep their dtype; other dtypes are computed in float32.
    """
    xp = _module(rgb)
    rgb = _as_float(rgb, xp)
    xyz = _apply_matrix(_srgb_to_linear(rgb, xp), XYZ_FROM_RGB, xp)
    t = xyz / xp.asarray(D65_WHITE, dtype=rgb.dtype)
    safe = xp.maximum(t, _LAB_EPSILON)  # cbrt has an infinite slope at 0
    f = xp.where(t > _LAB_EPSILON, xp.cbrt(safe), _LAB_SLOPE * t + _LAB_OFFSET)
    fx, fy, fz = f[..., 0], f[..., 1], f[..., 2]
    return xp.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


def lab_to_rgb(lab: Any) -> Any:
    """CIELAB -> sRGB in [0, 1], as `skimage.color.lab2rgb`.

    Out-of-gamut colours never give NaN: negative z is clipped to 0 (as scikit-image does)
    and the result is clipped to [0, 1].
    """
    xp = _module(lab)
    lab = _as_float(lab, xp)
    fy = (lab[..., 0] + 16.0) / 116.0
    fx = lab[..., 1] / 500.0 + fy
    fz = xp.maximum(fy - lab[..., 2] / 200.0, 0.0)
    f = xp.stack([fx, fy, fz], axis=-1)
    t = xp.where(f > _LAB_F_THRESHOLD, f**3, (f - _LAB_OFFSET) / _LAB_SLOPE)
    xyz = t * xp.asarray(D65_WHITE, dtype=lab.dtype)
    linear = _apply_matrix(xyz, RGB_FROM_XYZ, xp)
    return xp.clip(_linear_to_srgb(linear, xp), 0.0, 1.0)


def rgb_to_yuv(rgb: Any) -> Any:
    """RGB in [0, 1] -> BT.601 YUV with scikit-image's matrix (see module docstring)."""
    xp = _module(rgb)
    return _apply_matrix(_as_float(rgb, xp), YUV_FROM_RGB, xp)


def yuv_to_rgb(yuv: Any) -> Any:
    """Exact inverse of `rgb_to_yuv` (not clipped, like `skimage.color.yuv2rgb`)."""
    xp = _module(yuv)
    return _apply_matrix(_as_float(yuv, xp), RGB_FROM_YUV, xp)


def rgb_to_luma(rgb: Any) -> Any:
    """BT.601 luma Y = 0.299 R + 0.587 G + 0.114 B, keeping a channel axis: (..., 1)."""
    xp = _module(rgb)
    rgb = _as_float(rgb, xp)
    weights = YUV_FROM_RGB[0]
    luma = sum(float(weights[j]) * rgb[..., j] for j in range(3))
    return luma[..., None]


def _check_space(space: str) -> None:
    if space not in SPACES:
        raise ValueError(f"Unknown colour space {space!r}; valid spaces: {', '.join(SPACES)}.")


def target_channels(space: str) -> int:
    """Number of channels the model predicts for `space` (lab: 2, rgb: 3, yuv: 2)."""
    _check_space(space)
    return _TARGET_CHANNELS[space]


def encode(rgb_uint8: Any, space: str) -> tuple[Any, Any]:
    """RGB images with values 0..255 (uint8, or float) -> float32 `(inputs, targets)`.

    `inputs` (..., 1) is the lightness and `targets` (..., C) the colour to predict, both
    scaled to about [-1, 1] as the module docstring tabulates.
    """
    _check_space(space)
    xp = _module(rgb_uint8)
    rgb = xp.asarray(rgb_uint8).astype(xp.float32) / 255.0
    if space == "lab":
        lab = rgb_to_lab(rgb)
        return lab[..., :1] / 50.0 - 1.0, lab[..., 1:] / LAB_AB_SCALE
    if space == "rgb":
        return rgb_to_luma(rgb) * 2.0 - 1.0, rgb * 2.0 - 1.0
    yuv = rgb_to_yuv(rgb)
    scale = xp.asarray([U_MAX, V_MAX], dtype=xp.float32)
    return yuv[..., :1] * 2.0 - 1.0, yuv[..., 1:] / scale


def scale_chroma(targets: Any, space: str, gain: float) -> Any:
    """Colour targets with their chroma multiplied by `gain`, clipped to the targets' [-1, 1].

    ab (lab) and UV (yuv) are chroma themselves; RGB is scaled about its luma (which stays as
    it is, up to the clipping). `gain` 1 returns `targets` itself, untouched. Used on training
    targets (`config.data.target_chroma_gain`, DDColor's x1.2) and on predictions at decode
    (`config.decode_chroma_gain`, see `heads`).
    """
    if gain == 1.0:
        return targets
    xp = _module(targets)
    if space == "rgb":
        weights = YUV_FROM_RGB[0]
        luma = sum(float(weights[j]) * targets[..., j] for j in range(3))[..., None]
        return xp.clip(luma + gain * (targets - luma), -1.0, 1.0)
    _check_space(space)
    return xp.clip(targets * gain, -1.0, 1.0)


MID_LIGHTNESS = {"lab": 50.0, "yuv": 0.5}  # L of CIELAB; Y of YUV (RGB in [0, 1])


def chroma_rgb(targets: Any, space: str) -> Any:
    """RGB in [0, 1] of colour `targets` (scaled as `encode`'s) without their lightness.

    lab and yuv targets hold chroma only: they are joined to the fixed mid lightness
    `MID_LIGHTNESS` (L = 50, Y = 0.5) and converted (clipped to the gamut); rgb targets are a
    full image, taken as they are. Differentiable (the colourfulness loss term uses it).
    """
    _check_space(space)
    xp = _module(targets)
    targets = _as_float(xp.asarray(targets), xp)
    if space == "rgb":
        return xp.clip((targets + 1.0) / 2.0, 0.0, 1.0)
    lightness = xp.full(targets.shape[:-1] + (1,), MID_LIGHTNESS[space], targets.dtype)
    if space == "lab":
        return lab_to_rgb(xp.concatenate([lightness, targets * LAB_AB_SCALE], axis=-1))
    scale = xp.asarray([U_MAX, V_MAX], dtype=targets.dtype)
    return xp.clip(yuv_to_rgb(xp.concatenate([lightness, targets * scale], axis=-1)), 0.0, 1.0)


def decode(inputs: Any, targets: Any, space: str, truth_rgb: Any = None) -> Any:
    """Model `inputs` and (predicted) `targets` -> RGB in [0, 1], clipped.

    For lab and yuv the lightness comes from `inputs`. For rgb the targets already hold a full
    image; if `truth_rgb` (RGB in [0, 1]) is given, the result takes the CIELAB lightness of
    `truth_rgb` and the a/b of the prediction, otherwise it is the predicted RGB as is.
    """
    _check_space(space)
    xp = _module(inputs, targets, truth_rgb)
    inputs = _as_float(xp.asarray(inputs), xp)
    targets = _as_float(xp.asarray(targets), xp)
    if space == "lab":
        lab = xp.concatenate([(inputs + 1.0) * 50.0, targets * LAB_AB_SCALE], axis=-1)
        return lab_to_rgb(lab)
    if space == "yuv":
        scale = xp.asarray([U_MAX, V_MAX], dtype=targets.dtype)
        yuv = xp.concatenate([(inputs + 1.0) / 2.0, targets * scale], axis=-1)
        return xp.clip(yuv_to_rgb(yuv), 0.0, 1.0)
    rgb = xp.clip((targets + 1.0) / 2.0, 0.0, 1.0)
    if truth_rgb is None:
        return rgb
    truth_lightness = rgb_to_lab(_as_float(xp.asarray(truth_rgb), xp))[..., :1]
    lab = xp.concatenate([truth_lightness.astype(rgb.dtype), rgb_to_lab(rgb)[..., 1:]], axis=-1)
    return lab_to_rgb(lab)


def to_uint8(rgb_float: Any) -> Any:
    """RGB in [0, 1] -> uint8 0..255, rounded to nearest and clipped."""
    xp = _module(rgb_float)
    scaled = xp.round(xp.asarray(rgb_float) * 255.0)
    return xp.clip(scaled, 0, 255).astype(xp.uint8)


def lab_to_rgb_keep_lightness(lab: Any, *, iterations: int = 12) -> Any:
    """CIELAB -> sRGB in [0, 1] that keeps each pixel's L, shrinking its chroma into the gamut.

    `lab_to_rgb` clips out-of-gamut colours channel by channel, which changes their lightness
    (a too-saturated red at L 30 comes back lighter or darker). Here each pixel's (a, b) is
    scaled by the largest factor in [0, 1] (found by bisection, to 2^-iterations) whose colour
    is in the sRGB gamut, so hue and L are kept and only chroma is lost.
    """
    xp = _module(lab)
    lab = _as_float(xp.asarray(lab), xp)
    if xp is np:  # bisect only the out-of-gamut pixels: most colours need nothing
        lab = lab.copy()
        outside = ~_in_gamut(lab, np)
        if outside.any():
            lab[outside] = _shrink_chroma(lab[outside], np, iterations)
        return lab_to_rgb(lab)
    return lab_to_rgb(_shrink_chroma(lab, xp, iterations))


def _in_gamut(lab: Any, xp) -> Any:
    linear = _lab_to_linear_rgb(lab, xp)
    return xp.all((linear >= -1e-6) & (linear <= 1.0 + 1e-6), axis=-1)


def _shrink_chroma(lab: Any, xp, iterations: int) -> Any:
    """`lab` with each (a, b) scaled by the largest in-gamut factor in [0, 1] (bisection)."""
    lightness, ab = lab[..., :1], lab[..., 1:]

    def in_gamut(scale):
        return _in_gamut(xp.concatenate([lightness, ab * scale], axis=-1), xp)[..., None]

    low, high = xp.zeros_like(lightness), xp.ones_like(lightness)
    full = in_gamut(high)
    for _ in range(iterations):
        middle = (low + high) / 2
        ok = in_gamut(middle)
        low, high = xp.where(ok, middle, low), xp.where(ok, high, middle)
    return xp.concatenate([lightness, ab * xp.where(full, 1.0, low)], axis=-1)


def _lab_to_linear_rgb(lab: Any, xp) -> Any:
    """CIELAB -> linear sRGB, unclipped (out-of-gamut colours fall outside [0, 1])."""
    fy = (lab[..., 0] + 16.0) / 116.0
    f = xp.stack([lab[..., 1] / 500.0 + fy, fy, fy - lab[..., 2] / 200.0], axis=-1)
    t = xp.where(f > _LAB_F_THRESHOLD, f**3, (f - _LAB_OFFSET) / _LAB_SLOPE)
    return _apply_matrix(t * xp.asarray(D65_WHITE, dtype=lab.dtype), RGB_FROM_XYZ, xp)
