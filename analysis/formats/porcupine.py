"""Porcupine's test histories: Jepsen etcd logs and the key-value EDN logs.

``porcupine-etcd`` (``etcd_NNN.log``): one event per line,
``INFO  jepsen.util - <process> <type> <f> <value>``, fields separated by any run of
whitespace.  Porcupine's semantics differ from Knossos's in two places, and this adapter
maps them onto ours (``ok`` = happened with this output, ``fail`` = did not happen,
``info`` = unknown):

==========================  ===========================================================
log line                    event
==========================  ===========================================================
``:invoke :read nil``       invoke read, value None
``:ok :read V`` / ``nil``   ok, value V / None (None = key absent; the etcd model is
                            strict about it)
``:fail :read :timed-out``  **info**: the read timed out, its output is unknown, so it
                            constrains nothing.  Porcupine gives it an unknown output;
                            a ``fail`` here would wrongly claim it did not happen (a
                            read that did not happen also constrains nothing, but
                            ``info`` says what we know).
``:invoke :write V``        invoke write, value V
``:ok :write V``            ok, value V
``:fail :write V``          fail (not in the data; a definite error means "did not
                            happen")
``:info :write :timed-out`` info: unknown outcome, open to the end of the history
``:invoke :cas [A B]``      invoke cas, value [A, B]
``:ok :cas [A B]``          ok, value **True** (the swap happened)
``:fail :cas [A B]``        **ok, value False**: the CAS executed and its compare
                            failed.  That is a real operation that observed "the
                            register is not A", not a no-op (``FORMATS.md``), so it
                            must stay in the history as a completed operation.
``:info :cas :timed-out``   info: unknown outcome
==========================  ===========================================================

Lines that do not mention ``jepsen.util -`` are other log output and are skipped, as
Porcupine does; a line that does but cannot be parsed is an error, and so is a
non-blank file with no event line at all.  An empty file is an empty history (Porcupine
ships ``etcd_095.log``, from a run whose cluster never started) -- but only when the
format is named explicitly; auto-detection calls an empty file an error.

``porcupine-kv`` (``cNN-ok.txt`` / ``cNN-bad.txt``): one EDN map per line,
``{:process P, :type :invoke|:ok, :f :get|:put|:append, :key "K", :value V}``.  Each
map becomes an :class:`Event` with ``key`` the string key.  A get's invoke value is
None and its ok value is the string read; a get that returned ``nil`` reads as ``""``
(Porcupine's kv model: a missing key reads as the empty string).  put/append values
must be strings.  Any Jepsen completion type is accepted (upstream has only
invoke/ok), with our usual meaning.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from analysis.formats.edn import op_event, read_edn
from analysis.history import Event, History, HistoryError, make_event

_MARK = "jepsen.util - "
_ETCD = re.compile(
    r"^\s*INFO\s+jepsen\.util\s+-\s+(?P<p>\d+)\s+:(?P<t>[a-z]+)\s+:(?P<f>[a-z]+)"
    r"\s+(?P<v>nil|-?\d+|\[\s*-?\d+\s+-?\d+\s*\]|:[a-z-]+)\s*$"
)
_PAIR = re.compile(r"\[\s*(-?\d+)\s+(-?\d+)\s*\]")
_TIMED_OUT = ":timed-out"


def _value(raw: str) -> Any:
    if raw == "nil":
        return None
    if raw.startswith("["):
        m = _PAIR.fullmatch(raw)
        assert m is not None  # _ETCD already matched the shape
        return [int(m.group(1)), int(m.group(2))]
    if raw.startswith(":"):
        return raw  # a keyword, e.g. :timed-out; the caller decides
    return int(raw)


def _etcd_event(p: int, t: str, f: str, raw: str, line: int, source: str | None) -> Event:
    def bad(why: str) -> HistoryError:
        return HistoryError(
            f"unexpected etcd log event :{t} :{f} {raw} ({why})", source=source, line=line
        )

    v = _value(raw)
    if isinstance(v, str) and (t, raw) not in (("fail", _TIMED_OUT), ("info", _TIMED_OUT)):
        raise bad("keyword values are only :timed-out on :fail or :info")
    if f not in ("read", "write", "cas"):
        raise bad("the etcd log's operations are :read, :write and :cas")
    if t == "invoke":
        if f == "read" and v is not None:
            raise bad("a read is invoked with nil")
        if f == "write" and not isinstance(v, int):
            raise bad("a write takes an integer")
        if f == "cas" and not isinstance(v, list):
            raise bad("a cas takes [expected new]")
        return Event(process=p, type="invoke", f=f, value=v, line=line)
    if t == "info":
        return Event(
            process=p,
            type="info",
            f=f,
            value=None,
            line=line,
            extra=(("error", raw[1:]),) if isinstance(v, str) else (),
        )
    if t == "ok":
        if f == "read":
            if not (v is None or isinstance(v, int)):
                raise bad("a read returns an integer or nil")
            return Event(process=p, type="ok", f=f, value=v, line=line)
        if f == "write":
            if not isinstance(v, int):
                raise bad("a write returns its integer")
            return Event(process=p, type="ok", f=f, value=v, line=line)
        if not isinstance(v, list):
            raise bad("a cas completes with [expected new]")
        return Event(process=p, type="ok", f=f, value=True, line=line)
    if t == "fail":
        if f == "read":
            # timed out: unknown output, constrains nothing
            return Event(
                process=p, type="info", f=f, value=None, line=line, extra=(("error", "timed-out"),)
            )
        if f == "cas":
            if not isinstance(v, list):
                raise bad("a failed cas repeats [expected new]")
            # executed, compare failed: a real operation whose output is "not swapped"
            return Event(process=p, type="ok", f=f, value=False, line=line)
        if isinstance(v, str):
            return Event(
                process=p, type="info", f=f, value=None, line=line, extra=(("error", "timed-out"),)
            )
        return Event(process=p, type="fail", f=f, value=v, line=line)
    raise HistoryError(
        f"unknown event type :{t} (expected one of :invoke, :ok, :fail, :info)",
        source=source,
        line=line,
    )


def parse_etcd(text: str, source: str | None = None) -> History:
    """Read a Porcupine/Jepsen etcd log (see the module docstring for the mapping)."""
    events: list[Event] = []
    nonblank = False
    for n, ln in enumerate(text.split("\n"), 1):
        if not ln.strip():
            continue
        nonblank = True
        if _MARK not in ln:
            continue  # other log output
        m = _ETCD.match(ln)
        if m is None:
            shown = ln.strip()
            shown = shown if len(shown) <= 80 else shown[:77] + "..."
            raise HistoryError(
                f"cannot parse this etcd log line (expected 'INFO  jepsen.util - <process> "
                f"<:type> <:f> <value>'): {shown!r}",
                source=source,
                line=n,
            )
        try:
            ev = _etcd_event(int(m["p"]), m["t"], m["f"], m["v"], n, source)
        except ValueError as e:  # HistoryError passes through; int() limits do not
            if isinstance(e, HistoryError):
                raise
            raise HistoryError(f"bad number: {e}", source=source, line=n) from None
        events.append(replace(ev, index=len(events)))
    if nonblank and not events:
        raise HistoryError(
            "no 'INFO  jepsen.util - ' event lines found; is this a Porcupine etcd log?",
            source=source,
        )
    return History.from_events(events, source=source)


_KV_FS = ("get", "put", "append")


# One map per line, in the order Porcupine writes its fields, with strings that need no
# unescaping: read by one regex per line.  Any other line sends the whole file through
# the general EDN reader below, which reads every variation and names every error.
_KV_FAST = re.compile(
    r'\{:process[\s,]+(\d+)[\s,]+:type[\s,]+:(invoke|ok|fail|info)[\s,]+:f[\s,]+:(get|put|append)'
    r'[\s,]+:key[\s,]+"([^"\\]*)"[\s,]+:value[\s,]+(?:nil|"([^"\\]*)")[\s,]*\}'
)


def _parse_kv_fast(text: str, source: str | None) -> History | None:
    events: list[Event] = []
    append = events.append
    match = _KV_FAST.fullmatch
    for n, ln in enumerate(text.split("\n"), 1):
        s = ln.strip()
        if not s:
            continue
        m = match(s)
        if m is None:
            return None
        p, t, f, key, v = m.groups()
        if f == "get":
            v = None if t == "invoke" else ("" if v is None else v)
        elif v is None and (t == "invoke" or t == "ok"):
            return None  # a put/append without a string: the general reader reports it
        append(make_event(int(p), t, f, v, key, None, len(events), n, ()))
    if not events:
        return None
    return History.from_events(events, source=source)


def parse_kv(text: str, source: str | None = None) -> History:
    """Read a Porcupine key-value log (see the module docstring for the mapping)."""
    fast = _parse_kv_fast(text, source)
    if fast is not None:
        return fast
    events: list[Event] = []
    for form in read_edn(text, source):
        ev = op_event(form.value, form.line, source, index=len(events))
        if ev.f not in _KV_FS:
            raise HistoryError(
                f"unknown kv operation {ev.f!r} (expected get, put or append)",
                source=source,
                line=ev.line,
            )
        if ev.key is None:
            raise HistoryError("kv operation has no :key", source=source, line=ev.line)
        if not isinstance(ev.process, int):
            raise HistoryError(
                f":process must be an integer, got {ev.process!r}", source=source, line=ev.line
            )
        v = ev.value
        if ev.f == "get":
            if ev.type == "invoke":
                v = None
            elif ev.type == "ok":
                if v is None:
                    v = ""
                elif not isinstance(v, str):
                    raise HistoryError(
                        f"a get returns a string, got {v!r}", source=source, line=ev.line
                    )
        elif ev.type in ("invoke", "ok") and not isinstance(v, str):
            raise HistoryError(
                f"{ev.f} takes a string value, got {v!r}", source=source, line=ev.line
            )
        if v is not ev.value:
            ev = Event(
                process=ev.process,
                type=ev.type,
                f=ev.f,
                value=v,
                key=ev.key,
                index=ev.index,
                line=ev.line,
                extra=ev.extra,
            )
        events.append(ev)
    if not events and text.strip():
        raise HistoryError("no kv operations found", source=source)
    return History.from_events(events, source=source)
