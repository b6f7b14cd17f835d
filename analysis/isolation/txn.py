"""Transactions: what a transactional history says, checked and ready to infer from.

A transaction is one operation with ``f = "txn"`` whose value is a list of *micro-ops*
``[f, key, value]``:

* list-append: ``["append", k, v]`` appends ``v`` to the list at ``k``;
  ``["r", k, [v1, v2, ...]]`` read the list (``null`` on an ``ok`` read: the empty,
  initial list).
* rw-register: ``["w", k, v]`` sets ``k`` to ``v``; ``["r", k, v]`` read ``v``
  (``null``: the initial, never-written state).

The invocation carries the request (reads are ``null``), the ``ok`` completion the same
micro-ops with what was read.  ``fail`` means the transaction definitely did not commit;
``info`` means it may have, so its writes may be seen but its reads say nothing.

Two input formats, both translated into :class:`TxnHistory`:

* splitbrain's JSON lines (``"f": "txn"``, ``"value": [["append","x",1],["r","x",[1]]]``),
  through the strict native reader :mod:`analysis.formats.jsonl`;
* Jepsen/Elle EDN (``:f :txn``, ``:value [[:append :x 1] [:r :x [1]]]``), through the
  EDN reader of :mod:`analysis.formats.edn`, but converted here and more leniently than
  a Knossos history, because Elle's published histories omit what Elle does not need:
  a missing ``:f`` means ``:txn``; a missing ``:process`` means "unknown session" (the
  operations are paired in file order and no process order is claimed); a history of
  completions only (no ``:invoke`` at all, as in Elle's README) is accepted, with no
  real-time order claimed.

Every problem is a :class:`~analysis.history.HistoryError` naming the file and line.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analysis.formats import canonical_format
from analysis.formats.detect import decode, detect_text, read_bytes
from analysis.formats.edn import Keyword, plain, read_edn
from analysis.formats.jsonl import parse as parse_jsonl
from analysis.history import Event, History, HistoryError

READ = "r"
APPEND = "append"
WRITE = "w"

#: The micro-op names each data model accepts, and what they mean.
MOP_NAMES: dict[str, dict[str, str]] = {
    "list-append": {"r": READ, "read": READ, "append": APPEND},
    "rw-register": {"r": READ, "read": READ, "w": WRITE, "write": WRITE},
}
DATA_MODELS: tuple[str, ...] = tuple(MOP_NAMES)

# A process name that cannot collide with a real one: pairs EDN ops that have none.
_NO_PROCESS = "\0no-process"


class _Unread:
    """The value of a read whose result is unknown (an ``info`` transaction's read)."""

    _instance: _Unread | None = None

    def __new__(cls) -> _Unread:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNREAD"


UNREAD: Any = _Unread()

Mop = tuple[str, Hashable, Any]


@dataclass(frozen=True, slots=True)
class Txn:
    """One transaction of a history.

    ``id`` is the operation's index in the history (stable, used in every report);
    ``mops`` hold what was read for an ``ok`` transaction, and :data:`UNREAD` for the
    reads of the others.  ``call``/``ret`` are event positions (``call`` is None for a
    history of completions only; ``ret`` is None unless the transaction completed
    ``ok`` or ``fail``).  ``process`` is None when the history does not say.
    """

    id: int
    process: int | str | None
    status: str
    mops: tuple[Mop, ...]
    call: int | None
    ret: int | None
    line: int | None
    ret_line: int | None

    def where(self) -> str:
        """``line 12`` (or empty), for sentences."""
        ln = self.line if self.line is not None else self.ret_line
        return f"line {ln}" if ln is not None else ""


@dataclass(frozen=True)
class TxnHistory:
    """The transactions of one history, checked against a data model.

    ``timed`` is False when the file recorded no invocations, so nothing is known about
    real time.
    """

    txns: tuple[Txn, ...]
    model: str
    source: str | None = None
    timed: bool = True

    def counts(self) -> dict[str, int]:
        c = {"ok": 0, "fail": 0, "info": 0}
        for t in self.txns:
            c[t.status] += 1
        return c

    def __len__(self) -> int:
        return len(self.txns)


# --------------------------------------------------------------------------- micro-ops
_SCALARS = frozenset({int, str, float})


def _scalar(v: Any) -> bool:
    """A number or a string (not a boolean, which JSON and EDN keep apart)."""
    return type(v) in _SCALARS or (isinstance(v, int | str | float) and not isinstance(v, bool))


def _show(v: Any) -> str:
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


def parse_mops(
    value: Any,
    model: str,
    *,
    reads_known: bool,
    source: str | None,
    line: int | None,
) -> tuple[Mop, ...]:
    """Check one transaction's micro-ops and normalise them.

    ``reads_known`` is True for an ``ok`` completion: its reads are results (``null``
    meaning the initial state); otherwise reads become :data:`UNREAD`.  The loop is
    written for speed (it runs twice per transaction); :func:`_mop_error` says what is
    wrong once something is.
    """
    names = MOP_NAMES[model]
    lists = model == "list-append"
    scalars = _SCALARS
    if type(value) is not list and not isinstance(value, list | tuple):
        raise HistoryError(
            f"a txn's value must be a list of micro-ops [f, key, value], got {_show(value)}",
            source=source,
            line=line,
        )
    out: list[Mop] = []
    for i, mop in enumerate(value):
        if type(mop) is list and len(mop) == 3:
            f_raw, k, v = mop
            f = names.get(f_raw) if type(f_raw) is str else None
            if f is not None and type(k) in scalars:
                if f != READ:
                    if type(v) in scalars:
                        out.append((f, k, v))
                        continue
                elif not reads_known:
                    out.append((READ, k, UNREAD))
                    continue
                elif lists:
                    if v is None:
                        out.append((READ, k, ()))
                        continue
                    if type(v) is list and set(map(type, v)) <= scalars:
                        out.append((READ, k, tuple(v)))
                        continue
                elif v is None or type(v) in scalars:
                    out.append((READ, k, v))
                    continue
        out.append(_slow_mop(i, mop, model, names, reads_known, source, line))
    return tuple(out)


def _slow_mop(
    i: int,
    mop: Any,
    model: str,
    names: dict[str, str],
    reads_known: bool,
    source: str | None,
    line: int | None,
) -> Mop:
    """One micro-op off the fast path: a tuple, a subclass, or an error to report."""

    def bad(msg: str) -> HistoryError:
        return HistoryError(f"micro-op {i + 1}{msg}", source=source, line=line)

    if not isinstance(mop, list | tuple) or len(mop) != 3:
        raise bad(f" must be [f, key, value], got {_show(mop)}")
    f_raw, k, v = mop
    f = names.get(f_raw) if isinstance(f_raw, str) else None
    if f is None:
        raise bad(
            f": unknown micro-op {_show(f_raw)} for --model {model} "
            f"(expected one of {', '.join(sorted(names))})"
        )
    if not _scalar(k):
        raise bad(f": the key must be a string or a number, got {_show(k)}")
    if f != READ:
        if not _scalar(v):
            raise bad(f": a written value must be a number or a string, got {_show(v)}")
        return (f, k, v)
    if not reads_known:
        return (READ, k, UNREAD)
    if model == "list-append":
        if v is None:
            return (READ, k, ())
        if isinstance(v, list | tuple) and all(_scalar(e) for e in v):
            return (READ, k, tuple(v))
        raise bad(
            f": a list-append read must be a list of numbers or strings (or null), got {_show(v)}"
        )
    if v is not None and not _scalar(v):
        raise bad(f": a register read must be a number, a string or null, got {_show(v)}")
    return (READ, k, v)


def _same_shape(a: Sequence[Mop], b: Sequence[Mop]) -> bool:
    return len(a) == len(b) and all(x[0] == y[0] and x[1] == y[1] for x, y in zip(a, b, strict=True))


# --------------------------------------------------------------------------- histories
def from_history(history: History, model: str) -> TxnHistory:
    """Transactions of a paired :class:`History` (any format the readers produce)."""
    if model not in MOP_NAMES:
        raise ValueError(f"unknown data model {model!r} (expected {', '.join(DATA_MODELS)})")
    src = history.source
    txns: list[Txn] = []
    for op in history.operations:
        if op.f != "txn":
            raise HistoryError(
                f"operation {op.f!r} is not a transaction (an isolation check reads only "
                "f = txn operations)",
                source=src,
                line=op.call_line,
            )
        proc = None if op.process == _NO_PROCESS else op.process
        invoked = parse_mops(op.value, model, reads_known=False, source=src, line=op.call_line)
        if op.status == "ok":
            if op.output is None:
                raise HistoryError(
                    "an ok transaction must carry its micro-ops with what was read",
                    source=src,
                    line=op.ret_line,
                )
            mops = parse_mops(op.output, model, reads_known=True, source=src, line=op.ret_line)
            if not _same_shape(invoked, mops):
                raise HistoryError(
                    f"the completion's micro-ops do not match the invocation's (line {op.call_line}): "
                    "same operations on the same keys, in the same order, are expected",
                    source=src,
                    line=op.ret_line,
                )
        else:
            mops = invoked
        ret = op.ret if op.status != "info" else None
        txns.append(
            Txn(op.id, proc, op.status, mops, op.call, ret, op.call_line, op.ret_line)
        )
    return TxnHistory(tuple(txns), model, src, timed=True)


def _completions_only(events: list[Event], model: str, source: str | None) -> TxnHistory:
    txns: list[Txn] = []
    for ev in events:
        if ev.process == "nemesis":
            continue
        if ev.f != "txn":
            raise HistoryError(
                f"operation {ev.f!r} is not a transaction (an isolation check reads only "
                "f = txn operations)",
                source=source,
                line=ev.line,
            )
        proc = None if ev.process == _NO_PROCESS else ev.process
        known = ev.type == "ok"
        mops = parse_mops(ev.value, model, reads_known=known, source=source, line=ev.line)
        ret = ev.index if ev.type != "info" else None
        txns.append(Txn(len(txns), proc, ev.type, mops, None, ret, ev.line, ev.line))
    return TxnHistory(tuple(txns), model, source, timed=False)


_PROCESS = Keyword("process")
_TYPE = Keyword("type")
_F = Keyword("f")
_VALUE = Keyword("value")


def _edn_event(m: Any, line: int, index: int, source: str | None) -> Event:
    if not isinstance(m, dict):
        raise HistoryError(f"expected an operation map {{...}}, got {_show(plain(m))}", source=source, line=line)
    p = m.get(_PROCESS)
    process: int | str
    if p is None:
        process = _NO_PROCESS
    elif isinstance(p, int) and not isinstance(p, bool):
        process = p
    elif isinstance(p, Keyword | str):
        process = p.name if isinstance(p, Keyword) else p
    else:
        raise HistoryError(f":process must be an integer or a keyword, got {_show(plain(p))}", source=source, line=line)
    t = m.get(_TYPE)
    tname = t.name if isinstance(t, Keyword) else t
    if tname not in ("invoke", "ok", "fail", "info"):
        raise HistoryError(
            f":type must be one of :invoke, :ok, :fail, :info, got {_show(plain(t))}",
            source=source,
            line=line,
        )
    f = m.get(_F, Keyword("txn"))
    fname = f.name if isinstance(f, Keyword) else f
    if not isinstance(fname, str):
        raise HistoryError(f":f must be a keyword, got {_show(plain(f))}", source=source, line=line)
    return Event(process=process, type=tname, f=fname, value=plain(m.get(_VALUE)), index=index, line=line)


def parse_edn(text: str, model: str, source: str | None = None) -> TxnHistory:
    """A Jepsen/Elle EDN transactional history (see the module docstring)."""
    forms = read_edn(text, source)
    if not forms:
        raise HistoryError("no EDN history found (only comments or whitespace)", source=source)
    if len(forms) == 1 and isinstance(forms[0].value, list):
        maps = forms[0].value
        lines = forms[0].item_lines or [forms[0].line] * len(maps)
    else:
        maps = [fm.value for fm in forms]
        lines = [fm.line for fm in forms]
    events = [_edn_event(m, ln, i, source) for i, (m, ln) in enumerate(zip(maps, lines, strict=True))]
    if not events:
        raise HistoryError("the history holds no operations", source=source)
    if not any(ev.type == "invoke" for ev in events):
        return _completions_only(events, model, source)
    try:
        paired = History.from_events(events, source=source, orphan_info="ignore")
    except HistoryError as e:
        if _NO_PROCESS not in e.message:
            raise
        raise HistoryError(
            "operations without a :process overlap, so they cannot be paired: "
            "give every operation a :process",
            source=source,
            line=e.line,
        ) from None
    return from_history(paired, model)


def parse_text(text: str, model: str, format: str = "auto", source: str | None = None) -> TxnHistory:
    """A transactional history held in memory; ``format`` is auto, edn or jsonl."""
    if model not in MOP_NAMES:
        raise HistoryError(f"unknown data model {model!r} (expected {', '.join(DATA_MODELS)})")
    name = canonical_format(format)
    if not text.strip():
        raise HistoryError("the file is empty (no events)", source=source)
    if name == "auto":
        name = detect_text(text, source)
    try:
        if name == "edn":
            return parse_edn(text, model, source)
        if name == "jsonl":
            return from_history(parse_jsonl(text, source), model)
    except RecursionError:
        raise HistoryError("input nested too deeply", source=source) from None
    raise HistoryError(
        f"a {name} file holds no transactions: an isolation check reads Jepsen/Elle EDN "
        "or splitbrain JSON lines with f = txn",
        source=source,
    )


def read_txn_history(path: str | Path, model: str, format: str = "auto") -> TxnHistory:
    """Read and check a transactional history file; :class:`HistoryError` names the
    file and line of any problem."""
    p = Path(path)
    canonical_format(format)
    source = str(p)
    return parse_text(decode(read_bytes(p), source), model, format, source)
