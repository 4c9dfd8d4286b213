"""Evaluators: the metric families an evaluation computes, named in `config.evaluators`.

An evaluator compares the colorized images of the validation split with the true ones. It has

  keys                       the names of the figures it reports (its metrics.json keys);
  batch_sums(colorized, truth, mask)
                             jit-able: sums over the images of one batch where `mask` is 1
                             (a pytree of arrays; `colorized` and `truth` are (B, H, W, 3)
                             uint8 RGB, `mask` (B,) float32 0/1);
  finish(totals, count)      on the host: the figures of `keys` from the float64 totals of
                             `batch_sums` over the whole split and the number of images.

`EVALUATORS` is the registry, by name:

  pixel       the per-image metrics of `metrics.image_metrics` (`metrics.KEYS`: PSNR, SSIM,
              CIEDE2000, colourfulness, AuC, CIE76 accuracies), means over images.
  pretrained  the pretrained networks' metrics of `pretrained_metrics` (LPIPS alex and vgg,
              fd_effnet, top-1 agreement with and without colour).

Adding a family is one class with the three members above and one line in `EVALUATORS`.
Evaluators must be hashable (they key the cache of the jitted evaluation step).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, Protocol

import jax
import jax.numpy as jnp

from colorize_jax import lookup
from colorize_jax.evaluation import metrics, pretrained_metrics

# Keys the evaluation loop itself reports; no evaluator may declare them.
RESERVED_KEYS = ("num_images", "num_skipped", "step")


class Evaluator(Protocol):
    """What `validation.evaluate` needs of a metric family (see the module docstring)."""

    keys: tuple[str, ...]

    def batch_sums(self, colorized: jax.Array, truth: jax.Array, mask: jax.Array) -> Any:
        """Jit-able sums over the unmasked images of one batch."""

    def finish(self, totals: Any, count: float) -> dict[str, float]:
        """The figures of `keys` from the float64 totals over `count` images."""


@dataclasses.dataclass(frozen=True)
class PerImageMeans:
    """An evaluator whose figures are means over images of `per_image(colorized, truth)`, a
    jit-able function returning {key: (B,) value} for (at least) every key of `keys`."""

    keys: tuple[str, ...]
    per_image: Callable[[jax.Array, jax.Array], Mapping[str, jax.Array]]

    def batch_sums(self, colorized: jax.Array, truth: jax.Array, mask: jax.Array):
        """{key: sum over the unmasked images of its per-image value}."""
        values = self.per_image(colorized, truth)
        return {key: jnp.sum(values[key] * mask) for key in self.keys}

    def finish(self, totals: Mapping[str, Any], count: float) -> dict[str, float]:
        """{key: mean over the `count` images}."""
        return {key: float(totals[key]) / count for key in self.keys}


@dataclasses.dataclass(frozen=True)
class Pretrained:
    """LPIPS, top-1 agreement and fd_effnet of the pretrained networks (`pretrained_metrics`)."""

    keys: ClassVar[tuple[str, ...]] = pretrained_metrics.KEYS

    def batch_sums(self, colorized: jax.Array, truth: jax.Array, mask: jax.Array):
        """Per-image sums and the moment sums of the pooled features (`frechet`)."""
        return pretrained_metrics.batch_sums(colorized, truth, mask)

    def finish(self, totals: Mapping[str, Any], count: float) -> dict[str, float]:
        """Means, and the Fréchet distance of the two feature fits (NaN under two images)."""
        return pretrained_metrics.results(totals, count)


EVALUATORS: dict[str, Evaluator] = {
    "pixel": PerImageMeans(metrics.KEYS, metrics.image_metrics),
    "pretrained": Pretrained(),
}


def resolve(names: str | Iterable[str]) -> tuple[tuple[str, Evaluator], ...]:
    """((name, evaluator), ...) of the registered `names`, in their order.

    Raises ValueError for an unknown name (naming the close matches and every available name),
    a name given twice, or two evaluators declaring the same key or a reserved one.
    """
    names = (names,) if isinstance(names, str) else tuple(names)
    resolved, owners = [], {}
    for name in names:
        if name not in EVALUATORS:
            raise ValueError(
                f"unknown evaluator {name!r} in config.evaluators"
                f"{lookup.did_you_mean(name, EVALUATORS)}; "
                f"available: {', '.join(sorted(EVALUATORS))}"
            )
        if any(name == seen for seen, _ in resolved):
            raise ValueError(f"evaluator {name!r} is named twice in config.evaluators")
        evaluator = EVALUATORS[name]
        for key in evaluator.keys:
            if key in RESERVED_KEYS:
                raise ValueError(f"evaluator {name!r} declares the reserved key {key!r}")
            if key in owners:
                raise ValueError(f"evaluators {owners[key]!r} and {name!r} both report {key!r}")
            owners[key] = name
        resolved.append((name, evaluator))
    return tuple(resolved)


def metric_keys(names: str | Iterable[str]) -> tuple[str, ...]:
    """The keys the evaluators `names` report, in order (ValueError as `resolve`)."""
    return tuple(key for _, evaluator in resolve(names) for key in evaluator.keys)
