"""LPIPS and its networks: the safe weights reader, NumPy hand computations, known properties."""

import os
import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import skimage.data
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

from colorize_jax.models import lpips, numpy_pickle, torch_state_dict, vgg

lpips_jit = jax.jit(lpips.lpips, static_argnums=2)


def _photo(size=64, name="astronaut"):
    image = getattr(skimage.data, name)()
    return np.asarray(Image.fromarray(image).resize((size, size), Image.LANCZOS))


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_the_weights_reader_refuses_code_and_non_numeric_arrays(tmp_path):
    marker = tmp_path / "ran"
    payload = pickle.dumps({"Conv_0": {"kernel": np.ones(3), "evil": _RunsCode(marker)}})
    with pytest.raises(torch_state_dict.UnsafeCheckpointError, match="posix.system|os.system"):
        numpy_pickle.loads(payload)
    assert not marker.exists()
    for array in (np.array([1, "x"], object), np.array([(1, 2.0)], [("a", "i4"), ("b", "f4")])):
        with pytest.raises(torch_state_dict.UnsafeCheckpointError, match="dtype"):
            numpy_pickle.loads(pickle.dumps({"a": array}))
    with pytest.raises(torch_state_dict.CorruptCheckpointError, match="not a readable"):
        numpy_pickle.loads(b"\x80\x03}q\x00(X")
    with pytest.raises(FileNotFoundError):
        numpy_pickle.read(tmp_path / "missing.ckpt")


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_the_weights_reader_rebuilds_arrays_of_every_protocol(protocol):
    saved = {
        "a": {"kernel": np.arange(24, dtype=np.float32).reshape(2, 3, 4), "n": np.int64(7)},
        "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        "empty": [np.zeros(0, bool), (np.complex64(1 + 2j), "name", None)],
    }
    loaded = numpy_pickle.loads(pickle.dumps(saved, protocol=protocol))
    np.testing.assert_array_equal(loaded["a"]["kernel"], saved["a"]["kernel"])
    assert loaded["a"]["kernel"].dtype == np.float32 and loaded["a"]["n"] == 7
    np.testing.assert_array_equal(loaded["fortran"], saved["fortran"])
    assert loaded["empty"][0].shape == (0,) and loaded["empty"][1][1:] == ("name", None)


@pytest.mark.parametrize("network", vgg.NETWORKS)
def test_the_wheels_weights_map_onto_the_networks(network):
    params, heads = vgg.load(network)
    assert list(params) == vgg.conv_names(network)
    first = params[vgg.conv_names(network)[0]]["kernel"]
    assert first.shape == ((3, 3, 3, 64) if network == "vgg16" else (11, 11, 3, 64))
    widths = (64, 128, 256, 512, 512) if network == "vgg16" else (64, 192, 384, 256, 256)
    assert [h.shape[0] for h in heads] == list(widths)
    assert all(np.all(h >= 0) for h in heads)  # LPIPS's heads are non-negative
    shapes = [f.shape for f in vgg.features(network, jnp.zeros((1, 64, 64, 3)))]
    assert [s[-1] for s in shapes] == list(widths)


def _conv_numpy(x, kernel, bias, stride, padding):
    """NHWC convolution (cross-correlation, as PyTorch's and Flax's) in float64 NumPy."""
    x = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    size = kernel.shape[0]
    windows = sliding_window_view(x, (size, size), axis=(1, 2))[:, ::stride, ::stride]
    return np.einsum("bhwcij,ijco->bhwo", windows, kernel.astype(np.float64)) + bias


def _first_layer_numpy(network, rgb):
    params, _ = vgg.load(network)
    shift, scale = np.array(vgg.SHIFT), np.array(vgg.SCALE)
    x = (rgb.astype(np.float64) * 2 - 1 - shift) / scale  # LPIPS's ScalingLayer on [-1, 1]
    if network == "alexnet":
        conv = params["conv1"]
        return np.maximum(_conv_numpy(x, conv["kernel"], conv["bias"], 4, 2), 0)
    for name in ("conv1_1", "conv1_2"):
        x = np.maximum(_conv_numpy(x, params[name]["kernel"], params[name]["bias"], 1, 1), 0)
    return x


def _distance_numpy(a, b, weights):
    """LPIPS's per-layer term by hand: unit-normalize over channels, square, weigh, average."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    a = a / (np.sqrt(np.sum(a**2, axis=-1, keepdims=True)) + 1e-10)
    b = b / (np.sqrt(np.sum(b**2, axis=-1, keepdims=True)) + 1e-10)
    return np.mean(np.sum((a - b) ** 2 * weights, axis=-1), axis=(1, 2))


@pytest.mark.parametrize("network", vgg.NETWORKS)
def test_lpips_matches_a_numpy_computation(network):
    truth = _photo(64)
    rng = np.random.default_rng(0)
    noisy = np.clip(truth + rng.normal(0, 25, truth.shape), 0, 255).astype(np.uint8)
    pred, true = noisy[None] / 255.0, truth[None] / 255.0
    _, heads = vgg.load(network)
    # Layer 1 entirely by hand: the convolutions, the ReLUs, the scaling, the distance.
    expected = _distance_numpy(
        _first_layer_numpy(network, pred), _first_layer_numpy(network, true), heads[0]
    )
    first = lpips.feature_distance(
        jnp.asarray(pred), jnp.asarray(true), network=network, layers=(1,), lpips_heads=True
    )
    np.testing.assert_allclose(first, expected, rtol=2e-4)
    # All five layers: the network's features, then the heads' sum by hand.
    features = [vgg.features(network, jnp.asarray(x)) for x in (pred, true)]
    by_hand = sum(_distance_numpy(a, b, h) for a, b, h in zip(*features, heads, strict=True))
    name = {"alexnet": "alex", "vgg16": "vgg"}[network]
    assert lpips.LPIPS_NETWORKS[name] == network
    np.testing.assert_allclose(lpips_jit(noisy[None], truth[None], network), by_hand, rtol=1e-4)


@pytest.mark.parametrize("network", vgg.NETWORKS)
def test_lpips_is_zero_symmetric_and_ranks_blur_above_slight_noise(network):
    truth = _photo(96, "chelsea")
    rng = np.random.default_rng(1)
    noisy = np.clip(truth + rng.normal(0, 4, truth.shape), 0, 255).astype(np.uint8)
    blurred = np.asarray(Image.fromarray(truth).resize((24, 24)).resize((96, 96), Image.BILINEAR))
    images = np.stack([truth, noisy, blurred])
    against = np.stack([truth, truth, truth])
    forward = np.asarray(lpips_jit(images, against, network))
    backward = np.asarray(lpips_jit(against, images, network))
    assert forward[0] == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(forward, backward, rtol=1e-5, atol=1e-7)
    assert 0.0 < forward[1] < 0.5 * forward[2]
    assert forward[2] < 1.5  # LPIPS's scale: well under 1 even for heavy blur


def test_small_images_are_upsampled_to_the_minimum_size():
    rng = np.random.default_rng(2)
    tiny = rng.integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    values = np.asarray(lpips_jit(tiny, tiny[::-1], "alexnet"))
    assert values.shape == (2,) and np.all(np.isfinite(values)) and np.all(values > 0)
    assert lpips.upsample_to(jnp.zeros((1, 16, 32, 3)), 64).shape == (1, 64, 128, 3)
    with pytest.raises(ValueError, match="unknown feature network 'resnet'"):
        lpips.check_network("resnet")
