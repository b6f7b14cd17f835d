"""splitbrain's native history format: JSON lines.  Reader and byte-stable writer.

One JSON object per line (blank lines allowed)::

    {"f":"write","key":"x","process":0,"time":1234,"type":"invoke","value":3}

* ``process`` -- int or string; ``"nemesis"`` marks fault events (kept apart, never
  operations).  Booleans are refused (JSON ``true`` is not a process id).
* ``type`` -- ``invoke``, ``ok`` (happened; ``value`` is its output), ``fail``
  (definitely did not happen) or ``info`` (unknown: may have happened any time after its
  invocation, or never).
* ``f`` -- the operation name, a string.
* ``value`` -- optional, any JSON; absent means null.
* ``key`` -- optional string, for keyed (kv) workloads; absent means no key.
* ``time`` -- optional integer, monotonic nanoseconds; must never go backwards.
* Any other field is passed through into :attr:`Event.extra` (sorted by name).

The file is strict because it is ours: duplicate fields, ``NaN``/``Infinity``, a line
that is not an object, and an ``info`` with no open invocation are all errors that name
the line.  ``docs/history-format.md`` is the full description.

The writer sorts keys and uses compact separators so that the same history always gives
the same bytes (diffable, hashable run folders).  Fields that are null/absent are left
out.
"""

from __future__ import annotations

import io
import json
import json.scanner
import reprlib
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from analysis.history import EVENT_TYPES, NEMESIS, Event, History, HistoryError, make_event

RESERVED = ("process", "type", "f", "value", "key", "time")


class _LineError(ValueError):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _LineError(f"duplicate field {k!r}")
        out[k] = v
    return out


def _constant(name: str) -> Any:
    raise _LineError(f"{name} is not allowed (JSON has no such number)")


_DECODER = json.JSONDecoder(object_pairs_hook=_pairs, parse_constant=_constant)
# The C scanner behind json.loads, called once per line; parse_constant makes NaN an error.
_SCAN: Any = json.scanner.make_scanner(json.JSONDecoder(parse_constant=_constant))  # type: ignore[arg-type]
_TYPES = frozenset(EVENT_TYPES)


_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxstring = 40
_REPR.maxother = 40


def _short(v: Any) -> str:
    """A bounded rendering of a JSON value for an error message (never recurses deep)."""
    if v is None or isinstance(v, bool):
        return json.dumps(v)
    return _REPR.repr(v)


def _event(obj: Any, line: int, source: str | None, index: int) -> Event:
    """One decoded line as an :class:`Event`.  The common, well-formed case costs a few
    type tests; anything else goes to :func:`_checked_event`, which names the problem."""
    if type(obj) is dict:
        p: Any = obj.get("process")
        t = obj.get("type")
        f = obj.get("f")
        tp = type(p)
        if (tp is int or tp is str) and type(t) is str and t in _TYPES and type(f) is str:
            key = obj.get("key")
            tm = obj.get("time")
            if (key is None or type(key) is str) and (tm is None or type(tm) is int):
                size = len(obj)
                extra: tuple[tuple[str, Any], ...] = ()
                if size > 3 and size > 3 + ("value" in obj) + ("key" in obj) + ("time" in obj):
                    extra = tuple(sorted(((k, v) for k, v in obj.items() if k not in RESERVED), key=_first))
                return make_event(p, t, f, obj.get("value"), key, tm, index, line, extra)
    return _checked_event(obj, line, source, index)


def _checked_event(obj: Any, line: int, source: str | None, index: int) -> Event:
    def bad(msg: str) -> HistoryError:
        return HistoryError(msg, source=source, line=line)

    if not isinstance(obj, dict):
        raise bad(f"expected a JSON object, got {type(obj).__name__}: {_short(obj)}")
    for required in ("process", "type", "f"):
        if required not in obj:
            raise bad(f"missing field {required!r}")
    p = obj["process"]
    if isinstance(p, bool) or not isinstance(p, int | str):
        raise bad(f"'process' must be an integer or a string, got {_short(p)}")
    t = obj["type"]
    if not isinstance(t, str):
        raise bad(f"'type' must be a string, got {_short(t)}")
    if t not in EVENT_TYPES:
        raise bad(f"unknown event type {t!r} (expected one of invoke, ok, fail, info)")
    f = obj["f"]
    if not isinstance(f, str):
        raise bad(f"'f' must be a string, got {_short(f)}")
    key = obj.get("key")
    if key is not None and not isinstance(key, str):
        raise bad(f"'key' must be a string, got {_short(key)}")
    tm = obj.get("time")
    if tm is not None and (isinstance(tm, bool) or not isinstance(tm, int)):
        raise bad(f"'time' must be an integer (nanoseconds), got {_short(tm)}")
    extra = tuple(sorted(((k, v) for k, v in obj.items() if k not in RESERVED), key=_first))
    return Event(
        process=p,
        type=t,
        f=f,
        value=obj.get("value"),
        key=key,
        time=tm,
        index=index,
        line=line,
        extra=extra,
    )


