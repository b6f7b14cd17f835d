"""Fault windows from trace records: when each fault started and ended.

Reports draw these as bands, checkers quote them in explanations ("while n1 was isolated"),
and the coverage analysis asks whether anything interesting happened inside them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

FAULT_KINDS = frozenset(("crash", "fault-start", "fault-end"))
"""The record kinds fault windows are made of (a crash record tells how a crash landed)."""


def fault_windows(records: Iterable[dict[str, Any]], end_t: int | None = None) -> list[dict[str, Any]]:
    """``[{"id", "fault", "description", "targets", "start", "end"}]`` in start order.

    A fault that never healed gets ``end = end_t`` (or the last record's time).
    """
    recs = records if isinstance(records, list) else list(records)
    return windows_of([r for r in recs if r.get("kind") in FAULT_KINDS], recs, end_t)


def windows_of(fault_records: Iterable[dict[str, Any]], records: Iterable[dict[str, Any]],
               end_t: int | None = None) -> list[dict[str, Any]]:
    """:func:`fault_windows` from the trace's records of :data:`FAULT_KINDS` (in trace order),
    for a caller that picked them in a pass of its own; ``records`` is the whole trace, read
    only for the last record's time when a fault never healed and ``end_t`` is not given.

    A trace is mostly other records, so the windows cost a pass over the few fault records,
    and the run's end is looked up only when it is needed."""
    open_: dict[Any, dict[str, Any] | None] = {}
    out: list[dict[str, Any]] = []
    late: dict[str, tuple[int, dict[str, Any]]] = {}  # node -> a crash that landed while it ran
    for r in fault_records:
        t = int(r.get("t", 0))
        kind = r.get("kind")
        if kind == "crash" and r.get("landed") == "running":
            late[str(r.get("node"))] = (t, r)
        elif kind == "fault-start":
            w = {
                "id": r.get("id"),
                "fault": r.get("fault"),
                "description": r.get("description", r.get("fault", "fault")),
                "targets": r.get("targets", []),
                "start": t,
                "end": None,
            }
            if r.get("fault") == "crash":
                _note_landing(w, late, t)
            open_[r.get("id")] = w
            out.append(w)
        elif kind == "fault-end":
            ended = open_.pop(r.get("id"), None)
            if ended is not None:
                ended["end"] = t
    if any(w["end"] is None for w in out):  # a fault that never healed ends with the run
        stop = end_t if end_t is not None else last_time(records)
        for w in out:
            if w["end"] is None:
                w["end"] = stop
    return out


def last_time(records: Iterable[dict[str, Any]]) -> int:
    """The latest ``t`` of any record (0 for none, or if all are earlier)."""
    return max(0, max((int(r.get("t", 0)) for r in records), default=0))


_SAME_MOMENT_MS = 5


def _note_landing(w: dict[str, Any], late: dict[str, tuple[int, dict[str, Any]]], t: int) -> None:
    """A real-engine crash that could not land at its failpoint freeze says so: the node
    ran on after the event that triggered it, and what it did meanwhile (in the trace)
    really happened before the crash."""
    for node in w["targets"] or ():
        got = late.pop(str(node), None)
        if got is None or t - got[0] > _SAME_MOMENT_MS:
            continue
        crash = got[1]
        w["landed"] = "running"
        w["description"] = (f"{w['description']}, landing {crash.get('late_ms')} ms after {node}'s "
                            f"{crash.get('after_event')!r} event at {crash.get('event_t')} ms, while {node} "
                            "ran on (no failpoint freeze)")


def clock_steps_back(records: Iterable[dict[str, Any]]) -> list[tuple[int, str, int]]:
    """``[(t, node, ms)]``: each moment a node's wall clock stepped back, and by how much.

    Read from the engines' ``clock`` records (``local_ms`` is the wall reading just after the
    change, ``rate`` the rate it ran at before): a heal of a clock that was ahead, or an NTP
    step back.  Monotonic timers do not notice, but for ``ms`` after the step the node's wall
    clock re-reads times it already passed, so timestamps it writes then sort before ones it
    wrote earlier.  That is the after-effect a liveness judgement must wait out.
    """
    last: dict[str, tuple[int, float, float]] = {}  # node -> (t, local_ms, rate)
    out: list[tuple[int, str, int]] = []
    for r in records:
        if r.get("kind") != "clock" or r.get("local_ms") is None:
            continue
        node, t, local = str(r.get("node")), int(r.get("t", 0)), float(r["local_ms"])
        prev = last.get(node)
        expected = float(t) if prev is None else prev[1] + (t - prev[0]) * prev[2]
        if expected - local >= 1:
            out.append((t, node, int(expected - local)))
        last[node] = (t, local, float(r.get("rate", 1.0)))
    return out


def settled_from(records: list[dict[str, Any]], windows: list[dict[str, Any]]) -> int:
    """When the faults' effects were over: the last fault's end, or the end of the last
    wall-clock step back's after-effect (see :func:`clock_steps_back`), whichever is later."""
    last = max((int(w["end"]) for w in windows), default=0)
    for t, _, ms in clock_steps_back(records):
        last = max(last, t + ms)
    return last


def active_at(windows: list[dict[str, Any]], t: int) -> list[dict[str, Any]]:
    return [w for w in windows if w["start"] <= t <= w["end"]]


def overlaps(windows: list[dict[str, Any]], start: int, end: int) -> list[dict[str, Any]]:
    return [w for w in windows if w["start"] <= end and start <= w["end"]]


RECENT_MS = 3000
"""How far back an explanation looks for a fault that had just ended when something broke."""

SHORTLY_MS = 500
"""Next to faults that are active, only faults that ended this recently are worth naming too."""


def recently_ended(windows: list[dict[str, Any]], t: int, within_ms: int = RECENT_MS) -> list[dict[str, Any]]:
    """Faults that ended at most ``within_ms`` before ``t`` (and not after it), newest end first.

    A violation is often the after-effect of a fault that has just healed: a node resumed from
    a pause acts on stale beliefs, a clock stepped back by a healed skew silences its timers, a
    restarted node forgot what it had not persisted.  "No fault was active" would point the
    learner away from the cause.
    """
    ended = [w for w in windows if w["end"] < t and t - w["end"] <= within_ms]
    return sorted(ended, key=lambda w: (-int(w["end"]), int(w["start"])))


def _heal_effect(w: dict[str, Any]) -> str:
    if w.get("fault") == "clock-skew" and " ahead" in str(w.get("description", "")):
        targets = w.get("targets") or []
        who = f"{targets[0]}'s clock" if targets else "the clock"
        return f"; healing it stepped {who} back"
    return ""


def _ended(w: dict[str, Any], t: int) -> str:
    gap = t - int(w["end"])
    return f"{w['description']} (ended at {w['end']} ms, {gap} ms before{_heal_effect(w)})"


def fault_clause(windows: list[dict[str, Any]], t: int, *, end: int | None = None,
                 nodes: tuple[str, ...] | list[str] = (), within_ms: int = RECENT_MS,
                 subject: str = "then") -> str:
    """One sentence on the faults behind a moment ``t`` (or the span ``t``..``end``).

    Faults active at the time come first.  If none was, the faults that ended shortly before
    are named with the gap, those that hit ``nodes`` (the nodes the violation involves) first;
    only when nothing ended within ``within_ms`` does it say the run was quiet.
    """
    stop = t if end is None else end
    active = overlaps(windows, t, stop) if end is not None else active_at(windows, t)
    recent = recently_ended(windows, t, within_ms)
    if active:
        # Faults on the nodes the violation involves first: they are the likeliest cause.
        touching = [w for w in active if set(w.get("targets") or ()) & set(nodes)]
        ordered = touching + [w for w in active if w not in touching]
        text = f"Faults active {subject}: " + "; ".join(dict.fromkeys(w["description"] for w in ordered)) + "."
        described = {w["description"] for w in active}
        mine = [w for w in recent if w["description"] not in described and t - int(w["end"]) <= SHORTLY_MS
                and set(w.get("targets") or ()) & set(nodes)]
        if mine:
            text += " Ended just before, on the nodes involved: " + "; ".join(_ended(w, t) for w in mine[:3]) + "."
        return text
    if nodes:
        mine = [w for w in recent if set(w.get("targets") or ()) & set(nodes)]
        recent = mine + [w for w in recent if w not in mine]
    if recent:
        # The same fault repeating (a trigger firing again and again) is named once, newest first.
        by_text: dict[str, list[dict[str, Any]]] = {}
        for w in recent:
            by_text.setdefault(str(w["description"]), []).append(w)
        shown = list(by_text.values())[:3]
        more = f" (and {len(by_text) - 3} other faults)" if len(by_text) > 3 else ""
        lead = "this had ended shortly before" if len(by_text) == 1 else "these had ended shortly before"
        parts = []
        for ws in shown:
            again = f", and {len(ws) - 1} more time(s) in the {within_ms / 1000:g} s before" if len(ws) > 1 else ""
            parts.append(_ended(ws[0], t)[:-1] + again + ")")
        return f"No fault was active {subject}, but {lead}: " + "; ".join(parts) + more + "."
    earlier = [w for w in windows if w["end"] < t]
    if earlier:
        last = max(earlier, key=lambda w: int(w["end"]))
        return (f"No fault was active {subject}, nor in the {within_ms / 1000:g} s before (the last one, "
                f"{last['description']}, ended at {last['end']} ms).")
    return f"No fault was active {subject}, nor before."
