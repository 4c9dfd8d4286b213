"""Temporal-consistency metrics of colorized videos: the warp error and the colour distribution
consistency (NumPy and OpenCV).

E_warp (Lai et al. 2018, "Learning Blind Video Temporal Consistency", eq. 8): for consecutive
output frames O_t, O_{t+1} (RGB scaled to [0, 1]), the next frame is warped back to t by the
optical flow of the *input* frames, f = flow(I_t -> I_{t+1}), and

  E_warp(O_t, O_{t+1}) = sum_i M_i ||O_t(i) - O_{t+1}(i + f(i))||^2 / (3 sum_i M_i)

with M the non-occlusion mask (`temporal.reliable`: inside the frame, forward-backward consistent,
off motion boundaries); the video's E_warp is its mean over the T - 1 pairs, less those across a
scene cut (`FlowPairs`). The division by the
three channels makes it a mean squared RGB difference per channel, as Lai et al.'s evaluation
script computes it (its mask image has three channels).

CDC (Liu et al. 2021, "Temporally Consistent Video Colorization with Deep Feature Propagation
and Self-regularization Learning"): the Jensen-Shannon divergence (natural log) of the per-channel
256-bin histograms of frames t and t + d, averaged over t, weighted 1/3 each over d = 1, 2, 4 and
averaged over the three channels, as their script `calculate_cdc` does. Dilations a clip is too
short for are left out and the weights of the others renormalized.

Both are 0 for a still, constant video; lower is more consistent.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence

import numpy as np

from colorize_jax.inference import temporal

CDC_DILATIONS = (1, 2, 4)


def warp_error(frame: np.ndarray, next_frame: np.ndarray, flow: np.ndarray, mask: np.ndarray):
    """E_warp of one pair: uint8 (or 0..255) RGB `frame` and `next_frame`, `flow` (H, W, 2)
    from the input frame t to t + 1, `mask` (H, W) where that flow is trusted. 0.0 when the mask
    is empty."""
    current = np.asarray(frame, np.float32) / 255.0
    warped = temporal.warp(np.asarray(next_frame, np.float32) / 255.0, flow)
    weights = np.asarray(mask, np.float32)[..., None]
    count = float(np.sum(weights)) * 3.0
    if count == 0.0:
        return 0.0
    return float(np.sum(weights * np.square(current - warped)) / count)


class FlowPairs:
    """The flow and non-occlusion mask between consecutive input frames, computed once and used
    for every colorization of the same clip: `push(gray)` with uint8 gray frames in order returns
    (flow t -> t + 1, mask) for the previous frame t; None for the first frame and across a scene
    cut (by `temporal`'s criteria: the gray histograms differ, or too little of the frame has a
    reliable flow), where no flow relates the frames and E_warp means nothing (`cuts` counts them).
    """

    def __init__(self, settings: temporal.TemporalSettings | None = None):
        self.settings = settings or temporal.TemporalSettings()
        self._estimator = temporal.flow_estimator("medium")  # fixed: the yardstick's flow
        self._previous: np.ndarray | None = None
        self.cuts = 0

    def push(self, gray: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        previous, self._previous = self._previous, gray
        if previous is None:
            return None
        forward = temporal.dense_flow(self._estimator, previous, gray)
        backward = temporal.dense_flow(self._estimator, gray, previous)
        mask = temporal.reliable(forward, backward)  # Ruder et al.'s thresholds
        distance = temporal.histogram_distance(previous, gray)
        if (
            distance > self.settings.cut_histogram_distance
            or np.mean(mask) < self.settings.cut_trusted_share
        ):
            self.cuts += 1
            return None
        return forward, mask


def channel_histograms(rgb: np.ndarray) -> np.ndarray:
    """(3, 256) float64: each channel's histogram of uint8 `rgb`, normalized to sum 1."""
    pixels = np.asarray(rgb, np.uint8).reshape(-1, 3)
    counts = np.stack([np.bincount(pixels[:, c], minlength=256) for c in range(3)]).astype(float)
    return counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)


def js_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon divergence (nats) of distributions along the last axis (0 log 0 = 0)."""
    p = p / p.sum(axis=-1, keepdims=True)
    q = q / q.sum(axis=-1, keepdims=True)
    m = 0.5 * (p + q)

    def kl(a: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(a > 0, a * np.log(a / m), 0.0)
        return terms.sum(axis=-1)

    return 0.5 * kl(p) + 0.5 * kl(q)


class ColourDistributionConsistency:
    """CDC computed as frames arrive: `push(rgb)` each output frame in order, then `value()`.

    Keeps the last max(dilations) histograms and a running sum per dilation, so its memory does
    not grow with the clip's length.
    """

    def __init__(self, dilations: Sequence[int] = CDC_DILATIONS):
        self.dilations = tuple(dilations)
        self._recent: collections.deque = collections.deque(maxlen=max(self.dilations))
        self._sums = {d: np.zeros(3) for d in self.dilations}
        self._counts = dict.fromkeys(self.dilations, 0)

    def push_histograms(self, histograms: np.ndarray) -> None:
        """Adds a frame by its (3, 256) `channel_histograms`."""
        for d in self.dilations:
            if len(self._recent) >= d:
                self._sums[d] += js_divergence(self._recent[-d], histograms)
                self._counts[d] += 1
        self._recent.append(histograms)

    def push(self, rgb: np.ndarray) -> None:
        """Adds the next uint8 RGB frame."""
        self.push_histograms(channel_histograms(rgb))

    def value(self) -> float:
        """The mean over the usable dilations of each channel's mean JS, averaged over channels."""
        usable = [self._sums[d] / self._counts[d] for d in self.dilations if self._counts[d]]
        return float(np.mean(np.mean(usable, axis=0))) if usable else 0.0


def cdc(histograms: Sequence[np.ndarray], dilations: Sequence[int] = CDC_DILATIONS) -> float:
    """Colour distribution consistency of a clip from its frames' `channel_histograms`."""
    consistency = ColourDistributionConsistency(dilations)
    for frame_histograms in histograms:
        consistency.push_histograms(np.asarray(frame_histograms, np.float64))
    return consistency.value()
