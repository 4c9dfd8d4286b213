"""Tests of inference/export*.py and inference/onnx_colorizer.py: deployable models, verified.

Every model family is exported to ONNX and StableHLO from a tiny workdir (the trained U-Net of
conftest's `workdir`; the others randomly initialized, with batch statistics moved off their
initial values so that freezing them matters) and run against the JAX model at two batch sizes
and two spatial shapes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest
from PIL import Image

from colorize_jax.inference import export, export_forward, full_resolution, onnx_colorizer
from tests.tiny_training import REPO, tiny_config

pytest.importorskip("jax2onnx")
pytest.importorskip("onnxruntime")


def _tiny_encoder_unet(experiment, **model):
    """tiny_config's run of `experiment`, a pretrained-encoder U-Net, with `model` fields."""
    config = tiny_config(experiment)
    del config.model.depth, config.model.base_width  # tiny_config's plain U-Net fields
    config.model.update(model)
    return config


def _resnet_unet():
    return _tiny_encoder_unet(
        "resnet34_unet_lab", resnet_depth=18, encoder_width=8, decoder_widths=(16, 8, 8, 8, 8)
    )


def _effnet_unet():
    return _tiny_encoder_unet("effnet_unet_lab", init_from="", decoder_widths=(8, 8, 8, 8, 8))


def _classify():
    config = tiny_config("unet_lab_classify")
    config.decode_chroma_gain = 1.3  # the decode's gain is part of the artifact
    return config


FAMILIES = {
    "unet": None,  # conftest's trained workdir
    "encoder_decoder": lambda: tiny_config("cnn_lab"),
    "resnet_unet": _resnet_unet,
    "effnet_unet": _effnet_unet,
    "classify": _classify,
}


def random_workdir(directory, config) -> str:
    """A workdir of `config` with one checkpoint of randomly initialized weights (step 1)."""
    from colorize_jax.components import builder
    from colorize_jax.runtime import checkpointing, sharding
    from colorize_jax.training import run_config, schemes

    os.makedirs(directory, exist_ok=True)
    run_config.save(config, str(directory))
    components = builder.build(config)
    model = components.generator.model
    state = schemes.create_train_state(components, jax.random.key(0), sharding.create_mesh())
    generator = state.generator

    @jax.jit
    def update(batch_stats, inputs):  # training's running averages, on one batch
        variables = {"params": generator.params, "batch_stats": batch_stats}
        _, updated = model.apply(variables, inputs, train=True, mutable=["batch_stats"])
        return updated["batch_stats"]

    batch_stats, inputs = generator.batch_stats, lightness((4, 32, 32))
    for _ in range(10):  # off their initial 0 and 1, most of the way to the batch's statistics
        batch_stats = update(batch_stats, inputs)
    state = state.replace_network("generator", generator.replace(batch_stats=batch_stats))
    manager = checkpointing.create_manager(str(directory))
    checkpointing.save(manager, 1, state)
    manager.wait_until_finished()
    manager.close()
    return str(directory)


@pytest.fixture(scope="module")
def family_workdirs(workdir, tmp_path_factory):
    root = tmp_path_factory.mktemp("families")
    return {
        name: workdir if make is None else random_workdir(root / name, make())
        for name, make in FAMILIES.items()
    }


@pytest.fixture(scope="module")
def exported(family_workdirs, tmp_path_factory):
    """{(family, format): (sidecar, path)}, each exported (and checked) once."""
    root = tmp_path_factory.mktemp("exported")
    done = {}
    for family, directory in family_workdirs.items():
        for model_format in export.FORMATS:
            path = str(root / f"{family}.{model_format}")
            done[family, model_format] = (export.export(directory, model_format, path), path)
    return done


def lightness(shape, seed=0) -> np.ndarray:
    """A smooth lightness batch in [-1, 1] with some texture."""
    batch, height, width = shape
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    rng = np.random.default_rng(seed)
    base = np.sin(4 * x + 3 * y)[None] * 0.7 + rng.normal(0, 0.15, (batch, height, width))
    return np.clip(base, -1, 1)[..., None].astype(np.float32)


