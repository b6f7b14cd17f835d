"""Jepsen/Knossos EDN histories, and the small EDN reader they need.

Format (``FORMATS.md``, "jepsen-edn"): optional ``;`` comments, then one EDN vector or
list of operation maps.  Knossos's CLI also accepts a bare sequence of maps with no
enclosing collection, so we do too.  Commas are whitespace and a map may span lines.

Translation into splitbrain's :class:`~analysis.history.Event`:

* ``:process`` -- an integer, or the keyword ``:nemesis`` (becomes ``"nemesis"``).  Other
  keywords and strings become strings; anything else is an error.
* ``:type`` and ``:f`` -- keywords (strings also accepted), turned into plain strings.
* ``:value`` -- ``nil`` becomes ``None``; keywords become their name as a
  :class:`~analysis.models.values.KeywordName` (``:x`` -> ``"x"``, a ``str`` that models
  still tell apart from the string ``"x"``, as Clojure does); vectors and lists become
  Python lists, so a CAS is ``[a, b]`` and a ``:txn`` is a list of
  ``["read" | "write", "x", v]`` triples; maps become dicts; sets become sorted lists.
* ``:key`` (rare in Knossos data) must be a string or a keyword and becomes a string key,
  as in our native format; an integer key is refused (it would merge with the string of
  its digits).
* ``:time`` and ``:index`` are dropped.  Knossos does not order by them, they may be
  absent, and real files have ``:time`` going backwards (``mutex/bad/etcd.edn``), which
  :meth:`History.from_events` would reject.  The position in the file is the only clock.
* Every other key (``:error`` ...) is kept in :attr:`Event.extra` as a plain value.
* ``:fail`` stays ``fail``: under Knossos it means "did not happen", and the checker
  drops failed operations.  ``:info`` with no open invocation (nemesis notes) is
  ignored, as Knossos does (``orphan_info="ignore"``).
* :attr:`Event.line` is the line where the operation's map starts.

Why a hand-written reader rather than ``edn-format==0.8.0`` (which is installed): that
package parses every conformance file correctly, but ``edn_format.loads`` took 3.1-3.7 s
for the 122 Knossos files (2.5 MB, about 48,500 maps; best of 3, CPython 3.11), it
cannot report where a map starts, and a truncated file gives only ``EOF Reached``.  The
regex tokenizer below reads the same files in 0.35 s (0.55-0.7 s for ``read_history``,
conversion and pairing included), knows every map's line, and says "unexpected end of
file at line N (the [ opened at line M is never closed)".  It covers the subset real
histories use: ``nil``, ``true``/``false``, integers (and floats), strings with escapes,
keywords, symbols, vectors, lists, maps, sets, and ``;`` comments.  Tagged literals
(``#inst``), ``#_`` discards and characters (``\\a``) are refused with a clear message.
Parsing is iterative and nesting is capped at :data:`MAX_DEPTH`, so hostile input
cannot exhaust the Python stack.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from typing import Any, NamedTuple

from analysis.history import EVENT_TYPES, Event, History, HistoryError
from analysis.models.values import KeywordName

MAX_DEPTH = 64


class Keyword:
    """An EDN keyword such as ``:read``; interned, so equal keywords are identical."""

    __slots__ = ("name",)
    _interned: dict[str, Keyword] = {}

    name: str

    def __new__(cls, name: str) -> Keyword:
        kw = cls._interned.get(name)
        if kw is None:
            kw = super().__new__(cls)
            kw.name = name
            cls._interned[name] = kw
        return kw

    def __repr__(self) -> str:
        return ":" + self.name

    def __reduce__(self) -> tuple[type[Keyword], tuple[str]]:
        return (Keyword, (self.name,))


@dataclass(frozen=True, slots=True)
class Symbol:
    """An EDN symbol such as ``foo``; kept apart from strings and keywords."""

    name: str

    def __repr__(self) -> str:
        return self.name


class Form(NamedTuple):
    """A top-level EDN form, the line it starts on, and (for a vector or list) the
    lines where each of its elements starts."""

    value: Any
    line: int
    item_lines: list[int] | None


# One token per match.  The leading [\s,]* eats whitespace and commas (EDN whitespace),
# so every non-blank character is the start of some alternative: nothing is skipped
# silently by finditer.  The only text no alternative covers is an unterminated string,
# which group 7 catches.
_TOKEN = re.compile(
    r"""[\s,]*(?:
      (;[^\n]*)                            # 1 comment
     |("[^"\\]*(?:\\.[^"\\]*)*")           # 2 string
     |([\[({])                             # 3 open
     |([\])}])                             # 4 close
     |(\#\{)                               # 5 set open
     |([^\s,;()\[\]{}"]+)                  # 6 atom: nil, numbers, keywords, symbols, #tags
     |(")                                  # 7 unterminated string
    )""",
    re.VERBOSE | re.DOTALL,
)
_INT = re.compile(r"[+-]?\d+N?")
_FLOAT = re.compile(r"[+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?M?")
_SYMBOL = re.compile(r"[A-Za-z*+!\-_?<>=/.&%$][\w*+!\-_?<>=/.&%$:#']*")
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.DOTALL)
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}
_CLOSER = {"[": "]", "(": ")", "{": "}", "#{": "}"}
_NIL = object()  # cache sentinel so that a cached ``None`` is not mistaken for a miss


class _Lines:
    """Offset -> 1-based line number, by binary search over newline offsets."""

    def __init__(self, text: str) -> None:
        self._nl = [m.start() for m in re.finditer("\n", text)]

    def __call__(self, pos: int) -> int:
        return bisect_right(self._nl, pos - 1) + 1

    @property
    def last(self) -> int:
        return len(self._nl) + 1


def _atom(tok: str) -> Any:
    if tok == "nil":
        return None
    if tok == "true":
        return True
    if tok == "false":
        return False
    c = tok[0]
    if c == ":":
        name = tok[1:]
        if not name or name.startswith(":"):
            raise ValueError(f"invalid keyword {tok!r}")
        return Keyword(name)
    if c.isdigit() or (c in "+-" and len(tok) > 1 and tok[1].isdigit()):
        if _INT.fullmatch(tok):
            return int(tok.rstrip("N"))
        if _FLOAT.fullmatch(tok):
            return float(tok.rstrip("M"))
        raise ValueError(f"invalid number {tok!r}")
    if c == "#":
        if tok.startswith("#_"):
            raise ValueError("#_ discards are not supported")
        raise ValueError(f"tagged literal {tok!r} is not supported")
    if c == "\\":
        raise ValueError(f"EDN characters ({tok!r}) are not supported")
    if _SYMBOL.fullmatch(tok):
        return Symbol(tok)
    raise ValueError(f"invalid token {tok!r}")


def _unescape(raw: str) -> str:
    body = raw[1:-1]
    if "\\" not in body:
        return body

    def one(m: re.Match[str]) -> str:
        e = m.group(1)
        if e[0] == "u" and len(e) == 5:
            return chr(int(e[1:], 16))
        if e in _ESCAPES:
            return _ESCAPES[e]
        raise ValueError(f"invalid escape \\{e} in string")

    return _ESCAPE.sub(one, body)


def _close(opener: str, items: list[Any]) -> Any:
    if opener == "{":
        if len(items) % 2:
            raise ValueError("map has a key with no value (odd number of forms)")
        out: dict[Any, Any] = {}
        for i in range(0, len(items), 2):
            k = items[i]
            if isinstance(k, list | dict):
                k = _freeze(k)
            if k in out:
                raise ValueError(f"duplicate map key {_show(k)}")
            out[k] = items[i + 1]
        return out
    if opener == "#{":
        return frozenset(_freeze(x) for x in items)
    return items


def _freeze(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, dict):
        raise ValueError("a map cannot be a map key or a set element (not supported)")
    return v


def _show(v: Any) -> str:
    if v is None:
        return "nil"
    if isinstance(v, str):
        return '"' + v + '"'
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v)


def read_edn(text: str, source: str | None = None) -> list[Form]:
    """Read every top-level EDN form of ``text``.

    Raises :class:`HistoryError` with the line for any syntax error; a truncated input
    reads "unexpected end of file at line N".  Atoms are cached per call because
    histories repeat the same few keywords and numbers tens of thousands of times.
    """
    lines = _Lines(text)
    forms: list[Form] = []
    # stack frames: [opener, items, start offset, item offsets or None]
    stack: list[tuple[str, list[Any], int, list[int] | None]] = []
    cache: dict[str, Any] = {}
    items: list[Any] | None = None
    offsets: list[int] | None = None

    def err(msg: str, pos: int) -> HistoryError:
        return HistoryError(msg, source=source, line=lines(pos))

    def eof(detail: str) -> HistoryError:
        return HistoryError(
            f"unexpected end of file at line {lines.last} ({detail})",
            source=source,
            line=lines.last,
        )

    for m in _TOKEN.finditer(text):
        kind = m.lastindex
        if kind == 1:
            continue
        if kind == 6:
            tok = m.group(6)
            val = cache.get(tok, _NIL)
            if val is _NIL:
                try:
                    val = _atom(tok)
                except ValueError as e:
                    raise err(str(e), m.start(6)) from None
                cache[tok] = val
            pos = m.start(6)
        elif kind == 2:
            try:
                val = _unescape(m.group(2))
            except ValueError as e:
                raise err(str(e), m.start(2)) from None
            pos = m.start(2)
        elif kind == 3 or kind == 5:
            opener = m.group(kind)
            pos = m.start(kind)
            if len(stack) >= MAX_DEPTH:
                raise err(f"EDN nested more than {MAX_DEPTH} levels deep", pos)
            items = []
            offsets = [] if not stack else None
            stack.append((opener, items, pos, offsets))
            continue
        elif kind == 4:
            closer = m.group(4)
            pos = m.start(4)
            if not stack:
                raise err(f"unexpected {closer!r} with nothing open", pos)
            opener, its, start, offs = stack.pop()
            if _CLOSER[opener] != closer:
                raise err(
                    f"{closer!r} does not close the {opener!r} opened at line {lines(start)}", pos
                )
            try:
                val = _close(opener, its)
            except ValueError as e:
                raise err(str(e), start) from None
            if not stack:
                forms.append(
                    Form(val, lines(start), [lines(o) for o in offs] if offs is not None else None)
                )
                items = None
                continue
            _, items, _, offsets = stack[-1]
            pos = start
        else:  # kind == 7: an opening quote with no closing quote
            raise eof(f"string opened at line {lines(m.start(7))} is never closed")
        # append an atom, string or closed collection to the enclosing collection
        if items is None:
            forms.append(Form(val, lines(pos), None))
        else:
            items.append(val)
            if offsets is not None:
                offsets.append(pos)
    if stack:
        opener, _, start, _ = stack[-1]
        raise eof(f"the {opener} opened at line {lines(start)} is never closed")
    return forms


def plain(v: Any, keyword: type[str] = str) -> Any:
    """An EDN value as plain JSON-like Python: keywords and symbols become their names,
    vectors, lists and sets become lists, map keys become strings where they are names.

    ``keyword`` is the ``str`` type a keyword's name becomes: plain ``str`` by default;
    :func:`op_event` passes :class:`~analysis.models.values.KeywordName` for an
    operation's ``:value``, so models can keep ``:x`` apart from ``"x"``."""
    if isinstance(v, Keyword):
        return keyword(v.name)
    if isinstance(v, Symbol):
        return v.name
    if isinstance(v, list | tuple):
        return [plain(x, keyword) for x in v]
    if isinstance(v, dict):
        return {_key(k): plain(x, keyword) for k, x in v.items()}
    if isinstance(v, frozenset):
        return sorted((plain(x, keyword) for x in v), key=repr)
    return v


def _key(k: Any) -> Any:
    if isinstance(k, Keyword | Symbol):
        return k.name
    if k is None or isinstance(k, str | int | float):
        return k
    return repr(plain(k))  # a vector or set key: JSON objects need scalar keys


_PROCESS = Keyword("process")
_TYPE = Keyword("type")
_F = Keyword("f")
_VALUE = Keyword("value")
_KEY = Keyword("key")
_DROPPED = frozenset({Keyword("time"), Keyword("index")})
_KNOWN = frozenset({_PROCESS, _TYPE, _F, _VALUE, _KEY}) | _DROPPED


def name_of(v: Any) -> str | None:
    """The string a keyword or string names, or None for anything else."""
    if isinstance(v, Keyword):
        return v.name
    if isinstance(v, str):
        return v
    return None


def _first(kv: tuple[str, Any]) -> str:
    return kv[0]


def op_event(
    m: Any, line: int, source: str | None, *, index: int = 0, what: str = "operation"
) -> Event:
    """Turn one operation map into an :class:`Event` (shared with the porcupine-kv reader).

    ``index`` should be the event's position, so that :meth:`History.from_events` need
    not copy the event to set it (a third of the reading time for large files)."""
    if not isinstance(m, dict):
        raise HistoryError(
            f"expected an {what} map {{...}}, got {_show(m)[:60]}", source=source, line=line
        )
    if _PROCESS not in m:
        raise HistoryError(f"{what} has no :process", source=source, line=line)
    p = m[_PROCESS]
    process: int | str
    if isinstance(p, int) and not isinstance(p, bool):
        process = p
    elif isinstance(p, Keyword | str):
        process = name_of(p) or ""
    else:
        raise HistoryError(
            f":process must be an integer or :nemesis, got {_show(p)}", source=source, line=line
        )
    t = name_of(m.get(_TYPE))
    if t is None:
        raise HistoryError(
            f":type must be one of :invoke, :ok, :fail, :info, got {_show(m.get(_TYPE))}",
            source=source,
            line=line,
        )
    if t not in EVENT_TYPES:
        raise HistoryError(
            f"unknown event type :{t} (expected one of :invoke, :ok, :fail, :info)",
            source=source,
            line=line,
        )
    f = name_of(m.get(_F))
    if f is None:
        raise HistoryError(
            f":f must be a keyword, got {_show(m.get(_F))}", source=source, line=line
        )
    key: str | None = None
    if _KEY in m and m[_KEY] is not None:
        k = m[_KEY]
        if not isinstance(k, str | Keyword):
            raise HistoryError(
                f":key must be a string or a keyword, got {_show(k)[:60]} (an integer key "
                "would be confused with the string of its digits)",
                source=source,
                line=line,
            )
        key = k.name if isinstance(k, Keyword) else k
    extra = tuple(
        sorted(((str(_key(k)), plain(v)) for k, v in m.items() if k not in _KNOWN), key=_first)
    )
    return Event(
        process=process,
        type=t,
        f=f,
        value=plain(m.get(_VALUE), KeywordName),
        key=key,
        time=None,
        index=index,
        line=line,
        extra=extra,
    )


def parse(text: str, source: str | None = None) -> History:
    """Read a Jepsen/Knossos EDN history (see the module docstring for the mapping)."""
    forms = read_edn(text, source)
    if not forms:
        raise HistoryError("no EDN history found (only comments or whitespace)", source=source)
    if len(forms) == 1 and isinstance(forms[0].value, list):
        ops = forms[0].value
        op_lines = forms[0].item_lines or []
    elif all(isinstance(fm.value, dict) for fm in forms):
        ops = [fm.value for fm in forms]
        op_lines = [fm.line for fm in forms]
    else:
        bad = next(fm for fm in forms if not isinstance(fm.value, dict))
        raise HistoryError(
            "expected one vector or list of operation maps, or a sequence of maps; "
            f"found {_show(bad.value)[:60]}",
            source=source,
            line=bad.line,
        )
    events = [
        op_event(m, ln, source, index=i)
        for i, (m, ln) in enumerate(zip(ops, op_lines, strict=True))
    ]
    return History.from_events(events, source=source, orphan_info="ignore")
