"""Tests of the ResNet-18/34 U-Net and of loading torchvision ImageNet weights into it.

No weights are downloaded: the tests build random state dicts with the exact key names and
shapes of torchvision's resnet18/resnet34 and check the converted network against a NumPy
reference written in PyTorch's NCHW/OIHW conventions.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from colorize_jax import models
from colorize_jax.models import resnet, torchvision_weights
from colorize_jax.training.state import count_params
from tests.model_fitting import fit_losses


def _model(depth=18, **overrides):
    """A ResNet U-Net with a small decoder (and, with encoder_width, a narrow encoder)."""
    config = {
        "name": "resnet_unet",
        "resnet_depth": depth,
        "decoder_widths": (16, 8, 8, 8, 8),
        **overrides,
    }
    return models.create_model(config, num_outputs=2)


def _abstract_variables(model):
    """The model's variables as shapes only: enough to load into, without running init."""
    return jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 32, 32, 1)))


def _torchvision_shapes(depth):
    """Key -> shape of torchvision's resnet18/34 state dict, written out from its architecture."""
    shapes = {"conv1.weight": (64, 3, 7, 7), "fc.weight": (1000, 512), "fc.bias": (1000,)}

    def batch_norm(prefix, channels):
        for field in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{prefix}.{field}"] = (channels,)
        shapes[f"{prefix}.num_batches_tracked"] = ()

    batch_norm("bn1", 64)
    blocks = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}[depth]
    inputs = 64
    for stage, (count, width) in enumerate(zip(blocks, (64, 128, 256, 512), strict=True), start=1):
        for index in range(count):
            prefix = f"layer{stage}.{index}"
            shapes[f"{prefix}.conv1.weight"] = (width, inputs, 3, 3)
            shapes[f"{prefix}.conv2.weight"] = (width, width, 3, 3)
            batch_norm(f"{prefix}.bn1", width)
            batch_norm(f"{prefix}.bn2", width)
            if inputs != width:
                shapes[f"{prefix}.downsample.0.weight"] = (width, inputs, 1, 1)
                batch_norm(f"{prefix}.downsample.1", width)
            inputs = width
    return shapes


