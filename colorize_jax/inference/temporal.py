"""Temporal consistency around any per-frame colorizer: chroma carried along dense optical flow.

The post-process of Lai et al. 2018 ("Learning Blind Video Temporal Consistency") reduced to its
flow-and-mask core. For each frame t, with the predicted CIELAB chroma P_t and the previous
output chroma O_{t-1}:

  O_t = P_t + s * M_t * (warp(O_{t-1}, b_t) - P_t)

b_t is the dense optical flow from frame t to frame t-1, computed on the gray frames (OpenCV's
DIS flow); warp samples O_{t-1} at x + b_t(x). M_t in {0, 1} is 1 only where that flow can be
trusted: x + b_t(x) lies inside frame t-1, the flow passes the forward-backward check (the flow
back from t-1 to t returns to x), x is not on a motion boundary (both with the thresholds of
Sundaram et al. 2010 that Ruder et al. 2016 use), and the warped lightness of frame t-1 agrees
with frame t's. At a scene cut (the gray histograms differ, or too little of the frame has a
trusted flow) M_t = 0: no colour crosses the cut. The strength s < 1 lets each frame's own
prediction correct drift (O is an exponential average along the motion paths).

Flow and blending run at a working size whose shorter side is at most `flow_size` pixels; the
blended chroma is what `full_resolution.recombine` joins to the frame's full-resolution lightness.
Pure NumPy and OpenCV; no JAX.
"""

from __future__ import annotations

import dataclasses
import functools

import cv2
import numpy as np

# Forward-backward consistency and motion boundaries (Sundaram et al. 2010; Ruder et al. 2016):
# |b + f(x + b)|^2 <= ALPHA (|b|^2 + |f(x + b)|^2) + BETA, in pixels at the working size.
CONSISTENCY_ALPHA, CONSISTENCY_BETA = 0.01, 0.5
# |grad u|^2 + |grad v|^2 > ALPHA |b|^2 + BETA marks a motion boundary.
BOUNDARY_ALPHA, BOUNDARY_BETA = 0.01, 0.002
HISTOGRAM_BINS = 64
# DIS presets: "medium" refines at half resolution (about 7x slower here at 640x360); "fast" at
# a quarter, which is what the blend needs (docs/video.md); metrics use "medium".
FLOW_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


@dataclasses.dataclass(frozen=True)
class TemporalSettings:
    """How strongly and where the previous output's chroma is carried into the next frame."""

    strength: float = 0.8  # s: the previous output's share where the flow is trusted, in [0, 1]
    flow_size: int = 360  # shorter side of the working size (never above the frame's own)
    flow_preset: str = "fast"  # DIS optical flow's preset (`FLOW_PRESETS`)
    lightness_tolerance: float = 6.0  # CIELAB L units between frame t and warped frame t-1
    boundary_beta: float = 0.02  # motion-boundary floor, px^2 (DIS flow is noisier than DeepFlow)
    cut_histogram_distance: float = 0.5  # Bhattacharyya distance of 64-bin gray histograms
    cut_trusted_share: float = 0.2  # a scene cut when less of the frame has a trusted flow

    def __post_init__(self):
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"temporal strength must be in [0, 1], got {self.strength}")
        if self.flow_size < 8:
            raise ValueError(f"flow size must be at least 8 pixels, got {self.flow_size}")
        if self.flow_preset not in FLOW_PRESETS:
            raise ValueError(f"unknown flow preset {self.flow_preset!r}: {', '.join(FLOW_PRESETS)}")


def flow_estimator(preset: str = "medium") -> cv2.DISOpticalFlow:
    """OpenCV's DIS optical flow (Kroeger et al. 2016) with `preset` (one of `FLOW_PRESETS`)."""
    if preset not in FLOW_PRESETS:
        raise ValueError(f"unknown flow preset {preset!r}: one of {', '.join(FLOW_PRESETS)}")
    return cv2.DISOpticalFlow_create(FLOW_PRESETS[preset])


def dense_flow(estimator: cv2.DISOpticalFlow, source: np.ndarray, target: np.ndarray):
    """Flow (H, W, 2) float32, (dx, dy) pixels, from uint8 gray `source` to `target`:
    source(x) ~ target(x + flow(x))."""
    return estimator.calc(source, target, None)


