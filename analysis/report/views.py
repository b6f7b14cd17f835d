"""Views the report derives from a loaded run: focus, sampling, segments, per-window stats.

Pure functions of :class:`~analysis.report.rundata.RunData` (a few cache their result in
it): where to zoom in (:func:`choose_focus`), which operations to draw (:func:`select_ops`),
leader and outage segments per node, statistics per fault window, and short phrases that
describe an operation.
"""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right
from collections import Counter
from dataclasses import dataclass
from typing import Any

from analysis.report.loading import merge_ranges
from analysis.report.rundata import Op, RunData


@dataclass(frozen=True)
class Focus:
    """The moment the report zooms in on, and why."""

    lo: float
    hi: float
    center: float
    reason: str


def counterexample(data: RunData) -> dict[str, Any] | None:
    lin = data.checker("linearizability")
    if lin is None:
        return None
    ce = lin.get("counterexample")
    return ce if isinstance(ce, dict) else None


def involved_ids(ce: dict[str, Any] | None) -> dict[int, str]:
    """Op id -> role in the counterexample (blocker, concurrent, preceding)."""
    if not ce:
        return {}
    out: dict[int, str] = {}
    for role in ("preceding", "concurrent"):
        for x in ce.get(role) or []:
            if isinstance(x, int):
                out[x] = role
    b = ce.get("blocker")
    if isinstance(b, int):
        out[b] = "blocker"
    return out


def first_violation(data: RunData) -> dict[str, Any] | None:
    for c in data.checkers:
        for v in c.get("violations") or []:
            if isinstance(v, dict) and isinstance(v.get("t"), int | float):
                return v
    return None


def choose_focus(data: RunData) -> Focus:
    """Where to look closely: the counterexample, else an invariant violation, else a fault."""
    ce = counterexample(data)
    by_id = {o.id: o for o in data.ops}
    if ce:
        ids = list(involved_ids(ce))
        ops = [by_id[i] for i in ids if i in by_id]
        if ops:
            lo = min(o.start for o in ops)
            hi = max((o.end if o.end is not None else o.start) for o in ops)
            b = by_id.get(ce.get("blocker", -1))
            center = (b.start + (b.end if b.end is not None else b.start)) / 2 if b else (lo + hi) / 2
            return Focus(lo, hi, center, "the counterexample")
        ctx = ce.get("context") or {}
        w = ctx.get("window_ms")
        if isinstance(w, list) and len(w) == 2:
            return Focus(float(w[0]), float(w[1]), (w[0] + w[1]) / 2, "the counterexample")
    from analysis.report.cycle import cycle_roles, isolation_cycle

    in_cycle = [by_id[i] for i in cycle_roles(isolation_cycle(data)) if i in by_id]
    if in_cycle:
        lo = min(o.start for o in in_cycle)
        hi = max((o.end if o.end is not None else o.start) for o in in_cycle)
        return Focus(lo, hi, (lo + hi) / 2, "the smallest isolation cycle")
    v = first_violation(data)
    if v is not None:
        t = float(v["t"])
        return Focus(t, t, t, f"the first {v.get('invariant', 'invariant')} violation")
    if data.windows:
        t = float(data.windows[0]["start"])
        return Focus(t, t, t, "the start of the first fault")
    mid = data.end_ms / 2
    return Focus(mid, mid, mid, "the middle of the run")


@dataclass
class Selection:
    """Which operations are drawn as bars, and the honest sentence saying so."""

    drawn: list[Op]
    total: int
    lo: float
    hi: float
    sampled: bool

    def note(self) -> str:
        if not self.sampled:
            return f"showing all {self.total:,} operations"
        return (f"showing {len(self.drawn):,} of {self.total:,} operations as bars (those invoked "
                f"between {self.lo:,.0f} and {self.hi:,.0f} ms, around the focus); the rest are "
                "summarised as density per client lane")


def select_ops(ops: list[Op], focus: Focus, cap: int, must: set[int]) -> Selection:
    """At most ``cap`` operations, the ones invoked nearest the focus (plus ``must`` ids)."""
    if len(ops) <= cap:
        lo = min((o.start for o in ops), default=0.0)
        hi = max((o.start for o in ops), default=0.0)
        return Selection(list(ops), len(ops), lo, hi, False)
    by_start = sorted(ops, key=lambda o: o.start)
    starts = [o.start for o in by_start]
    # two pointers growing outwards from the focus centre, by invocation time
    i = bisect_left(starts, focus.center)
    left, right = i, i
    while right - left < cap and (left > 0 or right < len(starts)):
        if left == 0:
            right += 1
        elif right >= len(starts):
            left -= 1
        elif focus.center - starts[left - 1] <= starts[right] - focus.center:
            left -= 1
        else:
            right += 1
    chosen = by_start[left:right]
    lo, hi = chosen[0].start, chosen[-1].start
    have = {o.id for o in chosen}
    extra = [o for o in ops if o.id in must and o.id not in have]
    return Selection(chosen + extra, len(ops), lo, hi, True)