def _random_state_dict(depth, seed=0):
    rng = np.random.default_rng(seed)
    state = {}
    for name, shape in _torchvision_shapes(depth).items():
        if name.endswith("num_batches_tracked"):
            state[name] = np.array(1000, np.int64)
        elif name.endswith("running_var"):
            state[name] = rng.uniform(0.5, 2.0, shape).astype(np.float32)
        elif len(shape) == 4:
            fan_in = np.prod(shape[1:])
            state[name] = (rng.normal(size=shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        else:
            state[name] = (rng.normal(size=shape) * 0.2).astype(np.float32)
    return state


def _conv(x, weight, stride, padding):
    """PyTorch's conv2d without bias for one CHW image and OIHW weights, by shifted slices."""
    _, height, width = x.shape
    _, _, kernel_h, kernel_w = weight.shape
    x = np.pad(x, ((0, 0), (padding, padding), (padding, padding)))
    out_h = (height + 2 * padding - kernel_h) // stride + 1
    out_w = (width + 2 * padding - kernel_w) // stride + 1
    out = np.zeros((weight.shape[0], out_h, out_w))
    for i in range(kernel_h):
        for j in range(kernel_w):
            window = x[:, i : i + stride * out_h : stride, j : j + stride * out_w : stride]
            out += np.einsum("chw,oc->ohw", window, weight[:, :, i, j])
    return out


def _batch_norm(x, state, prefix):
    mean, var = state[f"{prefix}.running_mean"], state[f"{prefix}.running_var"]
    scale, bias = state[f"{prefix}.weight"], state[f"{prefix}.bias"]
    return (x - mean[:, None, None]) / np.sqrt(var[:, None, None] + 1e-5) * scale[
        :, None, None
    ] + bias[:, None, None]


def test_output_matches_any_input_size():
    model = _model(encoder_width=8)
    variables = models.init_variables(model, jax.random.key(0), (1, 32, 32, 1))
    y = jax.jit(model.apply)(variables, jnp.zeros((1, 100, 70, 1)))  # Padded to 128 x 96.
    assert y.shape == (1, 100, 70, 2)
    assert np.all(np.abs(np.asarray(y)) <= 1.0)


@pytest.mark.parametrize("depth,expected", [(18, 14_235_170), (34, 24_343_330)])
def test_parameter_count(depth, expected):
    # Encoder: torchvision's trunk (all but fc) with a one-channel conv1 and BN's scale/bias as
    # parameters. Decoder: per step a 2x2 transposed conv with bias, then two conv3x3 without bias
    # and two BNs; skips of 256, 128, 64, 64 channels and the 1-channel input; 1x1 head.
    shapes = _torchvision_shapes(depth)
    encoder = sum(
        int(np.prod(shape))
        for name, shape in shapes.items()
        if not name.startswith("fc.") and "running" not in name and "num_batches" not in name
    )
    encoder -= 64 * 2 * 7 * 7  # conv1 reads L, not RGB.
    decoder = 0
    inputs = 512
    for width, skip in zip((256, 128, 64, 32, 16), (256, 128, 64, 64, 1), strict=True):
        decoder += 4 * inputs * width + width  # Transposed conv.
        decoder += 9 * (width + skip) * width + 9 * width * width + 2 * 2 * width
        inputs = width
    decoder += 16 * 2 + 2
    assert encoder + decoder == expected
    model = models.create_model({"name": "resnet_unet", "resnet_depth": depth}, num_outputs=2)
    variables = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 32, 32, 1)))
    assert count_params(variables["params"]) == expected
    assert count_params(variables["params"]["encoder"]) == encoder


def test_loss_decreases_on_a_small_batch():
    losses = fit_losses(_model(encoder_width=8), size=32)
    assert losses[-1] < 0.6 * losses[0]


def test_loaded_weights_match_a_numpy_reference(tmp_path):
    state = _random_state_dict(18)
    path = tmp_path / "resnet18.npz"
    np.savez(path, **state)
    variables = torchvision_weights.load_pretrained(_abstract_variables(_model()), str(path))

    encoder = {name: tree["encoder"] for name, tree in variables.items()}
    rng = np.random.default_rng(1)
    grey = rng.uniform(-1, 1, (17, 14)).astype(np.float32)
    stem = jax.jit(lambda v, x: resnet.ResNetEncoder(18).apply(v, x, train=False)[0])(
        encoder, grey[None, :, :, None]
    )
    # The RGB network on the grey image repeated in R, G and B.
    reference = _conv(np.stack([grey] * 3), state["conv1.weight"], stride=2, padding=3)
    reference = np.maximum(_batch_norm(reference, state, "bn1"), 0)
    np.testing.assert_allclose(np.asarray(stem)[0], reference.transpose(1, 2, 0), atol=1e-4)

    # layer2.0: stride 2, 64 -> 128 channels, with the 1x1 conv + BN downsample shortcut.
    block_input = rng.normal(size=(64, 9, 7)).astype(np.float32)
    block = resnet.BasicBlock(128, strides=2)
    block_variables = {name: tree["layer2_0"] for name, tree in encoder.items()}
    output = jax.jit(lambda v, x: block.apply(v, x, train=False))(
        block_variables, block_input.transpose(1, 2, 0)[None]
    )
    y = _conv(block_input, state["layer2.0.conv1.weight"], stride=2, padding=1)
    y = np.maximum(_batch_norm(y, state, "layer2.0.bn1"), 0)
    y = _batch_norm(_conv(y, state["layer2.0.conv2.weight"], 1, 1), state, "layer2.0.bn2")
    shortcut = _conv(block_input, state["layer2.0.downsample.0.weight"], stride=2, padding=0)
    shortcut = _batch_norm(shortcut, state, "layer2.0.downsample.1")
    reference = np.maximum(y + shortcut, 0)
    np.testing.assert_allclose(np.asarray(output)[0], reference.transpose(1, 2, 0), atol=1e-4)


