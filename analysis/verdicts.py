"""Folding several checkers' verdicts into one.

A run is judged by several checkers; its verdict is the worst of theirs: one ``invalid``
(a violation was found) outweighs any ``unknown`` (a checker ran out of budget), which
outweighs ``valid``.  The runner, a re-check of a saved run and ``splitbrain ingest`` all
fold the same way, here; the command line maps the folded verdict to an exit code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

__all__ = ["INVALID", "UNKNOWN", "VALID", "VERDICTS", "overall", "worst"]

VALID: Final = "valid"
INVALID: Final = "invalid"
UNKNOWN: Final = "unknown"
VERDICTS: Final = (VALID, INVALID, UNKNOWN)

_RANK = {VALID: 0, UNKNOWN: 1, INVALID: 2}


def worst(verdicts: Iterable[str]) -> str:
    """``invalid`` beats ``unknown`` beats ``valid``; no verdicts at all is ``valid``."""
    out = VALID
    for v in verdicts:
        if v not in _RANK:
            raise ValueError(f"not a verdict: {v!r} (one of {', '.join(VERDICTS)})")
        if _RANK[v] > _RANK[out]:
            out = v
    return out


def overall(results: Iterable[Mapping[str, Any]]) -> str:
    """The verdict of a run from its checker results (each has a ``verdict``)."""
    return worst(str(r["verdict"]) for r in results)