def ops_between(ops_by_start: list[Op], starts: list[float], lo: float, hi: float) -> list[Op]:
    """Operations invoked in ``[lo, hi]`` (inputs sorted by start)."""
    return ops_by_start[bisect_left(starts, lo):bisect_right(starts, hi)]


def leader_segments(data: RunData) -> dict[str, list[tuple[float, float, str, int | None]]]:
    """Per node: ``(start, end, role, term)`` segments from ``role`` records.

    Crashes end a segment (a crashed node holds no role until it restarts).
    """
    segs: dict[str, list[tuple[float, float, str, int | None]]] = {}
    cur: dict[str, tuple[float, str, int | None]] = {}
    for r in data.kinds("role", "crash"):
        kind = r.get("kind")
        node = r.get("node")
        if not isinstance(node, str):
            continue
        t = float(r.get("t", 0))
        if kind == "role":
            if node in cur:
                t0, role, term = cur[node]
                segs.setdefault(node, []).append((t0, t, role, term))
            term_v = r.get("term")
            cur[node] = (t, str(r.get("role", "?")), term_v if isinstance(term_v, int) else None)
        elif kind == "crash" and node in cur:
            t0, role, term = cur.pop(node)
            segs.setdefault(node, []).append((t0, t, role, term))
    for node, (t0, role, term) in cur.items():
        segs.setdefault(node, []).append((t0, data.end_ms, role, term))
    return segs


def outages(data: RunData) -> dict[str, list[tuple[float, float, str]]]:
    """Per node: ``(start, end, 'crash'|'pause')`` intervals from lifecycle records."""
    out: dict[str, list[tuple[float, float, str]]] = {}
    open_: dict[tuple[str, str], float] = {}
    for r in data.kinds("crash", "pause", "restart", "resume"):
        node = r.get("node")
        if not isinstance(node, str):
            continue
        kind = r.get("kind")
        t = float(r.get("t", 0))
        if kind in ("crash", "pause"):
            open_.setdefault((node, str(kind)), t)
        elif kind in ("restart", "resume"):
            what = "crash" if kind == "restart" else "pause"
            t0 = open_.pop((node, what), None)
            if t0 is not None:
                out.setdefault(node, []).append((t0, t, what))
    for (node, what), t0 in open_.items():
        out.setdefault(node, []).append((t0, data.end_ms, what))
    return out


def leaders_by_term(data: RunData) -> list[tuple[int, str, float]]:
    """``(term, node, since)`` for each term that had a leader, in term order."""
    seen: dict[int, tuple[str, float]] = {}
    for r in data.kinds("role"):
        if r.get("kind") == "role" and r.get("role") == "leader" and isinstance(r.get("term"), int):
            seen.setdefault(int(r["term"]), (str(r.get("node")), float(r.get("t", 0))))
    return [(term, n, t) for term, (n, t) in sorted(seen.items())]


def client_names(data: RunData) -> dict[str, str]:
    """History process (as str) -> the trace's client id (``c1``), from client-invoke records."""
    return dict(data.clients)


def window_stats(data: RunData) -> list[dict[str, Any]]:
    """Per fault window: operations invoked inside it by outcome, elections, new leaders."""
    if "window_stats" in data._cache:
        return list(data._cache["window_stats"])
    by_start = sorted(data.ops, key=lambda o: o.start)
    starts = [o.start for o in by_start]
    elections = [float(r["t"]) for r in data.kinds("election")]
    leaders = [(float(r["t"]), str(r.get("node"))) for r in data.kinds("role") if r.get("role") == "leader"]
    out = []
    for w in data.windows:
        lo, hi = float(w["start"]), float(w["end"])
        inside = ops_between(by_start, starts, lo, hi)
        c = Counter(o.status for o in inside)
        out.append({**w, "ops": len(inside), "ok": c["ok"], "fail": c["fail"], "info": c["info"],
                    "elections": sum(1 for t in elections if lo <= t <= hi),
                    "new_leaders": [n for t, n in leaders if lo <= t <= hi]})
    data._cache["window_stats"] = out
    return list(out)


