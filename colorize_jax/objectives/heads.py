"""What a network's raw outputs mean: regressed colour channels, class logits over ab, or both.

A config without `config.classify` is a regression model: the network predicts the colour
target directly (its own `output_activation`, e.g. tanh, bounds it) and the head passes its
outputs through unchanged. A config with `config.classify` (see configs/unet_lab_classify.py)
builds a network with a linear output and the head gives its channels their meaning:

    outputs[..., :C]   regressed target (C = colorspace.target_channels), through tanh here;
                       present when a regression term of config.losses is on, or decode is
                       "regression"
    outputs[..., C:]   Q logits over the in-gamut ab bins (`ab_bins`); present when the
                       "classify" term is on

`Head.num_outputs` sizes the network, `Head.split` and `Head.loss_prediction` give the parts the
loss terms read (`losses.generator_loss`) and `Head.predict` turns outputs into the colour target
used for evaluation. The fields of config.classify, with their defaults and meaning, are in
`presets.classify_settings`. `decode_unbiased` divides the class weights out of the predicted
distribution before decoding: the rebalanced loss fits p(q | x) * w(q) (up to normalization),
which favours rare, saturated bins; dividing by w recovers an estimate of p(q | x) itself, whose
mean is the MSE-optimal colour and whose annealing then sharpens only where the network is
confident.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging

from colorize_jax.colour import ab_bins, colorspace


@functools.lru_cache(maxsize=8)
def _class_weights(prior_path: str, grid_size: float, lam: float, sigma: float) -> np.ndarray:
    centers = ab_bins.bin_centers(grid_size)
    if not prior_path:
        logging.warning(
            "config.classify.prior_path is empty: the classify loss uses uniform class weights "
            "(compute a prior with `python -m colorize_jax.tools.ab_prior` to rebalance)"
        )
        return np.ones(len(centers), np.float32)
    distribution = ab_bins.load_prior(prior_path, grid_size)
    return ab_bins.rebalancing_weights(distribution, centers, lam=lam, sigma=sigma)


@dataclasses.dataclass(frozen=True)
class Head:
    """The layout of a network's outputs and how they become losses and predictions.

    Hashable by value (it holds settings only; bins and class weights are cached lookups), so
    that it can key the caches of jitted functions.
    """

    space: str
    regression_channels: int  # 0: no regressed channels
    classify: bool = False
    regression_activation: str = "linear"  # "tanh" when the network's own output is linear
    grid_size: float = 10.0
    num_nearest: int = 5
    sigma: float = 5.0
    prior_path: str = ""
    prior_sigma: float = 5.0
    rebalance_lambda: float = 0.5
    decode: str = "annealed_mean"
    temperature: float = 0.38
    decode_unbiased: bool = False
    chroma_gain: float = 1.0  # the prediction's chroma multiplied by it (a decode setting)

    @property
    def centers(self) -> np.ndarray:
        """The (Q, 2) ab bin centres (ab units)."""
        return ab_bins.bin_centers(self.grid_size)

    @property
    def num_classes(self) -> int:
        """Q when the network predicts class logits, else 0."""
        return len(self.centers) if self.classify else 0

    @property
    def num_outputs(self) -> int:
        """Output channels the network needs."""
        return self.regression_channels + self.num_classes

    @property
    def class_weights(self) -> np.ndarray:
        """The (Q,) rebalancing weights of the classes (uniform without a prior)."""
        return _class_weights(
            self.prior_path, self.grid_size, self.rebalance_lambda, self.prior_sigma
        )

    def split(self, outputs: jax.Array) -> dict[str, jax.Array]:
        """Raw outputs -> {"regression": target-scaled colour, "logits": class logits}.

        Each key is present only when the network predicts it.
        """
        parts = {}
        if self.regression_channels:
            regression = outputs[..., : self.regression_channels]
            if self.regression_activation == "tanh":
                regression = jnp.tanh(regression)
            parts["regression"] = regression
        if self.classify:
            parts["logits"] = outputs[..., self.regression_channels :]
        return parts

    def classify_loss(self, logits: jax.Array, targets: jax.Array) -> jax.Array:
        """Rebalanced cross-entropy of `logits` against the soft-encoded lab `targets`.

        Each pixel's term is weighted by the class weight of its nearest bin, as in the paper.
        """
        ab = targets.astype(jnp.float32) * colorspace.LAB_AB_SCALE
        soft_targets, nearest = ab_bins.soft_encode(
            ab, self.centers, num_nearest=self.num_nearest, sigma=self.sigma
        )
        pixel_weights = jnp.asarray(self.class_weights)[nearest]
        return rebalanced_cross_entropy(logits, soft_targets, pixel_weights)

    def predict(self, outputs: jax.Array) -> jax.Array:
        """The colour target (scaled as `colorspace.encode`'s targets) that `outputs` predict."""
        return scale_chroma(self._decode(outputs), self.space, self.chroma_gain)

    def loss_prediction(self, outputs: jax.Array) -> jax.Array:
        """The decoded colour target the "decoded" and "adversarial" loss terms train:
        `predict`'s without the evaluation's `chroma_gain`, and the annealed mean where the
        decode is "mode" (whose argmax has no gradient)."""
        if self.classify and self.decode == "mode":
            return dataclasses.replace(self, decode="annealed_mean")._decode(outputs)
        return self._decode(outputs)

    def _decode(self, outputs: jax.Array) -> jax.Array:
        if not self.classify and self.regression_activation == "linear":
            return outputs
        parts = self.split(outputs)
        if not self.classify or self.decode == "regression":
            return parts["regression"]
        logits = parts["logits"]
        if self.decode_unbiased:
            logits = logits.astype(jnp.float32) - jnp.log(jnp.asarray(self.class_weights))
        ab = ab_bins.decode(logits, self.centers, self.decode, self.temperature)
        return ab / colorspace.LAB_AB_SCALE


def rebalanced_cross_entropy(
    logits: jax.Array, soft_targets: jax.Array, pixel_weights: jax.Array
) -> jax.Array:
    """Cross-entropy against soft class targets, each pixel's term scaled, averaged over pixels.

    `logits` and `soft_targets` (..., Q), the targets summing to 1 over Q (`ab_bins.soft_encode`);
    `pixel_weights` (...). No gradient flows into the targets.
    """
    cross_entropy = optax.losses.softmax_cross_entropy(
        logits.astype(jnp.float32), jax.lax.stop_gradient(soft_targets)
    )
    return jnp.mean(pixel_weights * cross_entropy)


# Kept here for the callers that know it by this name; defined beside the colour spaces.
scale_chroma = colorspace.scale_chroma


def create(config: Any, active_kinds: set[str]) -> Head:
    """The head of `config` (see the module docstring) for loss terms of `active_kinds`.

    `config` is complete (`components.defaults.complete`): every field is present. Raises
    ValueError on a bad combination.
    """
    space = config.data.color_space
    channels = colorspace.target_channels(space)
    settings = config.get("classify")
    chroma_gain = float(config.decode_chroma_gain)
    if chroma_gain <= 0:
        raise ValueError(f"config.decode_chroma_gain must be positive, not {chroma_gain}")
    if not settings:
        return Head(space=space, regression_channels=channels, chroma_gain=chroma_gain)
    classify = "logits" in active_kinds
    decode = settings.decode
    # The decoded and adversarial terms train the decoded prediction: by themselves they need
    # no regressed channels beside the logits.
    regress = not classify or decode == "regression" or "colour" in active_kinds
    if config.model.get("output_activation", "linear") != "linear":
        raise ValueError(
            "a config with config.classify needs config.model.output_activation='linear' "
            "(the head applies tanh to the regressed channels only)"
        )
    if classify and space != "lab":
        raise ValueError(
            f"the classify loss predicts ab bins: it needs color_space 'lab', not {space!r}"
        )
    if decode not in (*ab_bins.DECODE_METHODS, "regression"):
        raise ValueError(
            f"unknown config.classify.decode {decode!r}: use one of "
            f"{', '.join((*ab_bins.DECODE_METHODS, 'regression'))}"
        )
    if not classify and decode != "regression":
        decode = "regression"  # nothing else to decode: the network has no logits
    return Head(
        space=space,
        regression_channels=channels if regress else 0,
        classify=classify,
        regression_activation="tanh",
        grid_size=float(settings.grid_size),
        num_nearest=int(settings.num_nearest),
        sigma=float(settings.sigma),
        prior_path=str(settings.prior_path or ""),
        prior_sigma=float(settings.prior_sigma),
        rebalance_lambda=float(settings.rebalance_lambda),
        decode=decode,
        temperature=float(settings.temperature),
        decode_unbiased=bool(settings.decode_unbiased),
        chroma_gain=chroma_gain,
    )
