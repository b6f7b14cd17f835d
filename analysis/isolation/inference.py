"""What both data models share: the protocol an inference implements, the record of
non-cycle anomalies, and the words used to describe transactions.

A data model (list-append, rw-register) owns its indexes -- who wrote each value, the
version order of each key -- and from them (1) adds ww/wr/rw edges to the
:class:`~analysis.isolation.graph.DepGraph`, (2) records anomalies that need no cycle
(aborted reads, internal inconsistencies ...), and (3) explains any edge it added, when
a cycle through it is told as a story.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, Protocol

from analysis.isolation.txn import APPEND, READ, UNREAD, Txn

#: Cases kept per anomaly type (all are counted).
MAX_CASES = 20


class Anomalies:
    """Non-cycle anomaly cases by type, capped, with totals."""

    def __init__(self) -> None:
        self.cases: dict[str, list[dict[str, Any]]] = {}
        self.totals: dict[str, int] = {}

    def add(self, kind: str, text: str, **data: Any) -> None:
        self.totals[kind] = self.totals.get(kind, 0) + 1
        kept = self.cases.setdefault(kind, [])
        if len(kept) < MAX_CASES:
            kept.append({"type": kind, "text": text, **data})

    def types(self) -> set[str]:
        return set(self.totals)


@dataclass(frozen=True, slots=True)
class Step:
    """Why ``a`` precedes ``b``: one edge of a cycle, with the key and values involved.

    ``value`` is what ``a`` wrote or read, ``value2`` what ``b`` wrote or read; ``note``
    marks a special case the sentence must say (``"initial"``: ``a`` read the initial
    state; ``"unobserved"``: ``b``'s write was never read, so it came after everything
    that was).
    """

    kind: str
    a: int
    b: int
    key: Hashable = None
    value: Any = None
    value2: Any = None
    note: str = ""


class Inference(Protocol):
    """What the cycle search and the stories need from a data model."""

    name: str

    def explain(self, a: int, b: int, kind: int) -> Step | None:
        """Why ``a -> b`` holds for the data edge ``kind``; None if it does not."""
        ...

    def sentence(self, step: Step, a: str, b: str) -> str:
        """One sentence for a data step, naming the transactions ``a`` and ``b``."""
        ...


# --------------------------------------------------------------------------- words
def fmt_key(k: Hashable) -> str:
    """``x`` for a string key, ``key 9`` for a number, so sentences read."""
    return str(k) if isinstance(k, str) else f"key {k}"


def fmt_value(v: Any) -> str:
    if v is None:
        return "nil"
    if isinstance(v, tuple | list):
        return "[" + " ".join(fmt_value(x) for x in v) + "]"
    return str(v)


def fmt_mop(f: str, k: Hashable, v: Any) -> str:
    key = fmt_key(k)
    if f == APPEND:
        return f"append {fmt_value(v)} to {key}"
    if f == READ:
        if v is UNREAD:
            return f"read {key} (result unknown)"
        return f"read {key} = {fmt_value(v)}"
    return f"write {key} = {fmt_value(v)}"


MAX_MOPS_SHOWN = 8


def fmt_txn(t: Txn) -> str:
    """``append 1 to x, read y = [1]`` (long transactions elided)."""
    parts = [fmt_mop(*m) for m in t.mops[:MAX_MOPS_SHOWN]]
    if len(t.mops) > MAX_MOPS_SHOWN:
        parts.append(f"... {len(t.mops) - MAX_MOPS_SHOWN} more")
    return ", ".join(parts) if parts else "nothing"


def who(t: Txn) -> str:
    """``op 7 (process 2, line 15)`` for sentences."""
    bits = []
    if t.process is not None:
        bits.append(f"process {t.process}")
    if t.where():
        bits.append(t.where())
    return f"op {t.id} ({', '.join(bits)})" if bits else f"op {t.id}"


def mop_json(m: tuple[str, Hashable, Any]) -> list[Any]:
    f, k, v = m
    if v is UNREAD:
        v = None
    elif isinstance(v, tuple):
        v = list(v)
    return [f, k, v]


def txn_json(t: Txn) -> dict[str, Any]:
    return {
        "id": t.id,
        "process": t.process,
        "status": t.status,
        "line": t.line,
        "value": [mop_json(m) for m in t.mops],
        "text": fmt_txn(t),
    }
