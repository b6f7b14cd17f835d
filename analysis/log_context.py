"""What was going on around a finding of the log checker (:mod:`analysis.log_consumer`).

A finding spans operations (a send and the poll that read past it, two polls of one
consumer); :class:`LogContext` says what happened between them: client crashes and
rebalance logs recorded in the history, nemesis windows from its fault events, and, given a
trace, the fault windows (:func:`analysis.faultwindows.fault_windows`), broker rebalances
and node crashes.  It owns these timelines, indexed once, so each finding is a few
binary searches.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import Any

from analysis.faultwindows import active_at, fault_windows, overlaps
from analysis.history import Event
from analysis.log_history import LogHistory, freeze, show

MAX_CONTEXT = 4

_OPENS_BY_PREFIX = ("start-",)
_CLOSES_BY_PREFIX = ("stop-",)
_PAIRS = {"kill": ("start", "restart"), "pause": ("resume",), "partition": ("heal", "stop"),
          "isolate": ("heal",), "crash": ("restart", "start")}


def nemesis_records(events: Iterable[Event]) -> list[dict[str, Any]]:
    """Fault records (``fault-start`` / ``fault-end``, ``t`` = event position) for the
    nemesis events of a history, so that :func:`analysis.faultwindows.fault_windows` can
    pair them.  Best effort over Jepsen's names: ``start-X``/``stop-X``, ``kill`` ..
    ``start``, ``pause`` .. ``resume``, ``partition`` .. ``heal``; a bare ``start`` with
    nothing killed opens a window that ``stop`` closes (the old partition nemesis).
    Invocations are skipped: the completion says when the fault took effect."""
    out: list[dict[str, Any]] = []
    open_ids: dict[str, int] = {}
    n = 0
    for ev in events:
        if ev.type == "invoke":
            continue
        f = ev.f
        opened = closed = None
        if f.startswith(_OPENS_BY_PREFIX):
            opened = f[len("start-"):]
        elif f.startswith(_CLOSES_BY_PREFIX):
            closed = f[len("stop-"):]
        elif f in _PAIRS:
            opened = f
        else:
            for opener, closers in _PAIRS.items():
                if f in closers and opener in open_ids:
                    closed = opener
                    break
            else:
                if f == "start":
                    opened = "nemesis"
                elif f == "stop":
                    closed = "nemesis"
        if opened is not None and opened in open_ids:
            continue  # Jepsen logs a nemesis op twice (before and after): one window
        if opened is not None:
            n += 1
            open_ids[opened] = n
            desc = f"nemesis {f}" + (f" {show(freeze(ev.value))}" if ev.value is not None else "")
            out.append({"t": ev.index, "kind": "fault-start", "id": n, "fault": opened, "description": desc})
        elif closed is not None and closed in open_ids:
            out.append({"t": ev.index, "kind": "fault-end", "id": open_ids.pop(closed)})
    return out


class LogContext:
    """What was going on between two points of a history: crashes and rebalances the
    clients recorded, nemesis windows, and (from a trace, by time) faults, broker
    rebalances and node crashes."""

    def __init__(self, lh: LogHistory, trace: list[dict[str, Any]]) -> None:
        crashes = sorted((op.invoke_pos, op) for op in lh.ops if op.f == "crash")
        self.crash_pos = [p for p, _ in crashes]
        self.crash_ops = [op for _, op in crashes]
        rebal = sorted(
            (op.complete_pos if op.complete_pos is not None else op.invoke_pos, op)
            for op in lh.ops
            if op.rebalances
        )
        self.rebal_pos = [p for p, _ in rebal]
        self.rebal_ops = [op for _, op in rebal]
        self.nemesis = fault_windows(nemesis_records(lh.nemesis))
        self.trace_windows = fault_windows(trace) if trace else []
        events = sorted(
            (int(r.get("t", 0)), i, r)
            for i, r in enumerate(trace)
            if r.get("kind") in ("broker-rebalance", "crash", "restart")
        )
        self.trace_t = [t for t, _, _ in events]
        self.trace_events = [r for _, _, r in events]

    def describe(
        self, lo: int, hi: int, lo_ns: int | None, hi_ns: int | None, focus: set[Any]
    ) -> list[str]:
        words: list[str] = []
        a, b = bisect.bisect_left(self.crash_pos, lo), bisect.bisect_right(self.crash_pos, hi)
        crashed = sorted(self.crash_ops[a:b], key=lambda op: (op.process not in focus, op.id))
        for op in crashed[:MAX_CONTEXT]:
            where = f", line {op.line}" if op.line is not None else ""
            words.append(f"process {op.process} crashed (op {op.id}{where})")
        if len(crashed) > MAX_CONTEXT:
            words.append(f"{len(crashed) - MAX_CONTEXT} more client crash(es)")
        a, b = bisect.bisect_left(self.rebal_pos, lo), bisect.bisect_right(self.rebal_pos, hi)
        rebal = sorted(self.rebal_ops[a:b], key=lambda op: (op.process not in focus, op.id))
        for op in rebal[:MAX_CONTEXT]:
            moved = "; ".join(f"{r.kind} {', '.join(r.keys) or 'nothing'}" for r in op.rebalances)
            where = f", line {op.line}" if op.line is not None else ""
            words.append(f"process {op.process} was rebalanced during op {op.id}{where} ({moved})")
        if len(rebal) > MAX_CONTEXT:
            words.append(f"{len(rebal) - MAX_CONTEXT} more rebalance(s)")
        for w in overlaps(self.nemesis, lo, hi)[:MAX_CONTEXT]:
            words.append(f"{w['description']} was in effect")
        if lo_ns is not None and hi_ns is not None:
            lo_ms, hi_ms = lo_ns // 1_000_000, hi_ns // 1_000_000
            for w in overlaps(self.trace_windows, lo_ms, hi_ms)[:MAX_CONTEXT]:
                words.append(f"{w['description']} ({w['start']}-{w['end']} ms)")
            a = bisect.bisect_left(self.trace_t, lo_ms)
            b = bisect.bisect_right(self.trace_t, hi_ms)
            evs = self.trace_events[a:b]
            for r in evs[:MAX_CONTEXT]:
                if r.get("kind") == "broker-rebalance":
                    words.append(
                        f"the broker rebalanced {r.get('topic', 'the topic')} at {r.get('t')} ms"
                        f" ({r.get('reason', 'rebalance')}, generation {r.get('generation')})"
                    )
                else:
                    words.append(f"node {r.get('node')} {'crashed' if r.get('kind') == 'crash' else 'restarted'} at {r.get('t')} ms")
            if len(evs) > MAX_CONTEXT:
                words.append(f"{len(evs) - MAX_CONTEXT} more broker or node event(s)")
        return words

    def active(self, pos: int, t_ns: int | None) -> list[str]:
        out = [w["description"] for w in active_at(self.nemesis, pos)]
        if t_ns is not None:
            out += [w["description"] for w in active_at(self.trace_windows, t_ns // 1_000_000)]
        return out
