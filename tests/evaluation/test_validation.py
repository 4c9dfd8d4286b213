"""Evaluation against an independent path: scikit-image metrics of known predictors."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import color, metrics

from colorize_jax import data
from colorize_jax.evaluation import evaluators, validation
from colorize_jax.objectives import heads
from colorize_jax.runtime import sharding
from colorize_jax.training.state import NetworkState
from tests.tiny_training import tiny_config

LAB_HEAD = heads.Head(space="lab", regression_channels=2)  # outputs are the ab target


def _predictor(fn) -> NetworkState:
    """A stand-in network whose apply_fn is `fn(inputs)` (no parameters)."""
    return NetworkState(
        params={},
        batch_stats={},
        opt_state=(),
        apply_fn=lambda variables, x, train: fn(x),
        tx=None,
    )


@pytest.fixture(scope="module")
def eval_dataset():
    config = tiny_config()
    config.data.image_size = 48
    return data.create_eval_dataset(config, batch_size=4)


def _truth_images(eval_dataset) -> np.ndarray:
    images = [b["image"][b["mask"]] for b in eval_dataset]
    return np.concatenate(images)


def test_no_colour_prediction_matches_scikit_image(eval_dataset):
    import jax.numpy as jnp

    mesh = sharding.create_mesh()
    zero_ab = _predictor(lambda x: jnp.zeros(x.shape[:-1] + (2,)))
    results, sheet = validation.evaluate(zero_ab, LAB_HEAD, eval_dataset, mesh, num_sheet_images=3)
    assert set(results) == {*evaluators.metric_keys("pixel"), "num_images", "num_skipped"}
    truth = _truth_images(eval_dataset)
    assert results["num_images"] == len(truth) == 9
    # Independent path: skimage LAB, ab set to zero, back to 8-bit RGB, skimage metrics.
    lab = color.rgb2lab(truth)
    lab[..., 1:] = 0
    gray = np.clip(np.round(color.lab2rgb(lab) * 255), 0, 255).astype(np.uint8)
    psnr = np.mean(
        [metrics.peak_signal_noise_ratio(t, g) for t, g in zip(truth, gray, strict=True)]
    )
    ssim = np.mean(
        [metrics.structural_similarity(t, g, channel_axis=-1, data_range=255)
         for t, g in zip(truth, gray, strict=True)]
    )  # fmt: skip
    de = np.mean([color.deltaE_ciede2000(color.rgb2lab(t), color.rgb2lab(g)).mean()
                  for t, g in zip(truth, gray, strict=True)])  # fmt: skip
    np.testing.assert_allclose(results["psnr"], psnr, rtol=2e-3)
    np.testing.assert_allclose(results["ssim"], ssim, rtol=2e-3)
    np.testing.assert_allclose(results["deltae2000"], de, rtol=2e-3)
    assert results["colorfulness"] < 1.0  # a gray image has (almost) no colour
    assert results["delta_colorfulness"] == pytest.approx(results["colorfulness_gt"], abs=1.0)
    # The sheet: 3 rows of gray | prediction | truth, 48 px cells with 2 px gaps.
    assert sheet.shape == (3 * 50 + 2, 3 * 50 + 2, 3)


def test_constant_colour_prediction_matches_a_hand_computed_auc(eval_dataset):
    import jax.numpy as jnp

    mesh = sharding.create_mesh()
    ab = np.array([20.0, -10.0])
    tinted = _predictor(lambda x: jnp.broadcast_to(jnp.asarray(ab / 110.0), x.shape[:-1] + (2,)))
    results, _ = validation.evaluate(tinted, LAB_HEAD, eval_dataset, mesh, num_sheet_images=0)
    truth = _truth_images(eval_dataset)
    lab = color.rgb2lab(truth)
    lab[..., 1:] = ab
    pred = np.clip(np.round(color.lab2rgb(lab) * 255), 0, 255).astype(np.uint8)
    # AuC by hand: for each threshold t in 0..150, the share of pixels within t in ab.
    aucs = []
    for p, t in zip(pred, truth, strict=True):
        distance = np.linalg.norm(color.rgb2lab(p)[..., 1:] - color.rgb2lab(t)[..., 1:], axis=-1)
        aucs.append(np.mean([np.mean(distance <= th) for th in range(151)]))
    np.testing.assert_allclose(results["auc_ab"], np.mean(aucs), atol=2e-3)
    psnr = np.mean(
        [metrics.peak_signal_noise_ratio(t, p) for t, p in zip(truth, pred, strict=True)]
    )
    np.testing.assert_allclose(results["psnr"], psnr, rtol=2e-3)


def test_pretrained_metrics_accumulate_over_masked_batches(eval_dataset):
    import jax
    import jax.numpy as jnp

    from colorize_jax.evaluation import frechet, pretrained_metrics

    mesh = sharding.create_mesh()
    zero_ab = _predictor(lambda x: jnp.zeros(x.shape[:-1] + (2,)))
    results, _ = validation.evaluate(
        zero_ab,
        LAB_HEAD,
        eval_dataset,
        mesh,
        evaluators=("pixel", "pretrained"),
        num_sheet_images=0,
    )
    keys = {*evaluators.metric_keys("pixel"), *evaluators.metric_keys("pretrained")}
    assert set(results) == {*keys, "num_images", "num_skipped"}
    # Independent path: every image at once, unpadded; the Gaussians by NumPy.
    truth = _truth_images(eval_dataset)
    gray = np.asarray(pretrained_metrics.gray_version(jnp.asarray(truth)))
    values, features = jax.jit(pretrained_metrics.per_image)(gray, truth)
    for key in pretrained_metrics.PER_IMAGE_KEYS:
        np.testing.assert_allclose(results[key], np.mean(values[key]), rtol=1e-4, atol=1e-6)
    pred, true = (np.asarray(features[k], np.float64) for k in ("pred", "truth"))
    expected = frechet.distance(
        pred.mean(0), np.cov(pred, rowvar=False), true.mean(0), np.cov(true, rowvar=False)
    )
    np.testing.assert_allclose(results["fd_effnet"], expected, rtol=1e-3)
    # The no-colour prediction is the gray photo: the same top-1 agreement; LPIPS > 0.
    assert results["top1_agreement"] == results["top1_agreement_gray"]
    assert results["lpips_alex"] > 0.01 and results["fd_effnet"] > 0
    # The truth itself: LPIPS 0, full agreement, no distance between the two fits.
    same, same_features = jax.jit(pretrained_metrics.per_image)(truth, truth)
    assert np.all(np.asarray(same["top1_agreement"]) == 1)
    assert float(np.max(same["lpips_vgg"])) < 1e-6
    f = np.asarray(same_features["pred"], np.float64)
    assert frechet.distance(f.mean(0), np.cov(f.T), f.mean(0), np.cov(f.T)) < 1e-6


def test_the_classifier_knows_a_cat():
    import jax
    import jax.numpy as jnp
    import skimage.data

    from colorize_jax.models import imagenet_classifier

    cat = jnp.asarray(skimage.data.chelsea()[None, :, 50:350] / 255.0, jnp.float32)
    logits, pooled = jax.jit(imagenet_classifier.classify)(cat)
    assert int(jnp.argmax(logits[0])) in range(281, 286)  # ImageNet's domestic cats
    assert pooled.shape == (1, 1280) and float(pooled.min()) >= 0.0
