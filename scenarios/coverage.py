"""Did the faults matter?  A pass is only evidence if the faults actually bit.

For each fault window we count what happened inside it: operations invoked, operations
that ended with an unknown outcome, and what the protocol did -- elections started,
leadership changes and lease reads for a system that elects leaders; messages delivered and
redelivered for a message-passing system (sagas, the pipeline), which has no elections to
speak of.  A window in which nothing happened is said out loud ("no election happened while
n2 was isolated"), so a learner does not mistake a quiet run for coverage.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Any

from analysis import trace_kinds as K
from analysis.faultwindows import FAULT_KINDS, windows_of
from analysis.history import History

COVERAGE_KINDS = frozenset((K.ELECTION, K.ROLE, K.READ, K.CONSUME, K.FAULT_START)) | FAULT_KINDS
"""The record kinds the coverage reads: the fault windows' own, and what happened in them."""


def coverage_records(trace: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records of :data:`COVERAGE_KINDS`, in trace order: what :func:`window_stats` and
    :func:`fault_coverage` read (and the runner's counts of leaders, elections and faults).

    A trace is mostly other records (applies, commits, client events); a caller that needs
    several of these readings picks the records once and hands them to each."""
    return [r for r in trace if r.get("kind") in COVERAGE_KINDS]


def window_stats(history: History, trace: list[dict[str, Any]],
                 picked: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Per fault window: operations invoked in it (by outcome), elections started, new
    leaders (in trace order), lease reads served, and messages delivered and redelivered,
    all counted inclusively by ms.

    The records that matter are picked out of the trace once and counted per window by
    bisection, so a run with many windows costs one pass, not one pass per window.  ``picked``
    is :func:`coverage_records` of ``trace`` if the caller has it already."""
    if picked is None:
        picked = coverage_records(trace)
    windows = windows_of([r for r in picked if r.get("kind") in FAULT_KINDS], trace)
    if not windows:
        return []
    ops = sorted(
        (o.call_time // 1_000_000, o.status) for o in history.operations if o.call_time is not None
    )
    op_ms = [ms for ms, _ in ops]
    elections: list[int] = []
    lease_reads: list[int] = []
    leaders: list[tuple[int, str]] = []  # trace order: a window lists them as they happened
    delivered: list[int] = []
    redelivered: list[int] = []
    for r in picked:
        kind = r.get("kind")
        if kind == K.ELECTION:
            elections.append(r.get("t", -1))
        elif kind == K.ROLE:
            if r.get("role") == "leader":
                leaders.append((r.get("t", -1), r["node"]))
        elif kind == K.READ and r.get("mode") == "lease":
            lease_reads.append(r.get("t", -1))
        elif kind == K.CONSUME:
            delivered.append(r.get("t", -1))
            if r.get("redelivered"):
                redelivered.append(r.get("t", -1))
    for times in (elections, lease_reads, delivered, redelivered):
        times.sort()

    def count(times: list[int], lo: int, hi: int) -> int:
        return bisect_right(times, hi) - bisect_left(times, lo)

    out = []
    for w in windows:
        lo, hi = w["start"], w["end"]
        in_window = [status for _, status in ops[bisect_left(op_ms, lo):bisect_right(op_ms, hi)]]
        out.append({
            **w,
            "ops": len(in_window),
            "ok": in_window.count("ok"),
            "info": in_window.count("info"),
            "fail": in_window.count("fail"),
            "elections": count(elections, lo, hi),
            "new_leaders": [node for t, node in leaders if lo <= t <= hi],
            "lease_reads": count(lease_reads, lo, hi),
            "delivered": count(delivered, lo, hi),
            "redelivered": count(redelivered, lo, hi),
        })
    return out


def fault_coverage(history: History, trace: list[dict[str, Any]],
                   picked: list[dict[str, Any]] | None = None) -> list[str]:
    """One line per fault window on what happened while it was active (``picked``: as for
    :func:`window_stats`)."""
    if picked is None:
        picked = coverage_records(trace)
    stats = window_stats(history, trace, picked)
    if not stats:
        return ["No faults were injected in this run."]
    leaders = any(r.get("kind") == K.ELECTION or (r.get("kind") == K.ROLE and r.get("role") in ("leader", "candidate"))
                  for r in picked)
    lines = []
    for s in stats:
        head = f"{s['description']} ({s['start']}-{s['end']} ms)"
        parts = [f"{s['ops']} operations invoked during it ({s['ok']} ok, {s['fail']} fail, {s['info']} unknown)"]
        if not leaders:
            if s["delivered"]:
                parts.append(f"{s['delivered']} message(s) delivered ({s['redelivered']} redelivered)")
            else:
                parts.append("no message was delivered while it was active")
        elif s["elections"]:
            moved = " -> ".join(s["new_leaders"]) if s["new_leaders"] else "no new leader"
            parts.append(f"{s['elections']} election(s) started; new leaders: {moved}")
        else:
            parts.append("no election happened while it was active")
        if s["lease_reads"]:
            parts.append(f"{s['lease_reads']} lease reads served")
        if s["ops"] == 0:
            parts.append(f"no operation started while it was active (it lasted {s['end'] - s['start']} ms)")
        lines.append(f"{head}: " + "; ".join(parts) + ".")
    return lines
