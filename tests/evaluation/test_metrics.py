"""metrics: per-image values against scikit-image and numpy hand computations, on real photos
with degraded colourizations, batched and under jax.jit."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from skimage import color, data, filters
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from colorize_jax.colour import colorfulness as colorfulness_lib
from colorize_jax.evaluation import metrics
from tests.evaluation.test_evaluators import PIXEL_KEYS

SIZE = 128

# Compiled once per input shape and shared by the tests (eager op-by-op dispatch is slow).
psnr = jax.jit(metrics.psnr)
ssim = jax.jit(metrics.ssim)
ciede2000 = jax.jit(metrics.ciede2000)
deltae2000 = jax.jit(metrics.deltae2000)
colorfulness = jax.jit(metrics.colorfulness)
auc_ab = jax.jit(metrics.auc_ab)
auc_ab_from_lab = jax.jit(metrics.auc_ab_from_lab)
acc_deltae76 = jax.jit(metrics.acc_deltae76)
image_metrics = jax.jit(metrics.image_metrics)


def _centre_crop(image):
    top, left = (image.shape[0] - SIZE) // 2, (image.shape[1] - SIZE) // 2
    return image[top : top + SIZE, left : left + SIZE]


@pytest.fixture(scope="module")
def truth():
    """Three real photographs, (3, SIZE, SIZE, 3) uint8."""
    return np.stack([_centre_crop(f()) for f in (data.astronaut, data.chelsea, data.coffee)])


def _desaturated(images):
    gray = color.rgb2gray(images)[..., None] * 255.0
    return np.clip(0.4 * images + 0.6 * gray, 0, 255).round().astype(np.uint8)


def _hue_shifted(images, degrees=60.0):
    lab = color.rgb2lab(images)
    angle = np.deg2rad(degrees)
    a, b = lab[..., 1].copy(), lab[..., 2].copy()
    lab[..., 1] = np.cos(angle) * a - np.sin(angle) * b
    lab[..., 2] = np.sin(angle) * a + np.cos(angle) * b
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return (color.lab2rgb(lab) * 255).round().astype(np.uint8)


def _noisy(images):
    noise = np.random.default_rng(0).normal(0.0, 20.0, images.shape)
    return np.clip(images + noise, 0, 255).round().astype(np.uint8)


def _blurred(images):
    return (
        np.stack(
            [filters.gaussian(im, sigma=2, channel_axis=-1, preserve_range=True) for im in images]
        )
        .round()
        .astype(np.uint8)
    )


DEGRADATIONS = {
    "desaturated": _desaturated,
    "hue_shifted": _hue_shifted,
    "noisy": _noisy,
    "blurred": _blurred,
}


@pytest.fixture(scope="module", params=list(DEGRADATIONS))
def pair(request, truth):
    """(name, pred, truth): a degraded colourization of the real photos and the photos."""
    return request.param, DEGRADATIONS[request.param](truth), truth


def test_psnr_matches_skimage(pair):
    _, pred, truth = pair
    expected = [
        peak_signal_noise_ratio(t, p, data_range=255) for p, t in zip(pred, truth, strict=True)
    ]
    result = psnr(pred, truth)
    assert result.shape == (len(pred),) and result.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(result), expected, rtol=0, atol=1e-4)


def test_psnr_identical_images_capped_at_100db(truth):
    result = np.asarray(psnr(truth, truth))
    np.testing.assert_array_equal(result, [metrics.PSNR_CAP_DB] * len(truth))
    off_by_one = truth.copy()
    off_by_one[0, 0, 0, 0] ^= 1  # one value off by 1: about 95 dB for 128x128x3, below the cap
    expected = peak_signal_noise_ratio(truth[0], off_by_one[0], data_range=255)
    np.testing.assert_allclose(psnr(off_by_one, truth)[0], expected, atol=1e-3)


def test_ssim_matches_skimage(pair):
    _, pred, truth = pair
    expected = [
        structural_similarity(p, t, data_range=255, channel_axis=-1)
        for p, t in zip(pred, truth, strict=True)
    ]
    result = ssim(pred, truth)
    assert result.shape == (len(pred),)
    np.testing.assert_allclose(np.asarray(result), expected, rtol=0, atol=1e-4)


def test_ssim_of_identical_images_is_one(truth):
    np.testing.assert_allclose(np.asarray(ssim(truth, truth)), 1.0, atol=1e-6)


def test_ssim_on_non_square_image():
    truth = data.coffee()[:40, :90]
    pred = _blurred(truth[None])[0]
    expected = structural_similarity(pred, truth, data_range=255, channel_axis=-1)
    np.testing.assert_allclose(ssim(pred[None], truth[None])[0], expected, atol=1e-4)


def test_ciede2000_per_pixel_matches_skimage(pair):
    _, pred, truth = pair
    truth_lab, pred_lab = color.rgb2lab(truth), color.rgb2lab(pred)
    expected = color.deltaE_ciede2000(truth_lab, pred_lab)
    result = ciede2000(jnp.asarray(truth_lab, jnp.float32), jnp.asarray(pred_lab, jnp.float32))
    np.testing.assert_allclose(np.asarray(result), expected, rtol=0, atol=1e-4)


def test_ciede2000_edge_cases_match_skimage():
    rng = np.random.default_rng(1)
    # Zero chroma, hue differences beyond +-180 degrees (wrap-around) and hue sums on either
    # side of 360 degrees. Differences of exactly 180 degrees are avoided: CIEDE2000 is
    # discontinuous there, so float32 and float64 may legitimately take different branches.
    hue1 = np.array([0, 1, 90, 179, 185, 200, 270, 359, 10, 350, 300, 60])
    hue_step = np.array([170, -170, 190, -190, 100, -100, 175, -175, 20, 20, 0, 0])
    chroma1 = np.array([0, 5, 20, 40, 0, 30, 60, 15, 0, 25, 40, 0])
    chroma2 = np.array([30, 30, 30, 30, 30, 0, 45, 50, 0, 10, 20, 0])

    def lab(lightness, chroma, hue_degrees):
        hue = np.deg2rad(hue_degrees)
        return np.stack([lightness, chroma * np.cos(hue), chroma * np.sin(hue)], axis=-1)

    lab1 = lab(rng.uniform(0, 100, 12), chroma1, hue1)
    lab2 = lab(rng.uniform(0, 100, 12), chroma2, hue1 + hue_step)
    lab1 = np.concatenate([lab1, [[50, 2.6772, -79.7751]]])
    lab2 = np.concatenate([lab2, [[50, 0, -82.7485]]])
    expected = color.deltaE_ciede2000(lab1, lab2)
    result = np.asarray(ciede2000(jnp.asarray(lab1), jnp.asarray(lab2)))
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(result[-1], 2.0425, atol=1e-4)  # Sharma et al. (2005), pair 1


def test_deltae2000_matches_skimage_on_photos(pair):
    _, pred, truth = pair
    expected = [
        color.deltaE_ciede2000(color.rgb2lab(t), color.rgb2lab(p)).mean()
        for p, t in zip(pred, truth, strict=True)
    ]
    result = deltae2000(pred, truth)
    assert result.shape == (len(pred),)
    np.testing.assert_allclose(np.asarray(result), expected, rtol=1e-5, atol=1e-4)


def _colorfulness_by_hand(image):
    r, g, b = (image[..., i].astype(np.float64).ravel() for i in range(3))
    rg, yb = r - g, (r + g) / 2 - b
    spread = np.sqrt(np.std(rg) ** 2 + np.std(yb) ** 2)
    return spread + 0.3 * np.hypot(np.mean(rg), np.mean(yb))


def test_colorfulness_matches_hand_computation(pair):
    _, pred, truth = pair
    result = np.asarray(colorfulness(pred))
    np.testing.assert_allclose(result, [_colorfulness_by_hand(p) for p in pred], rtol=1e-5)


def test_colorfulness_properties(truth):
    gray = np.repeat(color.rgb2gray(truth)[..., None] * 255, 3, axis=-1)
    np.testing.assert_allclose(np.asarray(colorfulness(gray)), 0.0, atol=1e-3)
    # Signed opponent channels: a uniform colour contributes only through the mean term.
    red = np.zeros((1, 8, 8, 3))
    red[..., 0] = 200.0
    np.testing.assert_allclose(colorfulness(red), [0.3 * np.hypot(200, 100)], rtol=1e-6)
    assert (colorfulness(_desaturated(truth)) < colorfulness(truth)).all()


def test_colorfulness_is_one_formula_for_numpy_and_jax(pair):
    """The data filter's numpy path and the metric's jax path compute the same numbers."""
    _, pred, _ = pair
    on_host = colorfulness_lib.hasler(np.asarray(pred))  # numpy in, numpy out (float64)
    assert isinstance(on_host, np.ndarray) and on_host.dtype == np.float64
    np.testing.assert_allclose(on_host, [_colorfulness_by_hand(p) for p in pred], rtol=1e-12)
    np.testing.assert_allclose(np.asarray(colorfulness(pred)), on_host, rtol=1e-5)
    assert float(colorfulness_lib.hasler(np.asarray(pred)[0])) == pytest.approx(on_host[0])
    # Differentiable, with a finite gradient at an exactly grey image.
    grey = jnp.full((1, 4, 4, 3), 0.5)
    assert np.isfinite(np.asarray(jax.grad(lambda x: metrics.colorfulness(x).sum())(grey))).all()


def _auc_by_hand(pred, truth):
    pred_lab, truth_lab = color.rgb2lab(pred), color.rgb2lab(truth)
    distance = np.sqrt(((pred_lab[..., 1:] - truth_lab[..., 1:]) ** 2).sum(-1))
    # Gray pixels have ab ~1e-5 instead of 0 in floating point: a tolerance keeps them exact.
    return np.mean([np.mean(distance <= t + metrics.AUC_TOLERANCE) for t in range(151)])


def test_auc_ab_matches_hand_computation(pair):
    _, pred, truth = pair
    result = np.asarray(auc_ab(pred, truth))
    expected = [_auc_by_hand(p, t) for p, t in zip(pred, truth, strict=True)]
    # float32 LAB can move a pixel across an integer threshold: 1/151 of one pixel's share.
    np.testing.assert_allclose(result, expected, atol=1e-4)
    assert (result < 1.0).all()


def test_auc_ab_known_offsets():
    rng = np.random.default_rng(2)
    truth_lab = rng.integers(-60, 60, size=(2, 16, 16, 3)).astype(np.float32)
    truth_lab[..., 0] = 50.0
    offset_30 = truth_lab + np.array([0.0, 30.0, 0.0], np.float32)
    offset_345 = truth_lab + np.array([0.0, 0.0, 34.5], np.float32)
    # Distance exactly 30 passes t = 30..150: 121 of 151 thresholds; 34.5 passes 35..150.
    np.testing.assert_allclose(auc_ab_from_lab(offset_30, truth_lab), [121 / 151] * 2, rtol=1e-6)
    np.testing.assert_allclose(auc_ab_from_lab(offset_345, truth_lab), [116 / 151] * 2, rtol=1e-6)
    np.testing.assert_allclose(auc_ab_from_lab(truth_lab, truth_lab), [1.0, 1.0])
    far = truth_lab + np.array([0.0, 200.0, 0.0], np.float32)
    np.testing.assert_allclose(auc_ab_from_lab(far, truth_lab), [0.0, 0.0])
    # Half the pixels exact, half at distance 30 (3-4-5 triangle: 18, 24): (1 + 121/151) / 2.
    mixed = truth_lab.copy()
    mixed[:, :8] += np.array([0.0, 18.0, 24.0], np.float32)
    np.testing.assert_allclose(
        auc_ab_from_lab(mixed, truth_lab), [(1 + 121 / 151) / 2] * 2, rtol=1e-6
    )


def test_acc_deltae76_matches_skimage(pair):
    _, pred, truth = pair
    for threshold in (2.0, 10.0):
        expected = [
            np.mean(color.deltaE_cie76(color.rgb2lab(t), color.rgb2lab(p)) < threshold)
            for p, t in zip(pred, truth, strict=True)
        ]
        result = acc_deltae76(pred, truth, threshold)
        np.testing.assert_allclose(np.asarray(result), expected, atol=2e-4)


def test_image_metrics_agree_with_individual_metrics(pair):
    name, pred, truth = pair
    result = image_metrics(pred, truth)
    assert set(result) == set(PIXEL_KEYS)  # listed by hand, as metrics.json has them
    assert set(result) == set(metrics.KEYS) and len(metrics.KEYS) == 9  # the "pixel" keys
    for value in result.values():
        assert value.shape == (len(pred),) and value.dtype == jnp.float32
        assert np.isfinite(np.asarray(value)).all()
    individual = {
        "psnr": psnr(pred, truth),
        "ssim": ssim(pred, truth),
        "deltae2000": deltae2000(pred, truth),
        "colorfulness": colorfulness(pred),
        "colorfulness_gt": colorfulness(truth),
        "auc_ab": auc_ab(pred, truth),
        "acc_de2.3": acc_deltae76(pred, truth, 2.3),
        "acc_de10": acc_deltae76(pred, truth, 10.0),
    }
    for key, value in individual.items():
        np.testing.assert_allclose(result[key], value, rtol=1e-5, atol=1e-5, err_msg=key)
    np.testing.assert_allclose(
        result["delta_colorfulness"],
        np.abs(np.asarray(individual["colorfulness"]) - np.asarray(individual["colorfulness_gt"])),
        rtol=1e-5,
    )
    if name == "desaturated":  # 40% of the chroma left: colourfulness drops to ~40%
        ratio = np.asarray(result["colorfulness"]) / np.asarray(result["colorfulness_gt"])
        np.testing.assert_allclose(ratio, 0.4, atol=0.02)


def test_image_metrics_accept_float_inputs_and_rank_degradations(truth):
    mild = _desaturated(truth)
    severe = _hue_shifted(_noisy(truth), degrees=150.0)
    as_uint8 = image_metrics(mild, truth)
    as_float = image_metrics(mild.astype(np.float32), truth.astype(np.float32))
    for key in as_uint8:
        np.testing.assert_allclose(as_uint8[key], as_float[key], rtol=1e-6, err_msg=key)
    worse = image_metrics(severe, truth)
    for key in ("psnr", "ssim", "auc_ab"):
        assert (np.asarray(worse[key]) < np.asarray(as_uint8[key])).all(), key
    assert (np.asarray(worse["deltae2000"]) > np.asarray(as_uint8["deltae2000"])).all()
    perfect = image_metrics(truth, truth)
    np.testing.assert_allclose(perfect["deltae2000"], 0.0, atol=1e-6)
    np.testing.assert_allclose(perfect["auc_ab"], 1.0)
    np.testing.assert_allclose(perfect["delta_colorfulness"], 0.0)
