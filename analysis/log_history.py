"""Send/poll histories of a Kafka-like log, decoded for the consumer-side log checker.

A log history records what producers and consumers *saw*: each ``send`` acknowledged at an
offset, each ``poll`` returning ``(offset, value)`` records per partition, and the
assignment changes (``assign``, ``subscribe``, rebalances, crashes) between them.  This
module turns a validated :class:`~analysis.history.History` (native JSON lines or Jepsen's
kafka EDN) into :class:`LogOp` records, one per client operation, so that the checker in
:mod:`analysis.log_consumer` never has to know which tool wrote the file.

Two spellings of a value are accepted, and can be mixed in one file:

* Jepsen's micro-operations, for ``send``, ``poll`` and ``txn``::

      invoke  [["send", 5, 12]]              ok  [["send", 5, [3, 12]]]   (offset 3)
      invoke  [["poll"]]                     ok  [["poll", {"5": [[2, 11], [3, 12]]}]]

* splitbrain's shorthand for one send or one poll::

      send  invoke [5, 12]   -> ok [5, [3, 12]]
      poll  invoke null      -> ok {"5": [[2, 11], [3, 12]]}

A send's value is literal unless it is a list, which is read as ``[offset, value]`` (as
Jepsen's ``op-writes`` does), so a message value must not itself be a list.  Partition
keys are compared as strings: JSON object keys are strings, and ``5`` and ``"5"`` name the
same partition.  Message values are compared as they are written (lists frozen to tuples).

Other operations: ``assign`` / ``subscribe`` (value: the keys; ``group``,
``seek_to_beginning``, ``auto_commit``, ``offset_reset`` as extra fields), ``commit``
(value ``{key: next offset}``), ``crash`` (the client is discarded); anything else (such as
Jepsen's ``debug-topic-partitions``) is kept as ``other`` and ignored.  A completion may
carry a rebalance log (``rebalance_log`` or Jepsen's ``rebalance-log``): a list of
``{"type": "revoked"|"assigned"|..., "keys": [...]}`` for the rebalances that happened
during that operation (Kafka runs rebalance listeners inside ``poll``).

Jepsen EDN: read here with the tokenizer of :mod:`analysis.formats.edn` (not its
``parse``), so that ``:time`` survives where it never goes backwards: the checker quotes
times and matches them against a trace's fault windows.  ``docs/history-format.md``
("Log histories") is the full description.
"""

from __future__ import annotations

import gc
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from analysis.formats import canonical_format, parse_text
from analysis.formats.detect import decode as decode_text
from analysis.formats.detect import detect_text, read_bytes
from analysis.formats.edn import Keyword, op_event, read_edn
from analysis.history import NEMESIS, Event, History, HistoryError

#: The operation names the checker understands; every other ``f`` becomes ``other``.
KNOWN_F = frozenset({"send", "poll", "txn", "assign", "subscribe", "commit", "crash"})
_TIME = Keyword("time")


@dataclass(frozen=True, slots=True)
class Record:
    """One message as a client saw it: ``key`` (partition), ``offset`` (None when the
    client did not learn it, e.g. a timed-out send) and ``value``."""

    key: str
    offset: int | None
    value: Hashable


@dataclass(frozen=True, slots=True)
class Rebalance:
    """One entry of a rebalance log: ``kind`` (``revoked``, ``assigned``, ``lost`` ...)
    and the partition keys it moved."""

    kind: str
    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LogOp:
    """One client operation of a log history, decoded.

    ``status`` is ``ok``, ``info`` (unknown outcome, or never completed) or ``fail``.
    ``sends`` are in micro-op order; ``reads`` are the polled records per key, each key's
    records in the order the client received them (across all poll micro-ops, as Jepsen's
    ``op-reads``).  ``invoke_pos`` / ``complete_pos`` are event positions in the file
    (``complete_pos`` None when it never completed); ``time_ns`` / ``ret_time_ns`` are
    the event times when the file has them.
    """

    id: int
    process: int | str
    f: str
    status: str
    sends: tuple[Record, ...] = ()
    reads: tuple[tuple[str, tuple[Record, ...]], ...] = ()
    keys: tuple[str, ...] = ()
    commits: tuple[tuple[str, int], ...] = ()
    group: str | None = None
    seek_to_beginning: bool = False
    auto_commit: bool = True
    offset_reset: str | None = None
    rebalances: tuple[Rebalance, ...] = ()
    error: Any = None
    invoke_pos: int = 0
    complete_pos: int | None = None
    time_ns: int | None = None
    ret_time_ns: int | None = None
    line: int | None = None
    ret_line: int | None = None

    def label(self) -> str:
        """``op 17 (process 4, line 35)``: how explanations name an operation."""
        where = f", line {self.line}" if self.line is not None else ""
        return f"op {self.id} (process {self.process}{where})"

    def rebalanced_keys(self) -> frozenset[str]:
        return frozenset(k for r in self.rebalances for k in r.keys)