SHAPES = ((2, 2, 3), (1, 4, 1))  # (batch, height, width) in strides: two of each


@pytest.fixture(scope="module")
def jax_predictions(family_workdirs):
    """{family: (colorizer, [(inputs, the JAX model's target) for SHAPES])}, made once."""
    cache = {}

    def get(family):
        if family not in cache:
            colorizer = full_resolution.Colorizer(family_workdirs[family])
            reference, s = jax.jit(export_forward.predict_function(colorizer)), colorizer.stride
            cases = []
            for batch, height, width in SHAPES:
                inputs = lightness((batch, height * s, width * s), seed=batch)
                cases.append((inputs, np.asarray(reference(inputs))))
            cache[family] = colorizer, cases
        return cache[family]

    return get


@pytest.mark.parametrize("model_format", export.FORMATS)
@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_matches_jax_at_symbolic_batch_and_size(
    family, model_format, exported, jax_predictions
):
    sidecar, path = exported[family, model_format]
    colorizer, cases = jax_predictions(family)
    predict = export_forward.load_predict(path, model_format)
    for inputs, expected in cases:  # two batch sizes, heights and widths
        got = predict(inputs)
        assert got.shape == expected.shape == (*inputs.shape[:3], 2)
        np.testing.assert_allclose(got, expected, atol=2e-5, rtol=0)
        assert expected.std(axis=(1, 2)).min() > 1e-3  # a picture, not a constant
    checks = sidecar["parity"]["checks"]  # the command's own check on a photo
    assert [row["model_input"][:1] for row in checks] == [[1], [2]]
    assert all(row["target_max_abs"] < 1e-4 and row["rgb8_mean_abs"] < 0.05 for row in checks)
    assert sidecar["stride"] == colorizer.stride and sidecar["step"] == colorizer.step


def test_the_sidecar_says_what_the_artifact_needs(exported):
    sidecar, path = exported["classify", "onnx"]
    with open(onnx_colorizer.sidecar_path(path)) as f:
        assert json.load(f) == sidecar
    assert path + ".json" == onnx_colorizer.sidecar_path(path)
    assert sidecar["input"] == {
        "name": "lightness",
        "shape": ["B", "H", "W", 1],
        "dtype": "float32",
        "layout": "NHWC",
        "scaling": "CIELAB L / 50 - 1",
    }
    assert sidecar["output"]["channels"] == ["a", "b"]
    assert sidecar["output"]["scaling"] == "CIELAB (a, b) / 110"
    assert sidecar["decode"]["decode"] == "annealed_mean"
    assert sidecar["decode"]["temperature"] == 0.38
    assert sidecar["decode"]["chroma_gain"] == 1.3
    assert sidecar["config"]["model"]["name"] == "unet"
    assert sidecar["render_size"] == 32 and sidecar["color_space"] == "lab"
    stablehlo, _ = exported["effnet_unet", "stablehlo"]
    assert stablehlo["input"]["shape"] == ["B", "32*h", "32*w", 1]


def test_the_decode_is_in_the_artifact(family_workdirs, exported):
    """The classification head's annealed mean and chroma gain: not the raw logits."""
    _, path = exported["classify", "onnx"]
    colorizer = full_resolution.Colorizer(family_workdirs["classify"])
    inputs = lightness((1, 16, 24))
    network = colorizer.network
    logits = network.apply_fn(network.variables, inputs, train=False)
    assert logits.shape[-1] == colorizer.head.num_classes > 2
    ab = export_forward.load_predict(path, "onnx")(inputs)
    np.testing.assert_allclose(ab, np.asarray(colorizer.head.predict(logits)), atol=2e-5)
    plain = full_resolution.Colorizer(
        family_workdirs["classify"], overrides={"decode_chroma_gain": 1.0}
    )
    ratio = ab / np.asarray(plain.head.predict(logits))
    assert np.median(ratio) == pytest.approx(1.3, rel=1e-3)


