"""colorspace: agreement with scikit-image, round trips, gamut handling, gradients, scaling."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from skimage import color, data

from colorize_jax.colour import colorspace

GAMUT_CORNERS = np.array([[(i >> 2) & 1, (i >> 1) & 1, i & 1] for i in range(8)], dtype=np.float64)


def _random_colours(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    # Random colours, the cube corners, and values on either side of the sRGB threshold.
    edges = np.array([0.0, 0.04045, 0.0404, 0.0405, 1e-6, 1.0 - 1e-6, 1.0])
    edge_colours = np.stack(np.meshgrid(edges, edges, edges), axis=-1).reshape(-1, 3)
    return np.concatenate([rng.random((n, 3)), GAMUT_CORNERS, edge_colours])


def _out_of_gamut_lab_grid():
    lightness = np.linspace(0.0, 100.0, 21)
    ab = np.linspace(-200.0, 200.0, 41)
    grid = np.stack(np.meshgrid(lightness, ab, ab, indexing="ij"), axis=-1).reshape(-1, 3)
    return np.concatenate([grid, [[50.0, 200.0, -200.0], [0.0, -200.0, 200.0], [100.0, 0, 0]]])


def _skimage_lab2rgb(lab):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "negative Z values clipped" for out-of-gamut inputs
        return color.lab2rgb(lab)


# (name, converter to the array type under test, tolerance in L/a/b units)
BACKENDS = [
    ("numpy-float64", lambda x: np.asarray(x, np.float64), 1e-9),
    ("numpy-float32", lambda x: np.asarray(x, np.float32), 1e-3),
    ("jax-float32", lambda x: jnp.asarray(x, jnp.float32), 1e-3),
]


@pytest.mark.parametrize(("name", "to_array", "tol"), BACKENDS, ids=[b[0] for b in BACKENDS])
def test_rgb_to_lab_matches_skimage(name, to_array, tol):
    rgb = _random_colours()
    lab = colorspace.rgb_to_lab(to_array(rgb))
    assert isinstance(lab, jax.Array) == name.startswith("jax")
    assert lab.dtype == to_array(rgb).dtype
    np.testing.assert_allclose(np.asarray(lab), color.rgb2lab(rgb), rtol=0, atol=tol)


def test_rgb_to_lab_matches_skimage_on_photo_under_jit():
    image = data.astronaut()
    lab = jax.jit(colorspace.rgb_to_lab)(jnp.asarray(image, jnp.float32) / 255.0)
    np.testing.assert_allclose(np.asarray(lab), color.rgb2lab(image), rtol=0, atol=1e-3)


def test_known_lab_values():
    lab = colorspace.rgb_to_lab(GAMUT_CORNERS)
    np.testing.assert_allclose(lab[0], [0.0, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(lab[-1], [100.0, 0.0, 0.0], atol=1e-2)  # white
    np.testing.assert_allclose(lab[4], [53.24, 80.09, 67.20], atol=1e-2)  # red


@pytest.mark.parametrize(("name", "to_array", "tol"), BACKENDS, ids=[b[0] for b in BACKENDS])
def test_lab_to_rgb_matches_skimage(name, to_array, tol):
    lab = np.concatenate([color.rgb2lab(_random_colours(seed=1)), _out_of_gamut_lab_grid()])
    rgb = colorspace.lab_to_rgb(to_array(lab))
    # tol is in LAB units; RGB in [0, 1] is ~100x more sensitive in the other direction.
    np.testing.assert_allclose(np.asarray(rgb), _skimage_lab2rgb(lab), rtol=0, atol=tol / 50)


@pytest.mark.parametrize(("name", "to_array", "tol"), BACKENDS, ids=[b[0] for b in BACKENDS])
def test_rgb_lab_round_trip(name, to_array, tol):
    rgb = _random_colours(seed=2)
    back = colorspace.lab_to_rgb(colorspace.rgb_to_lab(to_array(rgb)))
    np.testing.assert_allclose(np.asarray(back), rgb, rtol=0, atol=max(tol * 1e-2, 1e-6))


@pytest.mark.parametrize("to_array", [np.asarray, jnp.asarray], ids=["numpy", "jax"])
def test_out_of_gamut_lab_gives_clipped_finite_rgb(to_array):
    lab = _out_of_gamut_lab_grid().astype(np.float32)
    rgb = np.asarray(colorspace.lab_to_rgb(to_array(lab)))
    assert np.isfinite(rgb).all()
    assert rgb.min() >= 0.0 and rgb.max() <= 1.0
    assert np.ptp(rgb) == 1.0  # the grid reaches both ends of the range: clipping happens
    magenta = _skimage_lab2rgb(np.array([50.0, 200.0, -200.0]))  # L=50, a=200, b=-200
    np.testing.assert_allclose(rgb[-3], magenta, atol=1e-5)
    assert magenta[1] == 0.0 and magenta[2] == 1.0


def test_yuv_matches_skimage_and_round_trips():
    rgb = _random_colours(seed=3)
    yuv = colorspace.rgb_to_yuv(rgb)
    np.testing.assert_allclose(yuv, color.rgb2yuv(rgb), rtol=0, atol=1e-12)
    np.testing.assert_allclose(colorspace.yuv_to_rgb(yuv), rgb, rtol=0, atol=1e-12)
    np.testing.assert_allclose(colorspace.yuv_to_rgb(yuv), color.yuv2rgb(yuv), atol=1e-12)
    yuv_jax = colorspace.rgb_to_yuv(jnp.asarray(rgb, jnp.float32))
    np.testing.assert_allclose(np.asarray(yuv_jax), yuv, atol=1e-6)
    back = colorspace.yuv_to_rgb(yuv_jax)
    np.testing.assert_allclose(np.asarray(back), rgb, atol=1e-5)
    # BT.601: U ~ 0.492 (B - Y), V ~ 0.877 (R - Y)
    luma = rgb @ np.array([0.299, 0.587, 0.114])
    np.testing.assert_allclose(yuv[..., 1], 0.492 * (rgb[..., 2] - luma), atol=2e-3)
    np.testing.assert_allclose(yuv[..., 2], 0.877 * (rgb[..., 0] - luma), atol=2e-3)


@pytest.mark.parametrize("to_array", [np.asarray, jnp.asarray], ids=["numpy", "jax"])
def test_luma_is_bt601(to_array):
    rgb = _random_colours(n=100, seed=4).astype(np.float32)
    luma = np.asarray(colorspace.rgb_to_luma(to_array(rgb)))
    assert luma.shape == (len(rgb), 1)
    expected = 0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]
    np.testing.assert_allclose(luma[:, 0], expected, atol=1e-6)


def _assert_finite_gradient(fn, x):
    grad = jax.jit(jax.grad(lambda v: jnp.sum(fn(v))))(jnp.asarray(x, jnp.float32))
    assert np.isfinite(np.asarray(grad)).all(), grad
    return np.asarray(grad)


def test_gradients_are_finite_at_black_and_gamut_corners():
    grad = _assert_finite_gradient(colorspace.rgb_to_lab, GAMUT_CORNERS)
    assert np.abs(grad).max() > 0  # not silently zeroed
    _assert_finite_gradient(colorspace.rgb_to_lab, np.zeros((4, 3)))
    _assert_finite_gradient(colorspace.lab_to_rgb, color.rgb2lab(GAMUT_CORNERS))
    _assert_finite_gradient(colorspace.lab_to_rgb, np.zeros((2, 3)))
    _assert_finite_gradient(colorspace.lab_to_rgb, _out_of_gamut_lab_grid())
    _assert_finite_gradient(
        lambda x: colorspace.decode(*colorspace.encode(x, "lab"), "lab"), GAMUT_CORNERS * 255
    )


@pytest.mark.parametrize(
    ("fn", "point"),
    [
        (colorspace.rgb_to_lab, [0.3, 0.6, 0.2]),
        (colorspace.rgb_to_lab, [0.01, 0.02, 0.5]),  # linear (dark) branches
        (colorspace.lab_to_rgb, [60.0, 20.0, -30.0]),
        (colorspace.lab_to_rgb, [5.0, 3.0, 2.0]),
    ],
)
def test_gradient_matches_finite_differences(fn, point):
    point = np.asarray(point, np.float64)
    grad = _assert_finite_gradient(fn, point)
    step = 1e-3 * max(1.0, np.abs(point).max())
    numeric = [
        (np.sum(fn(point + step * e)) - np.sum(fn(point - step * e))) / (2 * step)
        for e in np.eye(3)
    ]
    np.testing.assert_allclose(grad, numeric, rtol=1e-2, atol=1e-4)


def test_spaces_and_target_channels():
    assert colorspace.SPACES == ("lab", "rgb", "yuv")
    assert [colorspace.target_channels(s) for s in colorspace.SPACES] == [2, 3, 2]
    with pytest.raises(ValueError, match="lab, rgb, yuv"):
        colorspace.target_channels("hsv")
    with pytest.raises(ValueError, match="lab, rgb, yuv"):
        colorspace.encode(np.zeros((2, 2, 3), np.uint8), "xyz")


def _photo_batch():
    """Two real photos plus every gamut corner, (2, 64, 64, 3) uint8."""
    photos = np.stack([data.astronaut()[100:164, 200:264], data.coffee()[150:214, 300:364]])
    photos[:, 0, :8] = (GAMUT_CORNERS * 255).astype(np.uint8)
    return photos


@pytest.mark.parametrize("to_array", [np.asarray, jnp.asarray], ids=["numpy", "jax"])
def test_encode_scaling(to_array):
    images = _photo_batch()
    rgb = images / 255.0
    lab = color.rgb2lab(images)
    yuv = color.rgb2yuv(images)
    expected = {
        "lab": (lab[..., :1] / 50 - 1, lab[..., 1:] / 110),
        "rgb": (rgb @ np.array([[0.299], [0.587], [0.114]]) * 2 - 1, rgb * 2 - 1),
        "yuv": (yuv[..., :1] * 2 - 1, yuv[..., 1:] / [colorspace.U_MAX, colorspace.V_MAX]),
    }
    for space, (expected_inputs, expected_targets) in expected.items():
        inputs, targets = colorspace.encode(to_array(images), space)
        assert inputs.dtype == targets.dtype == np.float32
        assert inputs.shape == (*images.shape[:-1], 1)
        assert targets.shape == (*images.shape[:-1], colorspace.target_channels(space))
        np.testing.assert_allclose(np.asarray(inputs), expected_inputs, atol=2e-5)
        np.testing.assert_allclose(np.asarray(targets), expected_targets, atol=2e-5)
        assert np.abs(np.asarray(inputs)).max() <= 1.0 + 1e-6
        assert np.abs(np.asarray(targets)).max() <= 1.0 + 1e-6
    # Pure blue and red reach the YUV extremes exactly; black/white the input extremes.
    _, yuv_targets = colorspace.encode(to_array(GAMUT_CORNERS * 255), "yuv")
    np.testing.assert_allclose(np.asarray(yuv_targets)[1, 0], 1.0, atol=1e-6)  # blue: U
    np.testing.assert_allclose(np.asarray(yuv_targets)[4, 1], 1.0, atol=1e-6)  # red: V
    for space in colorspace.SPACES:
        inputs, _ = colorspace.encode(to_array(GAMUT_CORNERS * 255), space)
        np.testing.assert_allclose(np.asarray(inputs)[[0, 7], 0], [-1.0, 1.0], atol=1e-4)


@pytest.mark.parametrize("to_array", [np.asarray, jnp.asarray], ids=["numpy", "jax"])
@pytest.mark.parametrize("space", colorspace.SPACES)
def test_encode_decode_round_trip(space, to_array):
    images = _photo_batch()
    decoded = colorspace.decode(*colorspace.encode(to_array(images), space), space)
    assert isinstance(decoded, jax.Array) == (to_array is jnp.asarray)
    restored = np.asarray(colorspace.to_uint8(decoded)).astype(int)
    assert np.abs(restored - images).max() <= 1


def test_decode_clips_out_of_range_predictions():
    inputs = jnp.zeros((4, 4, 1))
    for space in colorspace.SPACES:
        targets = jnp.full((4, 4, colorspace.target_channels(space)), 3.0)
        rgb = np.asarray(jax.jit(colorspace.decode, static_argnums=2)(inputs, targets, space))
        assert np.isfinite(rgb).all() and rgb.min() >= 0.0 and rgb.max() <= 1.0


def _hue_rotated(images, degrees):
    lab = color.rgb2lab(images)
    angle = np.deg2rad(degrees)
    a, b = lab[..., 1].copy(), lab[..., 2].copy()
    lab[..., 1] = np.cos(angle) * a - np.sin(angle) * b
    lab[..., 2] = np.sin(angle) * a + np.cos(angle) * b
    return _skimage_lab2rgb(lab)


@pytest.mark.parametrize("to_array", [np.asarray, jnp.asarray], ids=["numpy", "jax"])
def test_decode_rgb_takes_lightness_from_truth(to_array):
    truth = _photo_batch() / 255.0
    # A prediction with the wrong lightness (darkened) and wrong hue.
    prediction = _hue_rotated(truth, 90.0) * 0.6
    targets = to_array((prediction * 2 - 1).astype(np.float32))
    inputs = to_array(np.zeros(truth.shape[:-1] + (1,), np.float32))  # ignored for rgb

    plain = np.asarray(colorspace.decode(inputs, targets, "rgb"))
    np.testing.assert_allclose(plain, prediction, atol=1e-6)

    decoded = colorspace.decode(inputs, targets, "rgb", truth_rgb=to_array(truth))
    decoded_lab = color.rgb2lab(np.asarray(decoded, np.float64))
    truth_lab, prediction_lab = color.rgb2lab(truth), color.rgb2lab(prediction)
    # Where the recombined colour is inside the gamut (not clipped), it is exact.
    in_gamut = np.all((np.asarray(decoded) > 1e-3) & (np.asarray(decoded) < 1 - 1e-3), axis=-1)
    assert in_gamut.mean() > 0.5
    np.testing.assert_allclose(decoded_lab[in_gamut, 0], truth_lab[in_gamut, 0], atol=0.02)
    np.testing.assert_allclose(decoded_lab[in_gamut, 1:], prediction_lab[in_gamut, 1:], atol=0.05)
    assert np.abs(prediction_lab[..., 0] - truth_lab[..., 0]).mean() > 5  # the test is not vacuous


@pytest.mark.parametrize("to_array", [np.asarray, jnp.asarray], ids=["numpy", "jax"])
def test_to_uint8_rounds_and_clips(to_array):
    values = np.array([-0.5, 0.0, 0.4 / 255, 0.6 / 255, 0.5, 254.6 / 255, 1.0, 1.7], np.float32)
    result = colorspace.to_uint8(to_array(values))
    assert result.dtype == np.uint8
    np.testing.assert_array_equal(np.asarray(result), [0, 0, 0, 1, 128, 255, 255, 255])


def test_lab_to_rgb_keep_lightness_keeps_l_and_hue_and_leaves_gamut_colours_alone():
    rng = np.random.default_rng(3)
    lab = np.concatenate(
        [rng.uniform(0, 100, (2000, 1)), rng.uniform(-110, 110, (2000, 2))], axis=-1
    ).astype(np.float32)
    rgb = colorspace.lab_to_rgb_keep_lightness(lab)
    back = color.rgb2lab(colorspace.to_uint8(rgb) / 255.0)
    assert np.abs(back[:, 0] - lab[:, 0]).max() < 0.5  # skimage's L of the 8-bit result
    clipped_l = color.rgb2lab(np.clip(color.lab2rgb(lab), 0, 1))[:, 0]
    assert np.abs(clipped_l - lab[:, 0]).max() > 10  # plain clipping does move L
    chroma = np.hypot(back[:, 1], back[:, 2])
    hue_error = np.abs(
        np.angle(
            np.exp(1j * (np.arctan2(back[:, 2], back[:, 1]) - np.arctan2(lab[:, 2], lab[:, 1])))
        )
    )
    assert np.median(hue_error[chroma > 10]) < 0.05  # radians: the hue is kept
    inside = np.all((color.lab2rgb(lab) > 0.001) & (color.lab2rgb(lab) < 0.999), axis=-1)
    np.testing.assert_allclose(rgb[inside], color.lab2rgb(lab)[inside], atol=1e-4)
    on_device = colorspace.lab_to_rgb_keep_lightness(jnp.asarray(lab))
    np.testing.assert_allclose(np.asarray(on_device), rgb, atol=1e-4)
