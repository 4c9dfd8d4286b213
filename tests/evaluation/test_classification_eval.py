"""Colour classification in evaluation, and the ab prior command on the demo photos."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from skimage import color

from colorize_jax import data
from colorize_jax.colour import ab_bins
from colorize_jax.components import builder
from colorize_jax.evaluation import evaluators, validation
from colorize_jax.inference import restore
from colorize_jax.objectives import heads
from colorize_jax.runtime import sharding
from colorize_jax.training.state import NetworkState
from tests.tiny_training import REPO, tiny_config


def _images():
    return jnp.asarray(np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3), dtype=np.uint8))


def _predictor(fn) -> NetworkState:
    return NetworkState(
        params={}, batch_stats={}, opt_state=(), apply_fn=lambda v, x, train: fn(x), tx=None
    )


def test_decoded_logits_colorize_like_the_same_regressed_colour():
    config = tiny_config("unet_lab_classify")
    config.classify.decode = "mode"
    head = builder.build_head(config)
    assert head.classify and head.space == "lab"
    target = int(np.flatnonzero(np.all(head.centers == [20.0, -10.0], axis=-1))[0])
    one_hot = jax.nn.one_hot(target, head.num_classes) * 10.0
    classifier = _predictor(lambda x: jnp.broadcast_to(one_hot, x.shape[:-1] + one_hot.shape))
    regressor = _predictor(
        lambda x: jnp.broadcast_to(jnp.asarray([20.0, -10.0]) / 110.0, x.shape[:-1] + (2,))
    )
    images = _images()
    _, by_class = validation.colorize_batch(classifier, head, images)
    plain = heads.Head(space="lab", regression_channels=2)  # outputs are the target
    _, by_value = validation.colorize_batch(regressor, plain, images)
    np.testing.assert_array_equal(by_class, by_value)
    # Independent path: scikit-image puts (20, -10) on the true lightness.
    lab = color.rgb2lab(np.asarray(images))
    lab[..., 1:] = [20.0, -10.0]
    expected = np.clip(np.round(color.lab2rgb(lab) * 255), 0, 255)
    assert np.abs(np.asarray(by_class, np.int32) - expected).max() <= 1
    # With a peaked distribution the annealed mean lands on the same colour.
    config.classify.decode = "annealed_mean"
    _, annealed = validation.colorize_batch(classifier, builder.build_head(config), images)
    assert np.abs(np.asarray(annealed, np.int32) - np.asarray(by_class, np.int32)).max() <= 1


def test_evaluating_a_tiny_classification_model():
    config = tiny_config("unet_lab_classify")
    model, head = builder.build_generator(config)
    variables = jax.jit(functools.partial(builder.init_variables, model, 1, 32))(jax.random.key(0))
    generator = restore.Generator(**variables, model=model, head=head)
    mesh = sharding.create_mesh()
    dataset = data.create_eval_dataset(config, batch_size=4)
    results, sheet = validation.evaluate(
        generator, generator.head, dataset, mesh, num_sheet_images=2
    )
    assert set(results) == {*evaluators.metric_keys("pixel"), "num_images", "num_skipped"}
    assert results["num_images"] == 9
    assert all(np.isfinite(v) for v in results.values())
    assert sheet.shape == (2 * 34 + 2, 3 * 34 + 2, 3)


def test_prior_command_counts_the_demo_photos(tmp_path):
    output = tmp_path / "prior.npz"
    env = {**os.environ, "PYTHONPATH": REPO, "JAX_PLATFORMS": "cpu"}
    run = subprocess.run(
        [
            sys.executable, "-m", "colorize_jax.tools.ab_prior",
            "--config=configs/unet_lab_classify.py:demo", "--config.data.image_size=32",
            f"--output={output}", "--max_images=3",
        ],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert summary["num_images"] == 3 and summary["num_bins"] == 262
    saved = np.load(output)
    assert saved["counts"].sum() == 3 * 32 * 32
    assert saved["distribution"].sum() == pytest.approx(1.0)
    # Independent path: the same crops, scikit-image's Lab and a brute-force nearest bin.
    config = tiny_config("unet_lab_classify")
    config.data.eval_split = config.data.train_split
    config.data.max_eval_examples = 3
    images = np.concatenate(
        [b["image"][b["mask"]] for b in data.create_eval_dataset(config, batch_size=4)]
    )
    centers = ab_bins.bin_centers(10)
    ab = color.rgb2lab(images).reshape(-1, 3)[:, 1:]
    nearest = ((ab[:, None, :] - centers[None]) ** 2).sum(-1).argmin(-1)
    expected = np.bincount(nearest, minlength=len(centers))
    assert np.abs(saved["counts"] - expected).sum() <= 0.002 * expected.sum()  # float32 ties
    # Training reads it back as class weights with E_p̃[w] = 1.
    config.classify.prior_path = str(output)
    weights = builder.build_head(config).class_weights
    smoothed = ab_bins.smoothed_prior(saved["distribution"], centers)
    assert np.sum(smoothed * weights) == pytest.approx(1.0, rel=1e-5)
    assert weights.max() > 1.5 * weights.min()
