"""Evaluation metrics from pretrained networks: LPIPS, fd_effnet and top-1 agreement.

They are the "pretrained" evaluator (`evaluators.EVALUATORS`), which `config.evaluators` names
in the presets (not in the demo's). Per batch, `batch_sums` gives sums over the unmasked images
(jit-able; the evaluation adds them up over the batches, in float64 on the host, and every
process gets the same global sums); `results` turns the totals into the reported figures:

  lpips_alex, lpips_vgg   LPIPS (`lpips`) of the colorized photo against the true one, per
                          image (images under 64 px are upsampled to 64 first).
  fd_effnet               the Fréchet distance (`frechet`) between Gaussian fits of the pooled
                          EfficientNet-Lite0 features (1280-d, at 224 px) of the colorized and
                          of the true photos: a realism metric of the whole set, lower is
                          better. Not FID (other network, resolution and set size): compare
                          its values with each other only, on the same validation images.
  top1_agreement          share of images whose colorized photo the ImageNet EfficientNet-Lite0
                          classifier puts in the class it gives the true photo.
  top1_agreement_gray     the same for the gray photo (the true lightness, no colour): what the
                          colour adds is the difference between the two.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp

from colorize_jax.colour import colorspace
from colorize_jax.evaluation import frechet
from colorize_jax.models import imagenet_classifier, lpips

PER_IMAGE_KEYS = ("lpips_alex", "lpips_vgg", "top1_agreement", "top1_agreement_gray")
KEYS = (*PER_IMAGE_KEYS, "fd_effnet")
_FEATURES = {"pred": "fd_effnet_pred", "truth": "fd_effnet_truth"}


def gray_version(truth: jax.Array) -> jax.Array:
    """The true photos without colour: their CIELAB lightness with a = b = 0, uint8 RGB."""
    lab = colorspace.rgb_to_lab(jnp.asarray(truth).astype(jnp.float32) / 255.0)
    return colorspace.to_uint8(colorspace.lab_to_rgb(lab * jnp.asarray([1.0, 0.0, 0.0])))


def per_image(colorized: jax.Array, truth: jax.Array) -> tuple[dict[str, jax.Array], dict]:
    """({key: (B,) value} of `PER_IMAGE_KEYS`, {"pred", "truth": (B, 1280) pooled features})
    of uint8 (0..255) RGB batches."""
    values = {
        f"lpips_{name}": lpips.lpips(colorized, truth, network)
        for name, network in lpips.LPIPS_NETWORKS.items()
    }
    truth_logits, truth_features = imagenet_classifier.classify(_unit(truth))
    pred_logits, pred_features = imagenet_classifier.classify(_unit(colorized))
    gray_logits, _ = imagenet_classifier.classify(_unit(gray_version(truth)))
    truth_class = jnp.argmax(truth_logits, axis=-1)
    values["top1_agreement"] = (jnp.argmax(pred_logits, axis=-1) == truth_class).astype(jnp.float32)
    values["top1_agreement_gray"] = (jnp.argmax(gray_logits, axis=-1) == truth_class).astype(
        jnp.float32
    )
    return values, {"pred": pred_features, "truth": truth_features}


def batch_sums(colorized: jax.Array, truth: jax.Array, mask: jax.Array) -> dict[str, jax.Array]:
    """Sums over the images where `mask` is 1: of each per-image metric, and the moment sums
    of the pooled features (`frechet.moment_sums`) of the colorized and of the true photos."""
    values, features = per_image(colorized, truth)
    mask = mask.astype(jnp.float32)
    sums = {key: jnp.sum(values[key] * mask) for key in PER_IMAGE_KEYS}
    for which, key in _FEATURES.items():
        sums[key] = frechet.moment_sums(features[which], mask)
    return sums


def results(totals: Mapping, count: float) -> dict[str, float]:
    """The figures of `KEYS` from the totals of `batch_sums` over `count` images.

    fd_effnet is NaN with fewer than two images (no covariance).
    """
    figures = {key: float(totals[key]) / count for key in PER_IMAGE_KEYS}
    if count < 2:
        figures["fd_effnet"] = float("nan")
    else:
        pred, truth = (totals[key] for key in _FEATURES.values())
        figures["fd_effnet"] = frechet.distance_from_sums(count, pred, truth)
    return figures


def _unit(images: jax.Array) -> jax.Array:
    return jnp.asarray(images).astype(jnp.float32) / 255.0
