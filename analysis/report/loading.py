"""Loading a results folder for the report: the history whole, the trace in two passes.

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
from collections import Counter
from pathlib import Path
from typing import Any

from analysis.faultwindows import fault_windows
from analysis.records import open_text, stored
from analysis.report.rundata import Op, RunData

BULK_KINDS = frozenset({"send", "deliver", "drop", "dup", "store", "client-invoke", "client-complete",
                        "commit", "read", "ack"})
"""Trace kinds that dominate a trace's size and are only needed inside detail windows
(when written as flat records; nested ones are always parsed)."""
CLIENT_SAMPLE = 5000
"""client-invoke records parsed in the first pass, to learn the process -> client id map."""

WIRE_KINDS = frozenset({"send", "deliver", "drop", "dup"})

_KIND_RE = re.compile(r'"kind"\s*:\s*"([^"\\]*)"')
_T_RE = re.compile(r'"t"\s*:\s*(-?[0-9.eE+]+)')


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
    path = stored(path)
    if not path.is_file():
        notes.append("trace.jsonl is missing")
        return [], counts, last_t, clients
    keep: list[str] = []
    sample: list[str] = []
    last_lazy = ""
    with open_text(path) as fh:
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
    prediction = _read_json(folder / "prediction.json", notes) if (folder / "prediction.json").is_file() else None
    diff = _read_json(folder / "diff.json", notes) if (folder / "diff.json").is_file() else None
    why = _read_json(folder / "why.json", notes) if (folder / "why.json").is_file() else None
    return RunData(folder, scenario, ops, results, metrics, trace, counts, max(end_ms, 1.0),
                   windows, has_times, notes, clients, prediction or None, diff or None, why or None)


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
    path = stored(folder / "trace.jsonl")
    if path.is_file():
        lines: list[str] = []
        with open_text(path) as fh:
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
