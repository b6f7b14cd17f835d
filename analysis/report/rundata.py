"""The report's data model: paired operations (:class:`Op`) and a loaded run (:class:`RunData`).

Plain values only -- reading a results folder into them is :mod:`analysis.report.loading`,
and what the drawing code derives from them is :mod:`analysis.report.views`.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Op:
    """One paired client operation, times in milliseconds.

    ``id`` matches :class:`analysis.history.Operation` ids (invocation order, nemesis events
    excluded), so checker evidence that names op ids points at these.  ``end`` is the
    completion time, or None when the operation never completed.
    """

    id: int
    process: int | str
    f: str
    key: str | None
    value: Any
    output: Any
    status: str
    start: float
    end: float | None

    @property
    def latency(self) -> float | None:
        if self.end is None:
            return None
        return self.end - self.start


@dataclass
class RunData:
    """Everything the report draws, loaded once."""

    folder: Path
    scenario: dict[str, Any]
    ops: list[Op]
    results: dict[str, Any]
    metrics: dict[str, Any]
    trace: list[dict[str, Any]]
    """Non-bulk trace records (roles, elections, faults, crashes, applies, client events...)."""
    kind_counts: Counter[str]
    end_ms: float
    windows: list[dict[str, Any]]
    has_times: bool = True
    notes: list[str] = field(default_factory=list)
    clients: dict[str, str] = field(default_factory=dict)
    """History process (as str) -> the trace's client id (``c1``)."""
    prediction: dict[str, Any] | None = None
    """``prediction.json``: the learner's graded prediction, when the run had one."""
    diff: dict[str, Any] | None = None
    """``diff.json``: for the second run of ``splitbrain diff``, the change and the divergence."""
    why: dict[str, Any] | None = None
    """``why.json``: ``splitbrain why``'s survey of this run (each fault removed, each flaw
    flipped), when one was made."""
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def checkers(self) -> list[dict[str, Any]]:
        c = self.results.get("checkers", [])
        return [x for x in c if isinstance(x, dict)] if isinstance(c, list) else []

    def checker(self, name: str) -> dict[str, Any] | None:
        return next((c for c in self.checkers if c.get("checker") == name), None)

    @property
    def nodes(self) -> list[str]:
        """Node ids seen in the trace, or n1..nN from the scenario."""
        if "nodes" not in self._cache:
            self._cache["nodes"] = self._nodes()
        return list(self._cache["nodes"])

    def _nodes(self) -> list[str]:
        seen: set[str] = set()
        for r in self.trace:
            n = r.get("node")
            if isinstance(n, str) and r.get("kind") not in ("client-invoke", "client-complete", "ack"):
                seen.add(n)
        if not seen:
            n_nodes = self.scenario.get("nodes")
            if isinstance(n_nodes, int) and 0 < n_nodes <= 50:
                seen = {f"n{i}" for i in range(1, n_nodes + 1)}
        return sorted(seen, key=natural_key)

    @property
    def processes(self) -> list[int | str]:
        if "processes" not in self._cache:
            self._cache["processes"] = sorted({o.process for o in self.ops}, key=natural_key)
        return list(self._cache["processes"])

    def kinds(self, *kinds: str) -> list[dict[str, Any]]:
        """The first-pass records of the given kinds (cached: several views need them)."""
        key = "kinds:" + ",".join(kinds)
        if key not in self._cache:
            self._cache[key] = [r for r in self.trace if r.get("kind") in kinds]
        return list(self._cache[key])


def natural_key(x: Any) -> tuple[int, float, str]:
    """Sort ints numerically and strings like ``n10`` after ``n9``."""
    if isinstance(x, bool):
        return (1, 0.0, str(x))
    if isinstance(x, (int, float)):
        return (0, float(x), "")
    s = str(x)
    m = re.match(r"^(\D*)(\d+)$", s)
    if m:
        return (1, float(m.group(2)), m.group(1))
    return (2, 0.0, s)
