"""Tests of colorize_jax.inference.temporal: flow conventions, masks, blending and scene cuts."""

from __future__ import annotations

import numpy as np
import pytest

from colorize_jax.inference import temporal
from colorize_jax.tools import make_test_clips

HEIGHT, WIDTH = 48, 64


def texture(seed: int = 0) -> np.ndarray:
    """A smooth gray-ish uint8 RGB texture with enough structure for optical flow."""
    rng = np.random.default_rng(seed)
    noise = rng.uniform(0, 1, (HEIGHT // 4 + 2, WIDTH // 4 + 2))
    coarse = np.kron(noise, np.ones((4, 4)))[:HEIGHT, :WIDTH]
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    gray = 60 + 80 * coarse + 20 * np.sin(x / 3.0) * np.cos(y / 4.0)
    return np.repeat(gray[..., None], 3, axis=-1).astype(np.uint8)


def with_square(background: np.ndarray, x: int, y: int, side: int = 14) -> np.ndarray:
    frame = background.copy()
    frame[y : y + side, x : x + side] = 230  # a constant bright square
    return frame


def test_warp_follows_the_flow_convention():
    image = np.arange(HEIGHT * WIDTH, dtype=np.float32).reshape(HEIGHT, WIDTH)
    flow = np.zeros((HEIGHT, WIDTH, 2), np.float32)
    flow[..., 0], flow[..., 1] = 2.0, 1.0
    warped = temporal.warp(image, flow)
    np.testing.assert_array_equal(warped[:-1, :-2], image[1:, 2:])  # sampled at x + flow(x)
    inside = temporal.inside(flow)
    assert inside[:-1, :-2].all() and not inside[:, -2:].any() and not inside[-1].any()


def test_dis_flow_recovers_the_pan_clips_motion():
    frames = list(make_test_clips.pan_frames(make_test_clips.photo("coffee"), 96, 64, 2, speed=3))
    grays = [np.asarray(temporal.lightness(f) * 2.55, np.uint8) for f in frames]
    flow = temporal.dense_flow(temporal.flow_estimator(), grays[0], grays[1])
    # frame_1(x) = frame_0(x + 3): frame_0(x) = frame_1(x - 3).
    assert np.median(flow[8:-8, 8:-8, 0]) == pytest.approx(-3.0, abs=0.25)
    assert np.median(flow[8:-8, 8:-8, 1]) == pytest.approx(0.0, abs=0.25)


def test_forward_backward_check_and_motion_boundaries():
    shift = np.zeros((HEIGHT, WIDTH, 2), np.float32)
    shift[..., 0] = 2.0
    assert temporal.consistent(shift, -shift).all()
    assert not temporal.consistent(shift, shift).any()  # goes on instead of coming back
    step = np.zeros((HEIGHT, WIDTH, 2), np.float32)
    step[:, WIDTH // 2 :, 0] = 3.0
    boundary = temporal.motion_boundaries(step)
    assert boundary[:, WIDTH // 2 - 1 : WIDTH // 2 + 1].all()
    assert boundary.sum() == 2 * HEIGHT  # only the two columns beside the step
    reliable = temporal.reliable(step, -step)
    assert not reliable[:, WIDTH // 2 - 1].any() and reliable[:, 5].all()


def test_a_moving_constant_colour_square_carries_its_colour_along_the_flow():
    background = texture()
    frames = [with_square(background, 10 + 3 * t, 12 + 2 * t) for t in range(2)]
    colour = np.float32([40.0, -25.0])
    first = np.zeros((HEIGHT, WIDTH, 2), np.float32)
    first[12:26, 10:24] = colour  # the model saw the square's colour in frame 0 ...
    forgetful = np.zeros((HEIGHT, WIDTH, 2), np.float32)  # ... and forgets it in frame 1
    blend = temporal.TemporalFilter(temporal.TemporalSettings(strength=1.0))
    blend(frames[0], first)
    out = blend(frames[1], forgetful)
    assert not blend.cut and blend.trusted_share > 0.6
    inner = out[14 + 3 : 28 - 3, 13 + 3 : 27 - 3]  # the square's new place, away from its edges
    np.testing.assert_allclose(np.median(inner.reshape(-1, 2), axis=0), colour, atol=3.0)
    assert np.mean(np.linalg.norm(inner - colour, axis=-1) < 8.0) > 0.9
    # The background the square uncovered takes no colour (its lightness disagrees).
    uncovered = out[12:14, 10:24]
    assert np.abs(uncovered).max() < 4.0
    far = out[32:, 40:]
    assert np.abs(far).max() < 1e-3


def test_strength_zero_is_the_prediction_and_a_half_is_halfway():
    frames = [with_square(texture(), 10 + t, 12) for t in range(3)]
    rng = np.random.default_rng(1)
    chroma = [rng.normal(0, 20, (HEIGHT, WIDTH, 2)).astype(np.float32) for _ in frames]
    off = temporal.TemporalFilter(temporal.TemporalSettings(strength=0.0))
    for frame, ab in zip(frames, chroma, strict=True):
        np.testing.assert_array_equal(off(frame, ab), ab)
    still = temporal.TemporalFilter(temporal.TemporalSettings(strength=0.5))
    a, b = np.full((HEIGHT, WIDTH, 2), 10, np.float32), np.full((HEIGHT, WIDTH, 2), 30, np.float32)
    still(frames[0], a)
    out = still(frames[0], b)  # no motion: everything trusted
    assert still.trusted_share > 0.95
    assert np.median(out) == pytest.approx(20.0, abs=1e-4)


def test_a_scene_cut_carries_no_colour_across():
    frames = list(make_test_clips.clip_frames("cut", WIDTH, HEIGHT, 8))
    blend = temporal.TemporalFilter(temporal.TemporalSettings(strength=1.0))
    red = np.full((8, 8, 2), [50.0, 30.0], np.float32)
    blue = np.full((8, 8, 2), [5.0, -40.0], np.float32)
    for index, frame in enumerate(frames):
        out = blend(frame, red if index < 4 else blue)
        if index in (1, 2, 3, 5, 6):
            assert not blend.cut and blend.trusted_share > 0.5, index
        if index == 4:
            assert blend.cut and blend.trusted_share == 0.0
            np.testing.assert_allclose(out, np.broadcast_to(blue[0, 0], out.shape), atol=1e-4)
    assert blend.num_cuts == 1
    blend.reset()
    blend(frames[5], blue)
    assert blend.cut and blend.num_cuts == 1  # a reset is a fresh start, not a detected cut


def test_working_shape_and_settings():
    assert temporal.working_shape(720, 1280, 360) == (360, 640)
    assert temporal.working_shape(48, 64, 360) == (48, 64)  # never enlarged
    with pytest.raises(ValueError, match="strength"):
        temporal.TemporalSettings(strength=1.5)
    with pytest.raises(ValueError, match="flow preset 'slow'"):
        temporal.TemporalSettings(flow_preset="slow")
    blend = temporal.TemporalFilter(temporal.TemporalSettings(flow_size=24))
    out = blend(texture(), np.zeros((8, 11, 2), np.float32))
    assert out.shape == (24, 32, 2)
