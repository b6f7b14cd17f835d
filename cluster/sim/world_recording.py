"""How the simulator records: trace records, event hooks, and history/trace output.

Split out of :mod:`cluster.sim.world` so the one place that appends to ``trace`` (apart
from the hot wire/store paths, which append inline for speed) and calls event hooks is
easy to find.  Record formats are described in :mod:`cluster.sim.trace`.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

from cluster.core.types import CoreEvent, Message
from cluster.sim.trace import history_jsonl, to_jsonl
from cluster.sim.world_base import _SUMMARY_FIELDS, Hook, SimState


class RecordingMixin(SimState):
    """Trace records, wire summaries, event hooks and JSON-lines output."""

    def _emit(self, kind: str, data: dict[str, Any], *, hooks: bool = True) -> None:
        """Append a simulator record to the trace and (usually) tell the hooks."""
        rec = dict(data)
        rec["t"] = self._now
        rec["kind"] = kind
        self.trace.append(rec)
        if hooks and self._hooks:
            shared = dict(rec)
            for fn in list(self._hooks):
                fn(kind, shared)

    def _record_events(self, events: tuple[CoreEvent, ...]) -> None:
        now = self._now
        trace = self.trace
        hooks = self._hooks
        on_event = self._on_event
        for ev in events:
            rec = dict(ev.data)
            rec["t"] = now
            rec["kind"] = ev.kind
            rec["node"] = ev.node
            trace.append(rec)
            if on_event is not None:
                on_event(ev)
            if hooks:
                shared = dict(rec)
                for fn in list(hooks):
                    fn(ev.kind, shared)

    def _summary(self, msg: Message) -> tuple[str, tuple[str, ...]]:
        """Class name and which of ``term``/``seq``/``op``/``status`` it has (cached)."""
        cls = type(msg)
        have = {f.name for f in fields(msg)} if is_dataclass(msg) else set()
        entry = (cls.__name__, tuple(n for n in _SUMMARY_FIELDS if n in have))
        self._summary_cache[cls] = entry
        return entry

    def _wire(self, kind: str, msg: Message, mid: int) -> dict[str, Any]:
        """A wire record; the per-class summary is cached because this runs per message."""
        entry = self._summary_cache.get(type(msg))
        if entry is None:
            entry = self._summary(msg)
        name, summary = entry
        rec: dict[str, Any] = {
            "t": self._now,
            "kind": kind,
            "src": msg.src,
            "dst": msg.dst,
            "msg": name,
            "mid": mid,
        }
        for field_name in summary:
            rec[field_name] = getattr(msg, field_name)
        return rec

    def add_event_hook(self, fn: Hook) -> None:
        """Call ``fn(kind, data)`` for every core event, client completion and lifecycle
        change (crash, restart, pause, resume, clock).  ``data`` includes ``node`` and ``t``;
        treat it as read-only."""
        self._hooks.append(fn)

    def remove_event_hook(self, fn: Hook) -> None:
        self._hooks.remove(fn)

    # --- Engine: observation --------------------------------------------------------------------

    def record(self, kind: str, data: dict[str, object]) -> None:
        """Append a fault record (``fault-start``, ``fault-end`` ...) to the trace."""
        self._emit(kind, dict(data), hooks=False)

    # --- output ---------------------------------------------------------------------------------

    def trace_jsonl(self) -> str:
        return to_jsonl(self.trace)

    def history_jsonl(self) -> str:
        return history_jsonl(self.history)

    def write_trace(self, path: str | Path) -> None:
        Path(path).write_text(self.trace_jsonl(), encoding="utf-8", newline="\n")

    def write_history(self, path: str | Path) -> None:
        Path(path).write_text(self.history_jsonl(), encoding="utf-8", newline="\n")