def _first(kv: tuple[str, Any]) -> str:
    return kv[0]


def _strict(s: str, n: int, source: str | None) -> Any:
    """Decode one line with every check (duplicate fields, NaN); errors name the line."""
    try:
        return _DECODER.decode(s)
    except _LineError as e:
        raise HistoryError(str(e), source=source, line=n) from None
    except json.JSONDecodeError as e:
        raise HistoryError(f"not valid JSON: {e.msg} (column {e.colno})", source=source, line=n) from None
    except RecursionError:
        raise HistoryError("JSON nested too deeply", source=source, line=n) from None
    except ValueError as e:  # e.g. an integer with more digits than Python converts
        raise HistoryError(f"not valid JSON: {e}", source=source, line=n) from None


def parse_events(text: str, source: str | None = None) -> list[Event]:
    """The events of a JSON-lines text; every problem is a :class:`HistoryError` with its line.

    Each line goes once through the C JSON scanner, which builds a plain dict.  The one
    check that scanner cannot make, duplicate fields, is settled by counting colons: every
    field name is followed by its own colon, so a line with as many colons as its dict
    has fields has no field twice.  Any other line (a duplicate, a nested object, a colon
    inside a string, a syntax error, NaN) is decoded again by the strict decoder, which
    reports the exact problem or accepts the line.
    """
    events: list[Event] = []
    append = events.append
    scan = _SCAN
    types = _TYPES
    for n, ln in enumerate(text.split("\n"), 1):
        s = ln.strip()
        if not s:
            continue
        try:
            obj, end = scan(s, 0)
        except (StopIteration, ValueError, RecursionError):
            obj, end = None, -1
        if end != len(s) or type(obj) is not dict or s.count(":") != len(obj):
            obj = _strict(s, n, source)
            if type(obj) is not dict:
                _event(obj, n, source, len(events))  # raises: names what the line holds
        # the common, well-formed event inline; anything else through _event's checks
        p = obj.get("process")
        t = obj.get("type")
        f = obj.get("f")
        key = obj.get("key")
        tm = obj.get("time")
        tp = type(p)
        size = len(obj)
        if (
            (tp is int or tp is str)
            and type(t) is str
            and t in types
            and type(f) is str
            and (key is None or type(key) is str)
            and (tm is None or type(tm) is int)
            and size <= 3 + ("value" in obj) + (key is not None or "key" in obj) + (tm is not None or "time" in obj)
        ):
            append(make_event(p, t, f, obj.get("value"), key, tm, len(events), n, ()))
        else:
            append(_event(obj, n, source, len(events)))
    return events


def parse(text: str, source: str | None = None) -> History:
    """Read a JSON-lines history; every problem is a :class:`HistoryError` with its line."""
    return History.from_events(parse_events(text, source), source=source)


def _ordered(history_or_events: History | Iterable[Event]) -> list[Event]:
    """All events to write, in history order.

    For a :class:`History` that is its paired events plus its nemesis events, merged by
    position.  An orphan ``info`` from a client process (which Knossos ignores and
    ``History`` files with the nemesis events) is left out: the native format does not
    allow one, so writing it would give a file we refuse to read back.
    """
    if not isinstance(history_or_events, History):
        return list(history_or_events)
    h = history_or_events
    fault = [ev for ev in h.nemesis if ev.process == NEMESIS]
    return sorted([*h.events, *fault], key=lambda ev: ev.index)


def _record(ev: Event) -> dict[str, Any]:
    rec: dict[str, Any] = {"process": ev.process, "type": ev.type, "f": ev.f}
    if ev.value is not None:
        rec["value"] = ev.value
    if ev.key is not None:
        rec["key"] = ev.key
    if ev.time is not None:
        rec["time"] = ev.time
    for k, v in ev.extra:
        if k in rec or k in RESERVED:
            raise ValueError(f"event extra field {k!r} clashes with a reserved field")
        rec[k] = v
    return rec


def dumps_event(ev: Event) -> str:
    """One event as its canonical JSON line (no newline)."""
    return json.dumps(
        _record(ev), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def write_jsonl(
    history_or_events: History | Iterable[Event], path_or_fileobj: str | Path | IO[Any]
) -> None:
    """Write events as canonical JSON lines to a path (UTF-8) or an open file.

    Raises ``ValueError``/``TypeError`` for values JSON cannot hold (NaN,
    :data:`~analysis.history.UNKNOWN`, sets ...), before anything is written.
    """
    data = "".join(dumps_event(ev) + "\n" for ev in _ordered(history_or_events))
    if isinstance(path_or_fileobj, str | Path):
        Path(path_or_fileobj).write_text(data, encoding="utf-8", newline="\n")
    elif isinstance(path_or_fileobj, io.RawIOBase | io.BufferedIOBase) or "b" in str(
        getattr(path_or_fileobj, "mode", "")
    ):
        path_or_fileobj.write(data.encode("utf-8"))
    else:
        path_or_fileobj.write(data)