def test_onnx_colorizer_matches_the_workdir_colorizer_without_jax(workdir, exported, tmp_path):
    _, path = exported["unet", "onnx"]
    import skimage.data

    photo = skimage.data.chelsea()[:171, :250]  # sides that are not multiples of the stride
    jax_rgb = full_resolution.Colorizer(workdir).colorize(photo)
    onnx_rgb = onnx_colorizer.OnnxColorizer(path).colorize(photo)
    assert onnx_rgb.shape == photo.shape and onnx_rgb.dtype == np.uint8
    assert np.abs(onnx_rgb.astype(int) - jax_rgb).mean() < 1
    assert np.abs(onnx_rgb.astype(int) - jax_rgb).max() <= 2

    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.fromarray(photo).save(inputs / "cat.png")
    Image.fromarray(photo).convert("L").save(inputs / "gray.png")
    (inputs / "broken.jpg").write_text("not an image")
    before = {p.name: p.read_bytes() for p in inputs.iterdir()}
    out = tmp_path / "out"
    env = {**os.environ, "JAX_PLATFORMS": "no_such_backend"}  # any JAX computation would fail
    result = run("colorize_jax.colorize", f"--onnx={path}", f"--output_dir={out}", inputs, env=env)
    assert result.returncode == 1, result.stderr  # the broken input
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "broken.jpg" in errors[0]
    assert "colorized 2 images" in result.stderr and "1 failed" in result.stderr
    cat = np.asarray(Image.open(out / "in" / "cat.png"))
    np.testing.assert_array_equal(cat, onnx_rgb)
    assert np.asarray(Image.open(out / "in" / "gray.png")).shape == photo.shape
    assert {p.name: p.read_bytes() for p in inputs.iterdir()} == before

    refused = run("colorize_jax.colorize", f"--onnx={path}", f"--output_dir={inputs}", inputs)
    assert refused.returncode == 1 and "--allow_same_dir" in refused.stderr


