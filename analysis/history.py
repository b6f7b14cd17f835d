"""Histories: what clients invoked, what came back, and when.

A history is a sequence of :class:`Event` records.  Each client operation is an
``invoke`` followed by exactly one completion from the same process:

* ``ok``   -- it took effect, and the completion's value is its output;
* ``fail`` -- it *definitely* did not take effect (a definite error);
* ``info`` -- its outcome is unknown: it may have taken effect at any point after its
              invocation, or never.  An invocation never completed is treated the same.

This is Jepsen's model, and getting it right is what keeps verdicts honest: a timeout
must never be recorded as ``fail``, because "did not happen" is a claim the client cannot
make.  :class:`History` pairs invocations with completions and validates the sequence,
naming the offending line for every problem so a user can fix their file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

EventType = Literal["invoke", "ok", "fail", "info"]
EVENT_TYPES: tuple[str, ...] = ("invoke", "ok", "fail", "info")
COMPLETION_TYPES = frozenset({"ok", "fail", "info"})
_TYPES = frozenset(EVENT_TYPES)
NEMESIS = "nemesis"


class _Unknown:
    """The output of an operation whose outcome is unknown (``info`` or never completed)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __reduce__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()


class HistoryError(ValueError):
    """A history that cannot be read or does not make sense.  Names the place."""

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None):
        self.message = message
        self.source = source
        self.line = line
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ""
        if self.source is not None and self.line is not None:
            where = f"{self.source}:{self.line}: "
        elif self.source is not None:
            where = f"{self.source}: "
        elif self.line is not None:
            where = f"line {self.line}: "
        return f"{where}{self.message}"


@dataclass(frozen=True, slots=True)
class Event:
    """One record of a history file.

    ``process`` is an int or str client id (``"nemesis"`` for fault events).
    ``time`` is a monotonic timestamp in nanoseconds when known; ``line`` is the source
    line (1-based) for error messages; ``index`` the event's position in the history.
    ``key`` is set for keyed workloads (kv); ``extra`` keeps fields we pass through.
    """

    process: int | str
    type: str
    f: str
    value: Any = None
    key: str | None = None
    time: int | None = None
    index: int = 0
    line: int | None = None
    extra: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class Operation:
    """A paired client operation.

    ``call`` and ``ret`` are positions in the event order (``ret`` is None when the
    outcome is unknown: the operation may take effect at any time after ``call``).
    ``value`` is the invocation's value (the input); ``output`` is the completion's
    value for ``ok``, and :data:`UNKNOWN` for ``info``/open operations.
    """

    id: int
    process: int | str
    f: str
    key: str | None
    value: Any
    output: Any
    status: Literal["ok", "fail", "info"]
    call: int
    ret: int | None
    call_time: int | None = None
    ret_time: int | None = None
    call_line: int | None = None
    ret_line: int | None = None

    @property
    def definite(self) -> bool:
        """True when the outcome is known (ok or fail)."""
        return self.status != "info"

    def label(self) -> str:
        """A short human label, e.g. ``op 17 (process 4)``."""
        return f"op {self.id} (process {self.process})"