@dataclass(frozen=True)
class LogHistory:
    """Decoded operations, the nemesis events (for fault windows) and what the source
    promises: ``rebalances_recorded`` says every rebalance a subscribed consumer went
    through is in some rebalance log (true for the native format by definition; for EDN,
    true when any operation carries one, since Jepsen only records them in txn mode)."""

    ops: tuple[LogOp, ...]
    nemesis: tuple[Event, ...] = ()
    source: str | None = None
    rebalances_recorded: bool = True


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a history is decoded and checked.

    Both build hundreds of thousands of small acyclic objects; the collector would rescan
    them again and again (about 40% of the time at 100k operations) and has nothing to
    free.  Reference counting still frees everything as usual."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


# --------------------------------------------------------------------------- values
def freeze(v: Any) -> Hashable:
    """A hashable form of a message value: lists become tuples, objects sorted tuples."""
    t = type(v)
    if t is int or t is str:
        return v  # type: ignore[no-any-return]
    if isinstance(v, list | tuple):
        return tuple(freeze(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted(((str(k), freeze(x)) for k, x in v.items()), key=lambda kv: kv[0]))
    return v  # type: ignore[no-any-return]


def plain(v: Any) -> Any:
    """A frozen value back as JSON-able data (tuples as lists)."""
    if isinstance(v, tuple):
        return [plain(x) for x in v]
    return v


def show(v: Any) -> str:
    """A short rendering of a value or key for explanations."""
    if isinstance(v, tuple):
        return "[" + " ".join(show(x) for x in v) + "]"
    if v is None:
        return "nil"
    s = str(v)
    return s if len(s) <= 40 else s[:37] + "..."


def key_of(k: Any, bad: Any) -> str:
    """Partition keys are compared as strings (JSON object keys always are)."""
    if isinstance(k, bool) or not isinstance(k, int | str):
        raise bad(f"a partition key must be an integer or a string, got {show(freeze(k))}")
    return str(k)


def _offset(o: Any, bad: Any) -> int | None:
    if o is None:
        return None
    if isinstance(o, bool) or not isinstance(o, int):
        raise bad(f"an offset must be an integer or null, got {show(freeze(o))}")
    return o


# --------------------------------------------------------------------------- micro-ops
class _Decoded:
    __slots__ = ("sends", "reads")

    def __init__(self) -> None:
        self.sends: list[Record] = []
        self.reads: dict[str, list[Record]] = {}


def _send(out: _Decoded, k: Any, v: Any, bad: Any) -> None:
    key = key_of(k, bad)
    if isinstance(v, list | tuple):
        if len(v) != 2:
            raise bad(f"a sent [offset, value] pair must have 2 elements, got {len(v)}")
        out.sends.append(Record(key, _offset(v[0], bad), freeze(v[1])))
    else:
        out.sends.append(Record(key, None, freeze(v)))


def _poll(out: _Decoded, result: Any, bad: Any) -> None:
    if result is None:
        return
    if not isinstance(result, dict):
        raise bad("a poll result must be a map of key -> [[offset, value], ...]")
    for k, pairs in result.items():
        key = key_of(k, bad)
        if not isinstance(pairs, list):
            raise bad(f"the poll result for key {key} must be a list of [offset, value] pairs")
        recs = out.reads.setdefault(key, [])
        for pair in pairs:
            if not isinstance(pair, list) or len(pair) != 2:
                raise bad(f"the poll result for key {key} holds {show(freeze(pair))}, not an [offset, value] pair")
            recs.append(Record(key, _offset(pair[0], bad), freeze(pair[1])))


def _micro_ops(f: str, value: Any, bad: Any) -> _Decoded:
    out = _Decoded()
    if value is None:
        return out
    if f == "poll" and isinstance(value, dict):
        _poll(out, value, bad)
        return out
    if not isinstance(value, list):
        raise bad(f"a {f} value must be a list of micro-ops such as [\"{f if f != 'txn' else 'send'}\", ...]")
    if f == "send" and len(value) == 2 and not isinstance(value[0], list):
        _send(out, value[0], value[1], bad)
        return out
    for mop in value:
        if not isinstance(mop, list) or not mop or mop[0] not in ("send", "poll"):
            raise bad(f"expected a micro-op [\"send\", key, value] or [\"poll\", ...], got {show(freeze(mop))}")
        if mop[0] == "send":
            if len(mop) != 3:
                raise bad(f"a send micro-op is [\"send\", key, value], got {show(freeze(mop))}")
            _send(out, mop[1], mop[2], bad)
        else:
            if len(mop) > 2:
                raise bad(f"a poll micro-op is [\"poll\"] or [\"poll\", {{key: pairs}}], got {show(freeze(mop))}")
            _poll(out, mop[1] if len(mop) == 2 else None, bad)
    return out


def _rebalances(raw: Any, bad: Any) -> tuple[Rebalance, ...]:
    if raw is None:
        return ()
    if isinstance(raw, dict) and set(raw) <= {"before", "during"}:
        raw = [*(raw.get("before") or []), *(raw.get("during") or [])]
    if not isinstance(raw, list):
        raise bad("a rebalance log must be a list of {\"type\": ..., \"keys\": [...]}")
    out = []
    for entry in raw:
        if not isinstance(entry, dict) or not isinstance(entry.get("keys"), list):
            raise bad(f"a rebalance log entry needs a list of keys, got {show(freeze(entry))}")
        out.append(Rebalance(str(entry.get("type", "rebalance")), tuple(key_of(k, bad) for k in entry["keys"])))
    return tuple(out)


# --------------------------------------------------------------------------- decoding
def decode(history: History, *, rebalances_recorded: bool | None = None) -> LogHistory:
    """Pair ``history``'s events into :class:`LogOp` records.

    Pairing is redone here (rather than read from ``history.operations``) because an
    ``info`` completion still carries what the client had seen before it gave up (Jepsen
    fills a transaction's micro-ops as they complete), and that is evidence.  Raises
    :class:`HistoryError` naming the line for a value of the wrong shape.
    """
    source = history.source
    open_: dict[int | str, int] = {}
    pairs: list[tuple[Event, Event | None]] = []
    for ev in history.events:
        if ev.type == "invoke":
            open_[ev.process] = len(pairs)
            pairs.append((ev, None))
        else:
            slot = open_.pop(ev.process)
            pairs[slot] = (pairs[slot][0], ev)
    ops = [_op(op_id, inv, comp, source) for op_id, (inv, comp) in enumerate(pairs)]
    recorded = rebalances_recorded
    if recorded is None:
        recorded = any(op.rebalances for op in ops)
    nemesis = tuple(ev for ev in history.nemesis if ev.process == NEMESIS)
    return LogHistory(tuple(ops), nemesis, source, recorded)


def _op(op_id: int, inv: Event, comp: Event | None, source: str | None) -> LogOp:
    line = comp.line if comp is not None and comp.line is not None else inv.line

    def bad(msg: str) -> HistoryError:
        return HistoryError(f"{inv.f}: {msg}", source=source, line=line)

    ie = dict(inv.extra) if inv.extra else {}
    ce = dict(comp.extra) if comp is not None and comp.extra else {}
    raw_log = ce.get("rebalance_log", ce.get("rebalance-log"))
    status = "info" if comp is None or comp.type == "info" else comp.type
    f = inv.f if inv.f in KNOWN_F else "other"
    sends: tuple[Record, ...] = ()
    reads: tuple[tuple[str, tuple[Record, ...]], ...] = ()
    keys: tuple[str, ...] = ()
    commits: tuple[tuple[str, int], ...] = ()
    group = seek = reset = None
    auto = True
    if f in ("send", "poll", "txn"):
        # The completion's value is what the client saw; an info or fail with no value
        # (or a never-completed op) falls back to the invocation: the sends it attempted.
        value = comp.value if comp is not None and comp.value is not None else inv.value
        d = _micro_ops(inv.f, value, bad)
        sends = tuple(d.sends)
        reads = tuple((k, tuple(rs)) for k, rs in d.reads.items())
    elif f in ("assign", "subscribe"):
        raw_keys = inv.value if inv.value is not None else []
        if not isinstance(raw_keys, list):
            raise bad("the value must be a list of partition keys")
        keys = tuple(key_of(k, bad) for k in raw_keys)
        group = ie.get("group", ce.get("group"))
        seek = bool(ie.get("seek_to_beginning", ie.get("seek-to-beginning?")))
        auto = bool(ie.get("auto_commit", True))
        reset = ie.get("offset_reset")
        if reset is not None and reset not in ("earliest", "latest"):
            raise bad(f"offset_reset must be \"earliest\" or \"latest\", got {show(freeze(reset))}")
    elif f == "commit":
        value = comp.value if comp is not None and comp.value is not None else inv.value
        if not isinstance(value, dict):
            raise bad("a commit value must be a map of key -> next offset to read")
        out = []
        for k, o in value.items():
            off = _offset(o, bad)
            if off is None:
                raise bad(f"the committed offset for key {k} must be an integer")
            out.append((key_of(k, bad), off))
        commits = tuple(out)
    return LogOp(
        id=op_id,
        process=inv.process,
        f=f,
        status=status,
        sends=sends,
        reads=reads,
        keys=keys,
        commits=commits,
        group=None if group is None else str(group),
        seek_to_beginning=bool(seek),
        auto_commit=auto,
        offset_reset=reset,
        rebalances=_rebalances(raw_log, bad) if raw_log is not None else (),
        error=ce.get("error"),
        invoke_pos=inv.index,
        complete_pos=comp.index if comp is not None else None,
        time_ns=inv.time,
        ret_time_ns=comp.time if comp is not None else None,
        line=inv.line,
        ret_line=comp.line if comp is not None else None,
    )


# --------------------------------------------------------------------------- reading
LOG_FORMATS = ("jsonl", "edn")


def parse_kafka_edn(text: str, source: str | None = None) -> History:
    """A Jepsen kafka history (EDN) as a :class:`History`, keeping ``:time`` when it never
    goes backwards (the generic EDN reader drops it, because Knossos files have it going
    backwards).  Same shapes as :func:`analysis.formats.edn.parse`: one vector or list of
    operation maps, or a bare sequence of maps."""
    forms = read_edn(text, source)
    if not forms:
        raise HistoryError("no EDN history found (only comments or whitespace)", source=source)
    if len(forms) == 1 and isinstance(forms[0].value, list):
        maps = forms[0].value
        lines = forms[0].item_lines or [forms[0].line] * len(maps)
    elif all(isinstance(fm.value, dict) for fm in forms):
        maps = [fm.value for fm in forms]
        lines = [fm.line for fm in forms]
    else:
        bad = next(fm for fm in forms if not isinstance(fm.value, dict))
        raise HistoryError(
            "expected one vector or list of operation maps, or a sequence of maps",
            source=source,
            line=bad.line,
        )
    events = [op_event(m, ln, source, index=i) for i, (m, ln) in enumerate(zip(maps, lines, strict=True))]
    times = [m.get(_TIME) for m in maps]
    if times and all(isinstance(t, int) and not isinstance(t, bool) for t in times) and all(
        a <= b for a, b in zip(times, times[1:], strict=False)
    ):
        events = [replace(ev, time=t) for ev, t in zip(events, times, strict=True)]
    return History.from_events(events, source=source, orphan_info="ignore")


def parse_log_text(text: str, format: str = "auto", source: str | None = None) -> LogHistory:
    """Decode a log history held in memory (``jsonl``, ``edn`` or ``auto``)."""
    with gc_paused():
        return _parse_log_text(text, format, source)


def _parse_log_text(text: str, format: str, source: str | None) -> LogHistory:
    name = canonical_format(format)
    if name == "auto":
        if not text.strip():
            raise HistoryError("the file is empty (no events)", source=source)
        name = detect_text(text, source)
    if name not in LOG_FORMATS:
        raise HistoryError(
            f"the kafka checker reads jsonl or edn histories, not {name}", source=source
        )
    if name == "edn":
        if not text.strip():
            raise HistoryError("the file is empty (no events)", source=source)
        try:
            history = parse_kafka_edn(text, source)
        except RecursionError:
            raise HistoryError("input nested too deeply", source=source) from None
        return decode(history)
    return decode(parse_text(text, "jsonl", source), rebalances_recorded=True)


def read_log_history(path: str | Path, format: str = "auto") -> LogHistory:
    """Read and decode a log history file; every problem is a :class:`HistoryError`."""
    p = Path(path)
    canonical_format(format)
    return parse_log_text(decode_text(read_bytes(p), str(p)), format, str(p))