def run(module, *args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def last_line(result: subprocess.CompletedProcess) -> str:
    return result.stderr.strip().splitlines()[-1]


def test_workdir_problems_are_one_line_errors(workdir, tmp_path):
    out = str(tmp_path / "m.onnx")
    with pytest.raises(
        FileNotFoundError,
        match="nothing/config.json not found: point --workdir at a training directory",
    ):
        export.export(str(tmp_path / "nothing"), "onnx", out)
    with pytest.raises(ValueError, match="unknown --format 'tflite': use onnx or stablehlo"):
        export.export(workdir, "tflite", out)
    with pytest.raises(FileNotFoundError, match=r"no checkpoint for step 99 .*available: \["):
        export.export(workdir, "onnx", out, step=99)
    untrained = tmp_path / "untrained"
    untrained.mkdir()
    shutil.copy(os.path.join(workdir, "config.json"), untrained)
    with pytest.raises(FileNotFoundError, match="no checkpoint in .*: train first"):
        export.export(str(untrained), "stablehlo", out)
    broken = tmp_path / "broken"
    shutil.copytree(workdir, broken)
    for root, _, files in os.walk(broken / "checkpoints"):
        for name in files:
            if os.path.basename(root) == "d":  # the arrays' data: truncate it
                with open(os.path.join(root, name), "r+b") as f:
                    f.truncate(20)
    with pytest.raises(ValueError, match="cannot restore the checkpoint in .*--step=N"):
        export.export(str(broken), "onnx", out)
    assert not os.path.exists(out) and not os.path.exists(out + ".json")

    # The command line: that message, alone, on the last line; exit status 1.
    result = run(
        "colorize_jax.export", f"--workdir={broken}", "--format=stablehlo", f"--output={out}"
    )
    assert result.returncode == 1
    assert last_line(result).startswith("colorize_jax.export: error: cannot restore the")
    assert "pick another with --step=N" in last_line(result)
    assert "Traceback" not in result.stderr


def test_missing_onnx_file_or_sidecar_are_one_line_errors(exported, tmp_path):
    with pytest.raises(FileNotFoundError, match="none.onnx not found: export a model first"):
        onnx_colorizer.OnnxColorizer(str(tmp_path / "none.onnx"))
    _, path = exported["unet", "onnx"]
    alone = tmp_path / "alone.onnx"
    shutil.copy(path, alone)
    with pytest.raises(FileNotFoundError, match="alone.onnx.json not found"):
        onnx_colorizer.OnnxColorizer(str(alone))
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model")
    shutil.copy(path + ".json", str(garbage) + ".json")
    with pytest.raises(ValueError, match="onnxruntime cannot load .*garbage.onnx"):
        onnx_colorizer.OnnxColorizer(str(garbage))
    stablehlo_path = exported["unet", "stablehlo"][1]
    with pytest.raises(ValueError, match="describes a 'stablehlo' model, not 'onnx'"):
        onnx_colorizer.OnnxColorizer(stablehlo_path)

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.png")
    result = run(
        "colorize_jax.colorize", f"--onnx={alone}", f"--output_dir={tmp_path}/o", tmp_path / "a.png"
    )
    assert result.returncode == 1
    assert last_line(result).startswith("colorize_jax.colorize: error: ")
    assert "alone.onnx.json not found" in last_line(result)
    assert "python -m colorize_jax.export" in last_line(result)


def test_the_onnx_tracing_adaptations_compute_what_the_model_computes():
    import flax.linen as nn
    import jax.numpy as jnp

    from colorize_jax.inference import onnx_tracing
    from colorize_jax.models.depthwise import DepthwiseConv

    x = jax.random.normal(jax.random.key(0), (2, 9, 14, 5))
    for shape in ((2, 18, 28, 5), (2, 2, 2, 5)):
        small = x[:, : shape[1] // 2, : shape[2] // 2]
        doubled = onnx_tracing.upsample2x_bilinear(onnx_tracing.upsample2x_bilinear(small, 1), 2)
        expected = jax.image.resize(small, shape, method="bilinear")
        np.testing.assert_allclose(doubled, expected, atol=1e-6)
    pool = onnx_tracing._max_pool_as_slices(None)
    np.testing.assert_array_equal(
        pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1))),
        nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1))),
    )
    conv = DepthwiseConv(5, strides=2)
    variables = conv.init(jax.random.key(1), x)
    with nn.intercept_methods(onnx_tracing._depthwise_as_grouped_conv):
        grouped = conv.apply(variables, x)
    np.testing.assert_allclose(grouped, conv.apply(variables, x), atol=1e-5)
    assert grouped.shape == (2, 5, 7, 5) and jnp.abs(grouped).mean() > 0.1


@pytest.mark.parametrize("space", ["lab", "yuv", "rgb"])
def test_target_ab_is_the_same_in_numpy_and_jax(space):
    from colorize_jax.colour import colorspace

    rgb = (np.random.default_rng(0).uniform(0, 255, (2, 6, 7, 3))).astype(np.uint8)
    inputs, targets = colorspace.encode(rgb, space)
    targets = np.clip(targets * 0.9 + 0.05, -1, 1)  # a prediction near the truth
    in_numpy = full_resolution.target_ab(inputs, targets, space)
    in_jax = full_resolution.target_ab(jax.numpy.asarray(inputs), jax.numpy.asarray(targets), space)
    assert isinstance(in_numpy, np.ndarray) and in_numpy.shape == (2, 6, 7, 2)
    np.testing.assert_allclose(in_numpy, np.asarray(in_jax), atol=2e-3)


def test_parity_fails_beyond_either_tolerance():
    from colorize_jax.inference import export_parity

    ok = {"target_max_abs": export_parity.TARGET_TOLERANCE, "rgb8_mean_abs": 0.0}
    off_target = {**ok, "target_max_abs": 2 * export_parity.TARGET_TOLERANCE}
    off_rgb = {**ok, "rgb8_mean_abs": 2 * export_parity.RGB_TOLERANCE}
    assert export_parity.failed_checks([ok, off_target, off_rgb]) == [off_target, off_rgb]