def _setters(cls: type, names: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(getattr(cls, n).__set__ for n in names)


_new = object.__new__
(_ev_process, _ev_type, _ev_f, _ev_value, _ev_key, _ev_time, _ev_index, _ev_line, _ev_extra) = _setters(
    Event, ("process", "type", "f", "value", "key", "time", "index", "line", "extra")
)


def make_event(
    process: int | str,
    type: str,
    f: str,
    value: Any,
    key: str | None,
    time: int | None,
    index: int,
    line: int | None,
    extra: tuple[tuple[str, Any], ...],
) -> Event:
    """``Event(...)`` for readers of large files: the same frozen object, built through
    its slots directly instead of the dataclass ``__init__``'s nine ``object.__setattr__``
    calls (40% less time per event, and a history has hundreds of thousands)."""
    ev = _new(Event)
    _ev_process(ev, process)
    _ev_type(ev, type)
    _ev_f(ev, f)
    _ev_value(ev, value)
    _ev_key(ev, key)
    _ev_time(ev, time)
    _ev_index(ev, index)
    _ev_line(ev, line)
    _ev_extra(ev, extra)
    return ev


(_op_id, _op_process, _op_f, _op_key, _op_value, _op_output, _op_status, _op_call, _op_ret, _op_call_time,
 _op_ret_time, _op_call_line, _op_ret_line) = _setters(
    Operation, ("id", "process", "f", "key", "value", "output", "status", "call", "ret", "call_time", "ret_time",
                "call_line", "ret_line"),
)  # fmt: skip


def _make_operation(inv: Event, op_id: int, output: Any, status: str, comp: Event | None) -> Operation:
    """The :class:`Operation` of ``inv`` and its completion ``comp``, built through its slots."""
    op = _new(Operation)
    _op_id(op, op_id)
    _op_process(op, inv.process)
    _op_f(op, inv.f)
    _op_key(op, inv.key)
    _op_value(op, inv.value)
    _op_output(op, output)
    _op_status(op, status)
    _op_call(op, inv.index)
    _op_call_time(op, inv.time)
    _op_call_line(op, inv.line)
    if comp is None:
        _op_ret(op, None)
        _op_ret_time(op, None)
        _op_ret_line(op, None)
    else:
        _op_ret(op, None if status == "info" else comp.index)
        _op_ret_time(op, comp.time)
        _op_ret_line(op, comp.line)
    return op


@dataclass(frozen=True)
class History:
    """A validated, paired history."""

    events: tuple[Event, ...]
    operations: tuple[Operation, ...]
    nemesis: tuple[Event, ...] = field(default=())
    source: str | None = None

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_events(
        cls,
        events: Iterable[Event],
        *,
        source: str | None = None,
        orphan_info: Literal["ignore", "error"] = "error",
    ) -> History:
        """Pair and validate events.  Raises :class:`HistoryError` naming the line.

        ``orphan_info="ignore"`` follows Knossos: an ``info`` with no open invocation
        (a nemesis note, say) is dropped.  Events from process ``"nemesis"`` are always
        kept apart as fault events, never as operations.
        """
        evs = events if isinstance(events, list) else list(events)
        open_: dict[int | str, tuple[int, Event]] = {}
        ops: list[Operation | None] = []
        nemesis: list[Event] = []
        kept: list[Event] = []
        last_time: int | None = None
        last_time_line: int | None = None
        types = _TYPES
        for pos, ev in enumerate(evs):
            if ev.index != pos:
                ev = replace(ev, index=pos)
            t = ev.type
            if t not in types:
                raise HistoryError(
                    f"unknown event type {t!r} (expected one of invoke, ok, fail, info)",
                    source=source,
                    line=ev.line if ev.line is not None else pos + 1,
                )
            tm = ev.time
            if tm is not None:
                if last_time is not None and tm < last_time:
                    raise HistoryError(
                        f"time goes backwards: {tm} after {last_time} (line {last_time_line})",
                        source=source,
                        line=ev.line if ev.line is not None else pos + 1,
                    )
                last_time, last_time_line = tm, (ev.line if ev.line is not None else pos + 1)
            p = ev.process
            if p == NEMESIS:
                nemesis.append(ev)
                continue
            if t == "invoke":
                if p in open_:
                    prev = open_[p][1]
                    prev_line = prev.line if prev.line is not None else "?"
                    raise HistoryError(
                        f"process {p} invokes {ev.f!r} while its {prev.f!r} "
                        f"from line {prev_line} is still open (one operation at a time per "
                        "process; a crashed process must not invoke again)",
                        source=source,
                        line=ev.line if ev.line is not None else pos + 1,
                    )
                open_[p] = (len(ops), ev)
                ops.append(None)
                kept.append(ev)
                continue
            # a completion
            opened = open_.pop(p, None)
            if opened is None:
                if t == "info" and orphan_info == "ignore":
                    nemesis.append(ev)
                    continue
                raise HistoryError(
                    f"{t} completion of {ev.f!r} by process {p} has no open invocation",
                    source=source,
                    line=ev.line if ev.line is not None else pos + 1,
                )
            slot, inv = opened
            if inv.f != ev.f:
                raise HistoryError(
                    f"completion {ev.f!r} does not match the open invocation {inv.f!r} "
                    f"of process {p} (line {inv.line})",
                    source=source,
                    line=ev.line if ev.line is not None else pos + 1,
                )
            if inv.key != ev.key and ev.key is not None:
                raise HistoryError(
                    f"completion key {ev.key!r} does not match the invocation key {inv.key!r}",
                    source=source,
                    line=ev.line if ev.line is not None else pos + 1,
                )
            kept.append(ev)
            ops[slot] = _pair(slot, inv, ev)
        for slot, inv in open_.values():
            ops[slot] = _pair(slot, inv, None)
        final = tuple(op for op in ops if op is not None)
        return cls(tuple(kept), final, tuple(nemesis), source)

    # ----------------------------------------------------------------- views
    def definite(self) -> tuple[Operation, ...]:
        return tuple(op for op in self.operations if op.status == "ok")

    def counts(self) -> dict[str, int]:
        c = {"ok": 0, "fail": 0, "info": 0}
        for op in self.operations:
            c[op.status] += 1
        return c

    def __len__(self) -> int:
        return len(self.operations)


def _pair(op_id: int, inv: Event, comp: Event | None) -> Operation:
    if comp is None:
        return _make_operation(inv, op_id, UNKNOWN, "info", None)
    t = comp.type
    if t == "info":
        return _make_operation(inv, op_id, UNKNOWN, "info", comp)
    return _make_operation(inv, op_id, comp.value, "ok" if t == "ok" else "fail", comp)