@functools.lru_cache(maxsize=4)
def _pixel_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) float32 pixel coordinates of a height x width frame (read-only, cached)."""
    x, y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    x.flags.writeable = y.flags.writeable = False
    return x, y


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """`image` sampled at x + flow(x) (bilinear, edges replicated): brings a frame t' to the frame
    t that `flow` (t -> t') starts from."""
    grid_x, grid_y = _pixel_grid(*flow.shape[:2])
    return cv2.remap(
        image,
        grid_x + flow[..., 0],
        grid_y + flow[..., 1],
        interpolation=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def inside(flow: np.ndarray) -> np.ndarray:
    """Where x + flow(x) lies inside the frame (bool, (H, W))."""
    height, width = flow.shape[:2]
    x, y = _pixel_grid(height, width)
    tx, ty = x + flow[..., 0], y + flow[..., 1]
    return (tx >= 0) & (tx <= width - 1) & (ty >= 0) & (ty <= height - 1)


def consistent(flow: np.ndarray, reverse: np.ndarray) -> np.ndarray:
    """The forward-backward check: where the `reverse` flow (t' -> t) at x + flow(x) returns
    `flow` (t -> t') to x, within Sundaram et al.'s tolerance (bool, (H, W))."""
    back = warp(reverse, flow)
    error = _squared_norm(flow + back)
    scale = _squared_norm(flow) + _squared_norm(back)
    return error <= CONSISTENCY_ALPHA * scale + CONSISTENCY_BETA


def _squared_norm(vectors: np.ndarray) -> np.ndarray:
    """|v|^2 of (..., 2) vectors (written out: a reduction over an axis of 2 is slow)."""
    return vectors[..., 0] * vectors[..., 0] + vectors[..., 1] * vectors[..., 1]


def motion_boundaries(flow: np.ndarray, beta: float = BOUNDARY_BETA) -> np.ndarray:
    """Where the flow changes fast: |grad u|^2 + |grad v|^2 > 0.01 |flow|^2 + beta (bool)."""
    gradient = 0.0
    for channel in range(2):
        dy, dx = np.gradient(flow[..., channel])
        gradient = gradient + dx * dx + dy * dy
    return gradient > BOUNDARY_ALPHA * _squared_norm(flow) + beta


def reliable(flow: np.ndarray, reverse: np.ndarray, boundary_beta: float = BOUNDARY_BETA):
    """Where `flow` (t -> t') can be trusted: inside the frame, consistent with `reverse`
    (t' -> t), and off motion boundaries (bool, (H, W)). The non-occlusion mask of `E_warp` too."""
    return inside(flow) & consistent(flow, reverse) & ~motion_boundaries(flow, boundary_beta)


def histogram_distance(gray: np.ndarray, other: np.ndarray) -> float:
    """Bhattacharyya distance (0 same .. 1 disjoint) of two uint8 images' gray histograms."""
    hists = [cv2.calcHist([g], [0], None, [HISTOGRAM_BINS], [0, 256]) for g in (gray, other)]
    return float(cv2.compareHist(hists[0], hists[1], cv2.HISTCMP_BHATTACHARYYA))


def working_shape(height: int, width: int, flow_size: int) -> tuple[int, int]:
    """(height, width) scaled so the shorter side is at most `flow_size` (never enlarged)."""
    scale = min(1.0, flow_size / min(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def gray_levels(light: np.ndarray) -> np.ndarray:
    """CIELAB L (0..100) as uint8 gray levels (0..255, rounded): what the flow is computed on."""
    return np.clip(light * 2.55 + 0.5, 0, 255).astype(np.uint8)


def lightness(rgb: np.ndarray) -> np.ndarray:
    """CIELAB L (0..100, float32) of uint8 sRGB (OpenCV's conversion)."""
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)[..., 0]


@dataclasses.dataclass
class _Previous:
    gray: np.ndarray  # uint8, working size
    lightness: np.ndarray  # float32 CIELAB L, working size
    ab: np.ndarray  # float32 (H, W, 2), the output chroma at the working size


class TemporalFilter:
    """Blends each frame's predicted chroma with the previous output's, warped along the flow.

    Call it on the frames in order: `filter(rgb, ab)` takes a frame (full-resolution uint8 RGB)
    and its predicted CIELAB (a, b) at any size (the network's render shape) and returns the
    output chroma at the working size, for `full_resolution.recombine(rgb, ab)`. After each call,
    `trusted_share` is the share of the frame that took colour from the previous output's
    (before the strength) and `cut` whether a scene cut was detected (the first frame is one).
    """

    def __init__(self, settings: TemporalSettings | None = None):
        self.settings = settings or TemporalSettings()
        self._estimator = flow_estimator(self.settings.flow_preset)
        self._previous: _Previous | None = None
        self.trusted_share, self.cut, self.num_cuts = 0.0, True, 0

    def reset(self) -> None:
        """Forgets the previous frame (the next one is treated as a scene's first)."""
        self._previous = None

    def __call__(self, rgb: np.ndarray, ab: np.ndarray) -> np.ndarray:
        shape = working_shape(*rgb.shape[:2], self.settings.flow_size)
        small = (
            rgb
            if rgb.shape[:2] == shape
            else cv2.resize(rgb, shape[::-1], interpolation=cv2.INTER_AREA)
        )
        light = lightness(small)
        gray = gray_levels(light)
        predicted = np.asarray(ab, np.float32)
        if predicted.shape[:2] != shape:
            predicted = cv2.resize(predicted, shape[::-1], interpolation=cv2.INTER_CUBIC)
        previous, output = self._previous, predicted
        self.trusted_share, self.cut = 0.0, True
        if previous is not None:
            trust, backward = self._trust(gray, light, previous)
            self.trusted_share = float(np.mean(trust))
            self.cut = (
                self.trusted_share < self.settings.cut_trusted_share
                or histogram_distance(gray, previous.gray) > self.settings.cut_histogram_distance
            )
            if not self.cut:
                weight = (self.settings.strength * trust.astype(np.float32))[..., None]
                carried = warp(previous.ab, backward)
                output = predicted + weight * (carried - predicted)
            else:
                self.trusted_share = 0.0
        self.num_cuts += int(self.cut and previous is not None)
        self._previous = _Previous(gray, light, output)
        return output

    def _trust(self, gray: np.ndarray, light: np.ndarray, previous: _Previous):
        """(M_t: where the flow to the previous frame is reliable and the lightness agrees,
        that flow b_t)."""
        backward = dense_flow(self._estimator, gray, previous.gray)
        forward = dense_flow(self._estimator, previous.gray, gray)
        trust = reliable(backward, forward, self.settings.boundary_beta)
        agree = np.abs(warp(previous.lightness, backward) - light)
        return trust & (agree <= self.settings.lightness_tolerance), backward
