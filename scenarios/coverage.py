"""Did the faults matter?  A pass is only evidence if the faults actually bit.

For each fault window we count what happened inside it: operations invoked, operations
that ended with an unknown outcome, elections started, leadership changes, lease reads.
A window in which nothing happened is said out loud ("no election happened while n2 was
isolated"), so a learner does not mistake a quiet run for coverage.
"""

from __future__ import annotations

from typing import Any

from analysis import trace_kinds as K
from analysis.faultwindows import fault_windows
from analysis.history import History


def window_stats(history: History, trace: list[dict[str, Any]]) -> list[dict[str, Any]]:
    windows = fault_windows(trace)
    out = []
    for w in windows:
        lo, hi = w["start"], w["end"]
        ops = [o for o in history.operations if o.call_time is not None and lo <= o.call_time // 1_000_000 <= hi]
        elections = sum(1 for r in trace if r.get("kind") == K.ELECTION and lo <= r.get("t", -1) <= hi)
        leaders = [r["node"] for r in trace if r.get("kind") == K.ROLE and r.get("role") == "leader" and lo <= r.get("t", -1) <= hi]
        lease_reads = sum(1 for r in trace if r.get("kind") == K.READ and r.get("mode") == "lease" and lo <= r.get("t", -1) <= hi)
        out.append({
            **w,
            "ops": len(ops),
            "ok": sum(1 for o in ops if o.status == "ok"),
            "info": sum(1 for o in ops if o.status == "info"),
            "fail": sum(1 for o in ops if o.status == "fail"),
            "elections": elections,
            "new_leaders": leaders,
            "lease_reads": lease_reads,
        })
    return out


def fault_coverage(history: History, trace: list[dict[str, Any]]) -> list[str]:
    stats = window_stats(history, trace)
    if not stats:
        return ["No faults were injected in this run."]
    lines = []
    for s in stats:
        head = f"{s['description']} ({s['start']}-{s['end']} ms)"
        parts = [f"{s['ops']} operations invoked during it ({s['ok']} ok, {s['fail']} fail, {s['info']} unknown)"]
        if s["elections"]:
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
