"""Read a results folder into plain values the report's drawing code can use.

The report must open in a browser in seconds even for runs of 100,000 operations and a
trace of millions of records, so loading is selective:

* the history is read whole (one small record per event) and paired into :class:`Op`;
* the trace is read in two passes.  The first parses every record except the bulky wire
  and storage records (``send``/``deliver``/``drop``/``dup``/``store``), which it only
  counts; once the report knows which time windows it will draw in detail, the second pass
  parses only the bulky records that fall inside them (:func:`load_detail`).

Everything here is tolerant: a missing field or unknown record kind is skipped, never
fatal, because the report is what a learner opens when something already went wrong.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_left, bisect_right
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analysis.faultwindows import fault_windows

BULK_KINDS = frozenset({"send", "deliver", "drop", "dup", "store", "client-invoke", "client-complete",
                        "commit", "read", "ack"})
"""Trace kinds that dominate a trace's size and are only needed inside detail windows
(when written as flat records; nested ones are always parsed)."""
CLIENT_SAMPLE = 5000
"""client-invoke records parsed in the first pass, to learn the process -> client id map."""

WIRE_KINDS = frozenset({"send", "deliver", "drop", "dup"})

_KIND_RE = re.compile(r'"kind"\s*:\s*"([^"\\]*)"')
_T_RE = re.compile(r'"t"\s*:\s*(-?[0-9.eE+]+)')


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


# --------------------------------------------------------------------------- loading


def _read_json(path: Path, notes: list[str]) -> dict[str, Any]:
    if not path.is_file():
        notes.append(f"{path.name} is missing")
        return {}
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as e:
        notes.append(f"{path.name} could not be read ({e})")
        return {}
    return d if isinstance(d, dict) else {}


def read_ops(path: Path, notes: list[str]) -> tuple[list[Op], bool]:
    """Pair invocations with completions per process, as :class:`History` does.

    Returns the operations and whether the history carried timestamps (without them,
    event positions stand in for milliseconds so the pictures still show order).
    """
    if not path.is_file():
        notes.append("history.jsonl is missing")
        return [], False
    open_: dict[Any, tuple[int, dict[str, Any], float]] = {}
    slots: list[Op | None] = []
    has_times = True
    records, bad = parse_lines(path.read_text(encoding="utf-8", errors="replace").splitlines())
    for pos, r in enumerate(records):
        proc = r.get("process")
        if proc == "nemesis" or proc is None:
            continue
        if isinstance(proc, list | dict):
            proc = json.dumps(proc)
        t_raw = r.get("time")
        if isinstance(t_raw, int | float) and not isinstance(t_raw, bool):
            t = float(t_raw) / 1_000_000
        else:
            has_times = False
            t = float(pos)
        typ = r.get("type")
        if typ == "invoke":
            if proc in open_:  # invalid history; close the old one as unknown
                slot, inv, t0 = open_.pop(proc)
                slots[slot] = _op(slot, proc, inv, None, t0, None)
            open_[proc] = (len(slots), r, t)
            slots.append(None)
        elif typ in ("ok", "fail", "info"):
            if proc not in open_:
                continue
            slot, inv, t0 = open_.pop(proc)
            slots[slot] = _op(slot, proc, inv, r, t0, t)
    for slot, inv, t0 in open_.values():
        slots[slot] = _op(slot, proc_of(inv), inv, None, t0, None)
    if bad:
        notes.append(f"{bad} history lines were not JSON objects and were skipped")
    return [o for o in slots if o is not None], has_times


def proc_of(r: dict[str, Any]) -> int | str:
    p = r.get("process")
    return p if isinstance(p, int | str) else str(p)


def _op(slot: int, proc: Any, inv: dict[str, Any], comp: dict[str, Any] | None,
        t0: float, t1: float | None) -> Op:
    status = "info" if comp is None else str(comp.get("type"))
    key = inv.get("key")
    return Op(
        id=slot,
        process=proc,
        f=str(inv.get("f", "?")),
        key=None if key is None else str(key),
        value=inv.get("value"),
        output=comp.get("value") if comp is not None and status == "ok" else None,
        status=status,
        start=t0,
        end=t1,
    )


def parse_lines(lines: list[str]) -> tuple[list[dict[str, Any]], int]:
    """JSON objects from lines, parsed in one call when possible (several times faster)."""
    lines = [ln for ln in lines if ln.strip()]
    try:
        parsed = json.loads("[" + ",".join(lines) + "]")
        if all(isinstance(r, dict) for r in parsed):
            return parsed, 0
    except json.JSONDecodeError:
        pass
    out: list[dict[str, Any]] = []
    bad = 0
    for ln in lines:
        try:
            r = json.loads(ln)
        except json.JSONDecodeError:
            bad += 1
            continue
        if isinstance(r, dict):
            out.append(r)
        else:
            bad += 1
    return out, bad


def _lazy_kind(line: str) -> str | None:
    """The kind of a flat record whose kind is deferred to the second pass, else None."""
    if line.count("{") != 1:
        return None
    m = _KIND_RE.search(line)
    if m and m.group(1) in BULK_KINDS:
        return m.group(1)
    return None


def _scan_trace(path: Path, notes: list[str]) -> tuple[list[dict[str, Any]], Counter[str], float,
                                                        dict[str, str]]:
    """First pass: parse everything except bulky flat records, which are only counted."""
    counts: Counter[str] = Counter()
    last_t = 0.0
    clients: dict[str, str] = {}
    if not path.is_file():
        notes.append("trace.jsonl is missing")
        return [], counts, last_t, clients
    keep: list[str] = []
    sample: list[str] = []
    last_lazy = ""
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            kind = _lazy_kind(line)
            if kind is None:
                keep.append(line)
                continue
            counts[kind] += 1
            last_lazy = line
            if kind == "client-invoke" and len(sample) < CLIENT_SAMPLE:
                sample.append(line)
    tm = _T_RE.search(last_lazy)  # traces are in time order: the last record bounds the run
    if tm:
        try:
            last_t = float(tm.group(1))
        except ValueError:
            pass
    small, bad = parse_lines(keep)
    for r in small:
        counts[str(r.get("kind", "?"))] += 1
        t = r.get("t")
        if isinstance(t, int | float) and not isinstance(t, bool):
            last_t = max(last_t, float(t))
        else:
            r["t"] = last_t
    for r in parse_lines(sample)[0] + [r for r in small if r.get("kind") == "client-invoke"]:
        if "process" in r and isinstance(r.get("client"), str):
            clients.setdefault(str(r["process"]), r["client"])
    if bad:
        notes.append(f"{bad} trace lines were not JSON objects and were skipped")
    return small, counts, last_t, clients


def load_run(folder: Path) -> RunData:
    """Read a results folder (tolerating missing optional parts)."""
    notes: list[str] = []
    scenario = _read_json(folder / "scenario.json", notes)
    results = _read_json(folder / "results.json", notes)
    metrics = _read_json(folder / "metrics.json", notes) if (folder / "metrics.json").is_file() else {}
    ops, has_times = read_ops(folder / "history.jsonl", notes)
    trace, counts, last_t, clients = _scan_trace(folder / "trace.jsonl", notes)
    ends = [last_t]
    dur = scenario.get("duration_ms")
    if isinstance(dur, int | float) and not isinstance(dur, bool):
        ends.append(float(dur))
    sim_ms = metrics.get("stats", {}).get("simulated_ms") if isinstance(metrics.get("stats"), dict) else None
    if isinstance(sim_ms, int | float):
        ends.append(float(sim_ms))
    for o in ops[-200:]:
        ends.append(o.end if o.end is not None else o.start)
    end_ms = max(ends) if ends else 1.0
    if not has_times:
        notes.append("the history has no timestamps: event positions are used as milliseconds")
        end_ms = max([end_ms] + [o.end or o.start for o in ops])
    windows = fault_windows(trace, end_t=int(end_ms))
    return RunData(folder, scenario, ops, results, metrics, trace, counts, max(end_ms, 1.0),
                   windows, has_times, notes, clients)


def load_detail(folder: Path, ranges: list[tuple[float, float]], small: list[dict[str, Any]],
                cap: int, center: float) -> list[dict[str, Any]]:
    """Second pass: every trace record inside ``ranges``, at most ``cap`` (nearest to ``center``).

    Non-bulk records come from ``small`` (already parsed); bulky ones are parsed now.
    """
    if not ranges:
        return []
    merged = merge_ranges(ranges)

    def inside(t: float) -> bool:
        return any(lo <= t <= hi for lo, hi in merged)

    out: list[dict[str, Any]] = [r for r in small if inside(float(r.get("t", 0)))
                                 and r.get("kind") not in ("leader-log", "final-log")]
    lo_all, hi_all = merged[0][0], merged[-1][1]
    path = folder / "trace.jsonl"
    if path.is_file():
        lines: list[str] = []
        with path.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                tm = _T_RE.search(line)
                if tm is None:
                    continue
                try:
                    t = float(tm.group(1))
                except ValueError:
                    continue
                if t < lo_all or t > hi_all or not inside(t) or _lazy_kind(line) is None:
                    continue
                lines.append(line)
        out.extend(parse_lines(lines)[0])
    if len(out) > cap:
        out.sort(key=lambda r: abs(float(r.get("t", 0)) - center))
        out = out[:cap]
    out.sort(key=lambda r: float(r.get("t", 0)))
    return out


def merge_ranges(ranges: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


# --------------------------------------------------------------------------- derived views


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


def short(v: Any, limit: int = 40) -> str:
    s = v if isinstance(v, str) else json.dumps(v, default=str)
    return s if len(s) <= limit else s[: limit - 1] + "…"
