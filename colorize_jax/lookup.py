"""Names looked up in the registries and the config: one "did you mean" for every unknown name.

A leaf module (it imports nothing of the package), so that every layer can use it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(name: str, choices: Iterable[str], n: int = 3, cutoff: float = 0.6) -> list[str]:
    """Up to `n` of `choices` closest to `name`, best first (difflib's ratio >= `cutoff`)."""
    return difflib.get_close_matches(name, list(choices), n=n, cutoff=cutoff)


def did_you_mean(name: str, choices: Iterable[str], n: int = 3) -> str:
    """ " (did you mean 'a', 'b'?)" for the choices closest to `name`; "" when none is close."""
    close = closest(name, choices, n)
    return f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
