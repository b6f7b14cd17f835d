"""Checkers by name: each takes the scenario, the history and the trace, and returns a result.

Every result is a JSON-able dict with at least ``checker``, ``verdict`` (valid / invalid /
unknown) and ``explanation`` (plain sentences), so the terminal, the results folder and the
HTML report can show any checker the same way.  A new checker is one function plus
``@register_checker("name")``.

The built-in ones, each a thin adapter over its analysis in :mod:`analysis`:

* ``linearizability`` -- :mod:`analysis.linearizability` against the scenario's model, with
  who led and which faults were active around a counterexample;
* ``raft-safety``     -- :mod:`analysis.raft_safety`: election safety, log matching, leader
  completeness, state-machine safety;
* ``idempotency``     -- :mod:`analysis.idempotency`: per key at most once; acknowledged
  bookings applied exactly once;
* ``delivery``        -- :mod:`analysis.delivery`: outbox rows delivered and processed
  exactly once, no phantom publish, acks after processing, broker order;
* ``saga``            -- :mod:`analysis.saga_check`: every saga all-applied or fully
  compensated;
* ``pipeline``        -- :mod:`analysis.pipeline_check`: every document in the vector store
  at its latest version with the right chunks (nothing lost, stale or duplicated), no
  embedding ever overwrote a newer one, and a cost line (embeddings computed vs needed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from analysis import trace_kinds as K
from analysis.history import History

CheckerFn = Callable[[Any, History, list[dict[str, Any]], float], dict[str, Any]]
_CHECKERS: dict[str, CheckerFn] = {}


def register_checker(name: str) -> Callable[[CheckerFn], CheckerFn]:
    def deco(fn: CheckerFn) -> CheckerFn:
        _CHECKERS[name] = fn
        return fn

    return deco


def checker_names() -> tuple[str, ...]:
    return tuple(sorted(_CHECKERS))


def get_checker(name: str) -> CheckerFn:
    if name not in _CHECKERS:
        raise ValueError(f"unknown checker {name!r}; known: {', '.join(sorted(_CHECKERS))}")
    return _CHECKERS[name]


@register_checker("linearizability")
def _linearizability(sc: Any, history: History, trace: list[dict[str, Any]], timeout_s: float) -> dict[str, Any]:
    from analysis.explain import verdict_json
    from analysis.linearizability import check
    from analysis.models import get_model

    model = get_model(sc.model)
    r = verdict_json(check(history, model, timeout_s=timeout_s), model)
    add_protocol_context(r, trace)
    return r


@register_checker("raft-safety")
def _raft_safety(sc: Any, history: History, trace: list[dict[str, Any]], timeout_s: float) -> dict[str, Any]:
    from analysis.raft_safety import check_trace

    return check_trace(trace)


@register_checker("idempotency")
def _idempotency(sc: Any, history: History, trace: list[dict[str, Any]], timeout_s: float) -> dict[str, Any]:
    from analysis.idempotency import check_trace

    return check_trace(trace, history)


@register_checker("delivery")
def _delivery(sc: Any, history: History, trace: list[dict[str, Any]], timeout_s: float) -> dict[str, Any]:
    from analysis.delivery import check_trace

    return check_trace(trace)


@register_checker("saga")
def _saga(sc: Any, history: History, trace: list[dict[str, Any]], timeout_s: float) -> dict[str, Any]:
    from analysis.saga_check import check_trace

    return check_trace(trace, history)


@register_checker("pipeline")
def _pipeline(sc: Any, history: History, trace: list[dict[str, Any]], timeout_s: float) -> dict[str, Any]:
    from analysis.pipeline_check import check_trace

    return check_trace(trace, history)


def add_protocol_context(result: dict[str, Any], trace: list[dict[str, Any]]) -> None:
    """Say who led which term and which faults were active around the counterexample."""
    from analysis.faultwindows import fault_windows, overlaps

    ce = result.get("counterexample")
    if not ce or not ce.get("ops"):
        return
    times = [t for o in ce["ops"] for t in (o.get("call_time"), o.get("ret_time")) if t is not None]
    if not times:
        return
    lo, hi = min(times) // 1_000_000, max(times) // 1_000_000
    leaders: list[tuple[int, int, str]] = []
    for r in trace:
        if r.get("kind") == K.ROLE and r.get("role") == "leader" and r.get("t", 0) <= hi:
            leaders.append((int(r["t"]), int(r["term"]), str(r["node"])))
    before = [x for x in leaders if x[0] < lo][-1:]
    during = [x for x in leaders if x[0] >= lo]
    shown = before + during
    active = sorted({w["description"] for w in overlaps(fault_windows(trace), lo, hi)})
    ce["context"] = {
        "window_ms": [lo, hi],
        "leaders": [{"t": t, "term": term, "node": n} for t, term, n in shown],
        "faults_active": active,
    }
    words = []
    if shown:
        words.append(
            "Leaders around then: " + ", ".join(f"{n} (term {term}, from {t} ms)" for t, term, n in shown) + "."
        )
    served = _served_by(ce, trace)
    if served:
        words.append(served)
    if active:
        words.append("Faults active during these operations: " + "; ".join(active) + ".")
    else:
        words.append("No fault was active during these operations.")
    result["explanation"].extend(words)


def _served_by(ce: dict[str, Any], trace: list[dict[str, Any]]) -> str:
    """Which node answered the operation that could not be placed, and what it believed then."""
    blocker = next((o for o in ce["ops"] if o["id"] == ce.get("blocker")), None)
    if blocker is None or blocker.get("ret_time") is None:
        return ""
    t_ret = blocker["ret_time"] // 1_000_000
    node = None
    for r in trace:
        if (r.get("kind") == K.CLIENT_COMPLETE and r.get("t") == t_ret
                and r.get("process") == blocker["process"] and r.get("f") == blocker["f"]):
            node = r.get("node")
            break
    if not node:
        return ""
    ce["served_by"] = node
    role = term = None
    for r in trace:
        if r.get("t", 0) > t_ret:
            break
        if r.get("kind") == K.ROLE and r.get("node") == node:
            role, term = r.get("role"), r.get("term")
    newer = [r for r in trace if r.get("kind") == K.ROLE and r.get("role") == "leader"
             and r.get("t", 0) <= t_ret and term is not None and r.get("term", 0) > term]
    text = f"Op {blocker['id']} was answered by {node}"
    if role is not None:
        text += f", which believed it was {role} of term {term}"
    if newer:
        last = newer[-1]
        text += f", although {last['node']} had been elected leader of term {last['term']} at {last['t']} ms"
    return text + "."
