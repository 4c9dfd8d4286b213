"""The evaluator registry: names, keys, errors, and a toy evaluator added through it."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest
from skimage import color

from colorize_jax import data
from colorize_jax.evaluation import evaluators, validation
from colorize_jax.objectives import heads
from colorize_jax.runtime import sharding
from colorize_jax.training.state import NetworkState
from tests.tiny_training import tiny_config

# metrics.json keys as runs before the registry wrote them: they must stay comparable.
PIXEL_KEYS = (
    "psnr",
    "ssim",
    "deltae2000",
    "colorfulness",
    "colorfulness_gt",
    "delta_colorfulness",
    "auc_ab",
    "acc_de2.3",
    "acc_de10",
)
PRETRAINED_KEYS = ("lpips_alex", "lpips_vgg", "top1_agreement", "top1_agreement_gray", "fd_effnet")
LAB_HEAD = heads.Head(space="lab", regression_channels=2)  # outputs are the ab target


def test_keys_of_the_named_evaluators():
    assert evaluators.metric_keys(("pixel",)) == PIXEL_KEYS
    assert evaluators.metric_keys(("pixel", "pretrained")) == PIXEL_KEYS + PRETRAINED_KEYS
    assert evaluators.metric_keys(("pretrained", "pixel")) == PRETRAINED_KEYS + PIXEL_KEYS
    assert evaluators.metric_keys("pixel") == PIXEL_KEYS  # one name alone, not its letters
    assert evaluators.metric_keys("pretrained") == PRETRAINED_KEYS


def test_unknown_or_repeated_names_are_errors_that_name_the_choices():
    with pytest.raises(ValueError) as error:
        evaluators.resolve(("pixel", "pretrianed"))
    message = str(error.value)
    assert "unknown evaluator 'pretrianed'" in message
    assert "did you mean 'pretrained'" in message
    assert message.endswith("available: pixel, pretrained")
    with pytest.raises(ValueError, match=r"^unknown evaluator 'fid'.*; available: pixel, pre"):
        evaluators.resolve(["fid"])
    with pytest.raises(ValueError, match="'pixel' is named twice"):
        evaluators.resolve(("pixel", "pixel"))


def test_the_presets_name_registered_evaluators():
    from colorize_jax import presets

    full = presets.base_config()
    assert tuple(full.evaluators) == ("pixel", "pretrained")
    assert tuple(tiny_config().evaluators) == ("pixel",)  # the demo preset
    for config in (full, tiny_config()):
        evaluators.resolve(tuple(config.evaluators))


@dataclasses.dataclass(frozen=True)
class RedChannel:
    """A toy family: the mean |red error| per image, and the RMS over images of the true
    images' mean red (a figure that is not a mean of per-image values)."""

    keys = ("red_error", "red_rms")

    def batch_sums(self, colorized, truth, mask):
        colorized, truth = colorized.astype(jnp.float32), truth.astype(jnp.float32)
        error = jnp.mean(jnp.abs(colorized[..., 0] - truth[..., 0]), axis=(1, 2))
        red = jnp.mean(truth[..., 0], axis=(1, 2))
        return {"error": jnp.sum(error * mask), "square": jnp.sum(red**2 * mask)}

    def finish(self, totals, count):
        return {
            "red_error": float(totals["error"]) / count,
            "red_rms": float(np.sqrt(totals["square"] / count)),
        }


@pytest.fixture(scope="module")
def eval_dataset():
    config = tiny_config()
    config.data.image_size = 32
    return data.create_eval_dataset(config, batch_size=4)  # 9 images: 3 batches, 3 padded


def _zero_ab() -> NetworkState:
    return NetworkState(
        params={},
        batch_stats={},
        opt_state=(),
        apply_fn=lambda variables, x, train: jnp.zeros(x.shape[:-1] + (2,)),
        tx=None,
    )


def test_a_toy_evaluator_added_to_the_registry_runs_end_to_end(eval_dataset, monkeypatch):
    monkeypatch.setitem(evaluators.EVALUATORS, "red", RedChannel())
    assert evaluators.metric_keys(("pixel", "red")) == (*PIXEL_KEYS, "red_error", "red_rms")
    mesh = sharding.create_mesh()
    results, _ = validation.evaluate(
        _zero_ab(), LAB_HEAD, eval_dataset, mesh, evaluators=("red", "pixel"), num_sheet_images=0
    )
    assert list(results) == ["red_error", "red_rms", *PIXEL_KEYS, "num_images", "num_skipped"]
    assert results["num_images"] == 9 and results["num_skipped"] == 0
    # Independent path: the unpadded images, ab = 0 by scikit-image, the figures by NumPy.
    truth = np.concatenate([b["image"][b["mask"]] for b in eval_dataset]).astype(np.float64)
    lab = color.rgb2lab(truth / 255.0)
    lab[..., 1:] = 0
    gray = np.clip(np.round(color.lab2rgb(lab) * 255), 0, 255)
    error = np.mean(np.abs(gray[..., 0] - truth[..., 0]), axis=(1, 2))
    np.testing.assert_allclose(results["red_error"], error.mean(), atol=0.05)
    red = truth[..., 0].mean(axis=(1, 2))
    np.testing.assert_allclose(results["red_rms"], np.sqrt(np.mean(red**2)), rtol=1e-6)
    # The pixel figures are those of an evaluation without the toy.
    alone, _ = validation.evaluate(_zero_ab(), LAB_HEAD, eval_dataset, mesh, num_sheet_images=0)
    for key in (*PIXEL_KEYS, "num_images"):
        assert results[key] == pytest.approx(alone[key], rel=1e-6), key


def test_evaluators_that_misreport_or_collide_are_refused(eval_dataset, monkeypatch):
    @dataclasses.dataclass(frozen=True)
    class Misreporting(RedChannel):
        def finish(self, totals, count):
            return {"red_error": 0.0}

    @dataclasses.dataclass(frozen=True)
    class Colliding(RedChannel):
        keys = ("psnr",)

    monkeypatch.setitem(evaluators.EVALUATORS, "bad", Misreporting())
    monkeypatch.setitem(evaluators.EVALUATORS, "psnr_again", Colliding())
    mesh = sharding.create_mesh()
    with pytest.raises(ValueError, match=r"'bad' reported \['red_error'\], not its keys"):
        validation.evaluate(
            _zero_ab(), LAB_HEAD, eval_dataset, mesh, evaluators=("bad",), num_sheet_images=0
        )
    with pytest.raises(ValueError, match="'pixel' and 'psnr_again' both report 'psnr'"):
        evaluators.resolve(("pixel", "psnr_again"))
