"""What a simulation writes down: the trace, and who is told as it happens.

The recorder owns the trace (a list of flat dicts; formats in :mod:`cluster.sim.trace`),
the event hooks that fault schedules and systems install, and the per-run ``on_event``
callback.  Every other part records through it, so the one rule about hooks -- they see
a record after it is in the trace, in trace order, as a copy they cannot use to change
the trace -- is written once.

Wire records (``send``/``deliver``/``drop``/``dup``/``store``) are the bulk of a trace and
only wanted when ``trace_messages`` is on; their callers test :attr:`Recorder.wire_on`
before building anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, is_dataclass
from typing import Any

from cluster.core.types import CoreEvent, Message
from cluster.sim.scheduler import Scheduler

__all__ = ["Hook", "Recorder"]

Hook = Callable[[str, dict[str, Any]], None]
"""``fn(kind, data)``: told of every core event, client completion and lifecycle change."""

_SUMMARY_FIELDS = ("term", "seq", "op", "status")
"""Message fields copied into wire records when a message has them."""


class Recorder:
    """The trace, the hooks, and the current run's ``on_event`` callback."""

    __slots__ = ("trace", "wire_on", "on_event", "node_records", "node_record_kinds", "_hooks", "_clock",
                 "_summaries")

    def __init__(self, clock: Scheduler, *, trace_messages: bool) -> None:
        self.trace: list[dict[str, Any]] = []
        self.wire_on = trace_messages
        self.on_event: Callable[[CoreEvent], None] | None = None
        # The system's per-event records (a new leader's log): told of each core event
        # itself, before the hooks, so no copy of the record is built for it.
        self.node_records: Callable[[CoreEvent], None] | None = None
        # The event kinds node_records reads (None: every kind); it is not called for others.
        self.node_record_kinds: frozenset[str] | None = None
        self._hooks: tuple[Hook, ...] = ()  # replaced, never mutated: safe to iterate while hooks add hooks
        self._clock = clock
        self._summaries: dict[type, tuple[str, tuple[str, ...]]] = {}

    # --- hooks ----------------------------------------------------------------------------------

    def add_hook(self, fn: Hook) -> None:
        self._hooks = (*self._hooks, fn)

    def remove_hook(self, fn: Hook) -> None:
        hooks = list(self._hooks)
        hooks.remove(fn)
        self._hooks = tuple(hooks)

    def close(self) -> None:
        """Forget the hooks and callbacks: they are closures over the simulation's parts
        (fault schedules, the system's per-event records), which hold this recorder.  The
        trace stays readable."""
        self._hooks = ()
        self.on_event = None
        self.node_records = None
        self.node_record_kinds = None

    # --- records --------------------------------------------------------------------------------

    def emit(self, kind: str, data: dict[str, Any], *, hooks: bool = True) -> None:
        """Append an engine record (lifecycle, link, fault, client completion) and, unless
        ``hooks`` is false, tell the hooks."""
        rec = dict(data)
        rec["t"] = self._clock.now
        rec["kind"] = kind
        self.trace.append(rec)
        if hooks and self._hooks:
            shared = dict(rec)
            for fn in self._hooks:
                fn(kind, shared)

    def append(self, rec: dict[str, Any]) -> None:
        """Append a finished record that no hook needs to see (a client invocation)."""
        self.trace.append(rec)

    def events(self, events: tuple[CoreEvent, ...]) -> None:
        """A batch of core events, in order: each is traced, then handed to ``on_event``,
        then to ``node_records`` (if it reads that kind), then to the hooks.  (A hook may record in turn; its record
        follows the event's.)"""
        now = self._clock.now
        trace = self.trace
        on_event = self.on_event
        node_records = self.node_records
        kinds = self.node_record_kinds
        if on_event is None and not self._hooks:
            # Nobody to tell but node_records, which records without hooks and so cannot
            # add one: the common case (explore, sweeps, runs without event-triggered faults).
            for ev in events:
                trace.append({**ev.data, "t": now, "kind": ev.kind, "node": ev.node})
                if node_records is not None and (kinds is None or ev.kind in kinds):
                    node_records(ev)
            return
        for ev in events:
            rec = {**ev.data, "t": now, "kind": ev.kind, "node": ev.node}
            trace.append(rec)
            if on_event is not None:
                on_event(ev)
            if node_records is not None and (kinds is None or ev.kind in kinds):
                node_records(ev)
            hooks = self._hooks  # per event: a hook may have added one
            if hooks:
                shared = dict(rec)
                for fn in hooks:
                    fn(ev.kind, shared)

    # --- wire records (only when wire_on) -------------------------------------------------------

    def wire(self, kind: str, msg: Message, mid: int) -> dict[str, Any]:
        """Append and return a wire record for ``msg`` (message id ``mid``)."""
        entry = self._summaries.get(type(msg))
        if entry is None:
            entry = self._summary(msg)
        name, summary = entry
        rec: dict[str, Any] = {
            "t": self._clock.now,
            "kind": kind,
            "src": msg.src,
            "dst": msg.dst,
            "msg": name,
            "mid": mid,
        }
        for field_name in summary:
            rec[field_name] = getattr(msg, field_name)
        self.trace.append(rec)
        return rec

    def drop(self, msg: Message, mid: int, reason: str) -> None:
        if self.wire_on:
            self.wire("drop", msg, mid)["reason"] = reason

    def store(self, node: str, ops: int, sync: bool) -> None:
        self.trace.append({"t": self._clock.now, "kind": "store", "node": node, "ops": ops, "sync": sync})

    def _summary(self, msg: Message) -> tuple[str, tuple[str, ...]]:
        """Class name and which of ``term``/``seq``/``op``/``status`` it has (cached per
        class, because this runs for every message)."""
        have = {f.name for f in fields(msg)} if is_dataclass(msg) else set()
        entry = (type(msg).__name__, tuple(n for n in _SUMMARY_FIELDS if n in have))
        self._summaries[type(msg)] = entry
        return entry