def outside_faults_stats(data: RunData) -> dict[str, int]:
    """The same counts for operations invoked while no fault was active (the baseline)."""
    ws = sorted((float(w["start"]), float(w["end"])) for w in data.windows)
    merged = merge_ranges(ws)
    c: Counter[str] = Counter()
    for o in data.ops:
        if not any(lo <= o.start <= hi for lo, hi in merged):
            c[o.status] += 1
    return {"ops": sum(c.values()), "ok": c["ok"], "fail": c["fail"], "info": c["info"]}


def describe_op(o: Op, texts: dict[int, str] | None = None) -> str:
    """A short phrase for an operation, e.g. ``read k0 -> 3``.  Prefers the model's text."""
    if texts and o.id in texts:
        return texts[o.id]
    k = f" {o.key}" if o.key is not None else ""
    f = o.f
    if f == "txn" and isinstance(o.value, list):
        return "txn " + _mops(o.output if o.status == "ok" and isinstance(o.output, list) else o.value,
                              o.status == "ok")
    if f == "transfer" and isinstance(o.value, dict):
        move = o.value
        return f"transfer {short(move.get('from'), 12)}→{short(move.get('to'), 12)} {short(move.get('amount'), 12)}"
    if f == "read" and isinstance(o.output, dict) and o.status == "ok":
        total = sum(x for x in o.output.values() if isinstance(x, int | float) and not isinstance(x, bool))
        return f"read balances (total {total:g}) {short(o.output)}"
    if f in ("get", "read", "r"):
        out = "?" if o.status != "ok" else short(o.output)
        return f"read{k} -> {out}"
    if f in ("put", "write", "w"):
        return f"write{k} {short(o.value)}"
    if f == "cas" and isinstance(o.value, list) and len(o.value) == 2:
        return f"cas{k} {short(o.value[0])}->{short(o.value[1])}"
    v = "" if o.value is None else f" {short(o.value)}"
    out = f" -> {short(o.output)}" if o.status == "ok" and o.output is not None else ""
    return f"{f}{k}{v}{out}"


def _mops(mops: list[Any], done: bool, limit: int = 90) -> str:
    """Micro-ops as ``r k0 [1 2] · append k1 3`` (a read's result only once known)."""
    parts = []
    for m in mops:
        if not (isinstance(m, list) and len(m) == 3):
            parts.append(short(m, 20))
            continue
        f, k, v = m
        if f in ("r", "read"):
            got = ("[" + " ".join(map(str, v)) + "]" if isinstance(v, list) else ("∅" if v is None else str(v))) \
                if done else "?"
            parts.append(f"r {k} {got}")
        else:
            parts.append(f"{f} {k} {v}")
    text = " · ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def short(v: Any, limit: int = 40) -> str:
    s = v if isinstance(v, str) else json.dumps(v, default=str)
    return s if len(s) <= limit else s[: limit - 1] + "…"


ROLE_OF_KIND: dict[str, str] = {
    "broker-append": "broker",
    "broker-deliver": "broker",
    "saga-step": "orchestrator",
    "doc-write": "docstore",
    "batch-start": "worker",
    "embed": "worker",
    "vs-write": "vector store",
    "produced": "producer",
    "lock-granted": "lock worker",
    "storage-write": "storage",
}
"""Trace kinds only one role emits: the node that emits one plays that role."""

SERVICE_ROLES = {"embedder": "worker"}
"""``effect`` records name their service; these names map to a broader role."""


def node_roles(data: RunData) -> dict[str, str]:
    """Node -> the role it plays (``broker``, ``orchestrator``, ``flight``, ``docstore``...),
    read from what each node did in the trace, so it holds for any layout and any system
    whose cores emit these events.  Empty for symmetric systems (Raft, the quorum register),
    where every node is a replica and the lanes show terms instead."""
    if "node_roles" in data._cache:
        return dict(data._cache["node_roles"])
    roles: dict[str, str] = {}
    for r in data.kinds(*ROLE_OF_KIND, "effect"):
        node = r.get("node")
        if not isinstance(node, str) or node in roles:
            continue
        kind = str(r.get("kind"))
        if kind == "effect":
            service = r.get("service")
            if isinstance(service, str) and service:
                roles[node] = SERVICE_ROLES.get(service, service)
        else:
            roles[node] = ROLE_OF_KIND[kind]
    data._cache["node_roles"] = roles
    return dict(roles)


def leader_based(data: RunData) -> bool:
    """Whether nodes elect leaders in this run (Raft): only then do terms, elections and
    leaders belong in the report's lanes, legend and tables."""
    if "leader_based" not in data._cache:
        data._cache["leader_based"] = bool(data.kinds("election")) or any(
            r.get("role") in ("leader", "candidate") for r in data.kinds("role"))
    return bool(data._cache["leader_based"])

