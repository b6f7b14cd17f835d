"""Fault windows from trace records: when each fault started and ended.

Reports draw these as bands, checkers quote them in explanations ("while n1 was isolated"),
and the coverage analysis asks whether anything interesting happened inside them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def fault_windows(records: Iterable[dict[str, Any]], end_t: int | None = None) -> list[dict[str, Any]]:
    """``[{"id", "fault", "description", "targets", "start", "end"}]`` in start order.

    A fault that never healed gets ``end = end_t`` (or the last record's time).
    """
    open_: dict[Any, dict[str, Any] | None] = {}
    out: list[dict[str, Any]] = []
    last_t = 0
    for r in records:
        t = int(r.get("t", 0))
        last_t = max(last_t, t)
        kind = r.get("kind")
        if kind == "fault-start":
            w = {
                "id": r.get("id"),
                "fault": r.get("fault"),
                "description": r.get("description", r.get("fault", "fault")),
                "targets": r.get("targets", []),
                "start": t,
                "end": None,
            }
            open_[r.get("id")] = w
            out.append(w)
        elif kind == "fault-end":
            ended = open_.pop(r.get("id"), None)
            if ended is not None:
                ended["end"] = t
    stop = end_t if end_t is not None else last_t
    for w in out:
        if w["end"] is None:
            w["end"] = stop
    return out


def active_at(windows: list[dict[str, Any]], t: int) -> list[dict[str, Any]]:
    return [w for w in windows if w["start"] <= t <= w["end"]]


def overlaps(windows: list[dict[str, Any]], start: int, end: int) -> list[dict[str, Any]]:
    return [w for w in windows if w["start"] <= end and start <= w["end"]]