def test_resnet34_maps_every_key_and_leaves_the_decoder_alone():
    variables = _abstract_variables(_model(34))
    state = _random_state_dict(34)
    loaded = torchvision_weights.load_pretrained(variables, state)
    np.testing.assert_array_equal(
        loaded["params"]["encoder"]["layer3_5"]["conv2"]["kernel"],
        state["layer3.5.conv2.weight"].transpose(2, 3, 1, 0),
    )
    np.testing.assert_array_equal(
        loaded["batch_stats"]["encoder"]["layer4_0"]["downsample_bn"]["var"],
        state["layer4.0.downsample.1.running_var"],
    )
    assert loaded["params"]["ConvBlock_0"] is variables["params"]["ConvBlock_0"]
    # Every encoder leaf came from the state dict (fc and the counters were ignored).
    mapped = torchvision_weights.torchvision_key_map(34)
    leaves = jax.tree_util.tree_leaves({name: tree["encoder"] for name, tree in variables.items()})
    assert len(mapped) == len(leaves)


def test_missing_unexpected_and_misshapen_keys_are_named():
    variables = _abstract_variables(_model())
    state = _random_state_dict(18)
    del state["layer1.0.bn1.running_var"]
    state["layer2.0.downsample.0.weight"] = np.zeros((128, 64, 3, 3), np.float32)
    state["layer5.0.conv1.weight"] = np.zeros((1,), np.float32)
    with pytest.raises(ValueError) as error:
        torchvision_weights.load_pretrained(variables, state)
    message = str(error.value)
    assert "missing keys: layer1.0.bn1.running_var" in message
    assert "unexpected keys: layer5.0.conv1.weight" in message
    assert (
        "layer2.0.downsample.0.weight: (128, 64, 3, 3) in the weights, expected (128, 64, 1, 1)"
        in message
    )


def test_depth_mismatch_is_reported_by_key():
    variables = _abstract_variables(_model())
    with pytest.raises(ValueError, match="unexpected keys: .*layer1.2.bn1.bias"):
        torchvision_weights.load_pretrained(variables, _random_state_dict(34))


def test_file_formats_without_their_packages_are_clear_errors(tmp_path):
    variables = _abstract_variables(_model())
    path = tmp_path / "weights.safetensors"
    path.write_bytes(b"")
    try:
        __import__("safetensors")
    except ImportError:
        with pytest.raises(ImportError, match="needs.*safetensors"):
            torchvision_weights.load_pretrained(variables, str(path))
    # .pth needs no torch: an empty file is named as not a PyTorch file.
    (tmp_path / "weights.pth").write_bytes(b"")
    with pytest.raises(ValueError, match="weights.pth: not a PyTorch file"):
        torchvision_weights.load_pretrained(variables, str(tmp_path / "weights.pth"))
    with pytest.raises(ValueError, match="unknown weights format '.h5'"):
        torchvision_weights.load_pretrained(variables, str(tmp_path / "weights.h5"))


def test_registry_hook_loads_only_when_configured(tmp_path):
    path = tmp_path / "resnet18.npz"
    state = _random_state_dict(18)
    np.savez(path, **state)
    variables = _abstract_variables(_model())
    config = {"name": "resnet_unet", "resnet_depth": 18, "init_from": ""}
    assert models.load_pretrained_if_configured(config, variables) is variables
    loaded = models.load_pretrained_if_configured({**config, "init_from": str(path)}, variables)
    np.testing.assert_array_equal(loaded["params"]["encoder"]["bn1"]["scale"], state["bn1.weight"])
    with pytest.raises(ValueError, match="'unet' cannot load pretrained weights"):
        models.load_pretrained_if_configured({"name": "unet", "init_from": str(path)}, variables)
