"""A violation's signature: which checker failed, what kind of anomaly, under which fault.

A campaign of a thousand seeds that fails at 300 of them rarely holds 300 different bugs.
Grouping the failing seeds by *signature* -- ``checker: anomaly @ fault`` -- turns the pile
into a short list ("linearizability: read not linearizable @ partition, 287 seeds; raft-safety:
election-safety @ crash, 13 seeds"), each with one seed to open.  The parts are chosen to be
stable across seeds: names of anomaly kinds and fault *kinds*, never node names, times or
values, which differ from one seed to the next.

* **checker**: the first checker that said ``invalid`` (else the first ``unknown``);
* **anomaly**: the kind of its first violation: a safety invariant (``election-safety``,
  ``at-most-once``), an anomaly type (``G1c``, ``lost-write``), or for linearizability the
  operation that could not be placed (``read not linearizable``), or an acknowledged write
  no node applied (``lost acknowledged write``); ``unknown`` verdicts say why in a word;
* **fault**: the kinds of fault active when it happened (``partition+crash``), else the
  kind that had just ended (``after crash``, within :data:`~analysis.faultwindows.RECENT_MS`),
  else ``no fault``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from analysis.faultwindows import active_at, fault_windows, recently_ended

__all__ = ["Signature", "signature"]

_READS = ("get", "read")


@dataclass(frozen=True)
class Signature:
    checker: str
    anomaly: str
    fault: str

    def text(self) -> str:
        return f"{self.checker}: {self.anomaly} @ {self.fault}"

    def to_dict(self) -> dict[str, str]:
        return {"checker": self.checker, "anomaly": self.anomaly, "fault": self.fault, "text": self.text()}


def signature(results: Sequence[dict[str, Any]], trace: Sequence[dict[str, Any]]) -> Signature | None:
    """The signature of a run's checker results (None when every checker said valid)."""
    bad = [r for r in results if r.get("verdict") == "invalid"] or [r for r in results if r.get("verdict") == "unknown"]
    if not bad:
        return None
    r = bad[0]
    checker = str(r.get("checker", r.get("name", "checker")))
    if r.get("verdict") == "unknown":
        return Signature(checker, _unknown_kind(r), "-")
    anomaly, t = _anomaly(r)
    return Signature(checker, anomaly, _fault_at(trace, t))


def _anomaly(r: dict[str, Any]) -> tuple[str, int | None]:
    """The first violation's kind and time (ms), from whichever shape the checker reports."""
    violations = r.get("violations")
    if isinstance(violations, list) and violations:
        first = min((v for v in violations if isinstance(v, dict)), key=lambda v: _int(v.get("t")) or 0, default=None)
        if first is not None:
            kind = first.get("invariant") or first.get("type") or first.get("kind")
            if kind:
                return str(kind), _int(first.get("t"))
    ce = r.get("counterexample")
    if isinstance(ce, dict):
        ctx = ce.get("context") or {}
        window = ctx.get("window_ms") or [None]
        if ctx.get("lost_writes"):
            return "lost acknowledged write", _int(window[0])
        blocker = next((o for o in ce.get("ops", []) if o.get("id") == ce.get("blocker")), None)
        if blocker is not None:
            f = str(blocker.get("f", "operation"))
            word = "read" if f in _READS else f
            t = _int(blocker.get("call_time"))
            return f"{word} not linearizable", (t // 1_000_000 if t is not None else _int(window[0]))
        return "not linearizable", _int(window[0])
    types = r.get("anomaly_types")
    if isinstance(types, list) and types:
        return str(types[0]), None
    return "violation", None


def _unknown_kind(r: dict[str, Any]) -> str:
    text = f"{r.get('reason', '')} {' '.join(map(str, r.get('explanation', [])[:1]))}".lower()
    for word, kind in (("memory", "out of memory budget"), ("state", "out of state budget"),
                       ("time", "out of time"), ("budget", "out of budget")):
        if word in text:
            return kind
    return "undecided"


def _fault_at(trace: Sequence[dict[str, Any]], t: int | None) -> str:
    if t is None:
        return "unknown time"
    windows = fault_windows(trace)
    active = sorted({str(w.get("fault") or "fault") for w in active_at(windows, t)})
    if active:
        return "+".join(active)
    ended = recently_ended(windows, t)
    if ended:
        return f"after {ended[0].get('fault') or 'fault'}"
    return "no fault"


def _int(x: Any) -> int | None:
    try:
        return None if x is None else int(x)
    except (TypeError, ValueError):
        return None
