"""A weighted mixture of image sources, named "SOURCE[@WEIGHT]+SOURCE[@WEIGHT]+...".

Each SOURCE is one of the forms of `sources` ("tfds:NAME[/CONFIG]", "folder:PATH", "demo"); every
"+" separates two sources, and a trailing "@WEIGHT" (the text after a part's last "@", when it
holds no "/" or "\\") is that part's share of the training examples drawn per epoch. Either no
part has a weight (plain concatenation: each part at its natural share) or the weights given
must be positive, and parts without one share ``1 - sum(given)`` equally; when every part has
one they must sum to 1 (within 1e-6). Example:
``folder:../shared/data/imagenette128+folder:../shared/data/outside/bsds500_train@0.15``.

`MixtureSource` of parts with lengths ``len_i`` and normalised weights ``w_i`` has the virtual
length ``N = ceil(max_i len_i / w_i)``: the part largest relative to its weight is seen once per
epoch, the others are repeated. ``[0, N)`` is cut into consecutive blocks of ``round(w_i N)``
indices (the last block takes the remainder), and index k of block i reads record
``k mod len_i`` of part i, so a repeated part cycles through its records in order.

Only the training split is weighted: a held-out split ("validation", "val", "test", TFDS
slicing included) is the plain concatenation of the parts' held-out splits in the order given,
so that evaluation's first `max_eval_examples` photos come from the first part first.
"""

from __future__ import annotations

import bisect
import math
import operator
import re
from collections.abc import Sequence
from typing import Any

from colorize_jax.data.sources import HELD_OUT_SPLITS, DataSourceError, open_single, parse_source

# A part's weight: the text after its last "@", unless that text is part of a path.
_WEIGHT = re.compile(r"@([^@/\\]*)$")


class MixtureSource:
    """Random-access records of several sources, each at its share (see the module docstring)."""

    def __init__(
        self,
        parts: Sequence[Any],
        weights: Sequence[float] | None = None,
        description: str = "mixture",
    ):
        self.parts = list(parts)
        self.description = description
        if not self.parts:
            raise DataSourceError(f"mixture {description!r} has no parts: name at least one")
        lengths = [len(part) for part in self.parts]
        if weights is None:
            self.weights = [length / max(sum(lengths), 1) for length in lengths]
            blocks = lengths
        else:
            self.weights = _normalised(weights, len(self.parts), description)
            empty = [
                repr(part) for part, length in zip(self.parts, lengths, strict=True) if not length
            ]
            if empty:
                raise DataSourceError(
                    f"mixture {description!r}: weighted part {empty[0]} has no images: "
                    "give it images or leave it out"
                )
            ratio = max(length / w for length, w in zip(lengths, self.weights, strict=True))
            total = math.ceil(round(ratio, 9))  # round: 3 / 0.3 is 10.000000000000002
            blocks = [round(w * total) for w in self.weights[:-1]]
            blocks.append(total - sum(blocks))
            if blocks[-1] < 1:
                raise DataSourceError(
                    f"mixture {description!r}: the weights leave the last part no examples "
                    f"(blocks {blocks}): give it a larger weight"
                )
        self.lengths = lengths
        self.blocks = blocks
        self.starts = [0]
        for block in blocks:
            self.starts.append(self.starts[-1] + block)

    def __len__(self) -> int:
        return self.starts[-1]

    def __getitem__(self, index: int) -> dict[str, Any]:
        index = operator.index(index)
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {self!r}")
        part = bisect.bisect_right(self.starts, index) - 1
        return self.parts[part][(index - self.starts[part]) % self.lengths[part]]

    def __repr__(self) -> str:
        shares = ", ".join(
            f"{part!r} x{block}" for part, block in zip(self.parts, self.blocks, strict=True)
        )
        return f"MixtureSource({self.description}, {len(self)} examples: {shares})"


def _normalised(weights: Sequence[float], count: int, description: str) -> list[float]:
    weights = [float(w) for w in weights]
    if len(weights) != count:
        raise DataSourceError(
            f"mixture {description!r} has {count} parts but {len(weights)} weights: "
            "give one weight per part"
        )
    bad = [w for w in weights if not (math.isfinite(w) and w > 0)]
    if bad:
        raise DataSourceError(
            f"mixture {description!r} has weight {bad[0]}: weights must be positive and finite"
        )
    return [w / sum(weights) for w in weights]


def parse_mixture(spec: str) -> list[tuple[str, float | None]]:
    """Splits a source string into its parts' (source string, weight or None), in order.

    A string without "+" and "@WEIGHT" is one part without a weight. Each part's source form is
    checked (`sources.parse_source`), not whether it exists.

    Raises:
      DataSourceError: an empty part, a weight that is not a positive finite number, an unknown
        source form.
    """
    parts = []
    for number, text in enumerate(spec.split("+"), 1):
        weight = None
        match = _WEIGHT.search(text)
        if match:
            text = text[: match.start()]
            try:
                weight = float(match.group(1))
            except ValueError:
                weight = None
            if weight is None or not (math.isfinite(weight) and weight > 0):
                raise DataSourceError(
                    f"part {number} of data source {spec!r} has weight {match.group(1)!r}: "
                    "write @WEIGHT with a positive number, e.g. folder:A+folder:B@0.15"
                )
        if not text:
            raise DataSourceError(
                f"part {number} of data source {spec!r} is empty: join sources with a single "
                "'+', e.g. folder:A+folder:B@0.15"
            )
        try:
            parse_source(text)
        except DataSourceError as e:
            raise DataSourceError(f"{e} (part {number} of {spec!r})") from e
        parts.append((text, weight))
    return parts


def resolve_weights(spec: str, weights: Sequence[float | None]) -> list[float] | None:
    """The weights of a mixture's parts, summing to 1, or None when no part has one.

    Parts without a weight share what the given weights leave of 1 equally.

    Raises:
      DataSourceError: the given weights leave nothing for the parts without one, or all are
        given and do not sum to 1.
    """
    given = [w for w in weights if w is not None]
    if not given:
        return None
    total = sum(given)
    if len(given) == len(weights):
        if abs(total - 1) > 1e-6:
            raise DataSourceError(
                f"the weights of data source {spec!r} sum to {total:g}, not 1: make them sum to "
                "1, or leave one part without @WEIGHT to take the rest"
            )
        return list(given)
    if total >= 1:
        raise DataSourceError(
            f"the weights of data source {spec!r} sum to {total:g} >= 1, leaving nothing for "
            "the parts without @WEIGHT: make the given weights sum to less than 1"
        )
    rest = (1 - total) / (len(weights) - len(given))
    return [rest if w is None else w for w in weights]


def open_mixture(
    spec: str, split: str, *, tfds_data_dir: str | None = None, val_fraction: float = 0.05
) -> Any:
    """Opens split `split` of a mixture string (see the module docstring).

    A single part without a weight (or with weight 1) is opened as the plain source.
    """
    parsed = parse_mixture(spec)
    weights = resolve_weights(spec, [weight for _, weight in parsed])
    opened = []
    for number, (text, _) in enumerate(parsed, 1):
        try:
            opened.append(
                open_single(text, split, tfds_data_dir=tfds_data_dir, val_fraction=val_fraction)
            )
        except DataSourceError as e:
            raise DataSourceError(f"{e} (part {number} of {spec!r})") from e
    if len(opened) == 1:
        return opened[0]
    if split.split("[")[0] in HELD_OUT_SPLITS:
        weights = None
    return MixtureSource(opened, weights, f"{spec}[{split}]")
