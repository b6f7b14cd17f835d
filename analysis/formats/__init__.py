"""History readers: every supported file format, translated into one :class:`History`.

The checker knows only :class:`~analysis.history.History`; each module here is an
adapter that maps a foreign format's semantics (what its ``fail`` or ``info`` means,
how it spells a read's output) onto ours, and documents that mapping in its docstring:

* ``jsonl``          -- splitbrain's native format (:mod:`analysis.formats.jsonl`)
* ``edn``            -- Jepsen/Knossos EDN histories (:mod:`analysis.formats.edn`)
* ``porcupine-etcd`` -- Porcupine's Jepsen etcd logs (:mod:`analysis.formats.porcupine`)
* ``porcupine-kv``   -- Porcupine's key-value EDN logs (:mod:`analysis.formats.porcupine`)

Keeping the translation here means the checker never has to guess which tool wrote a
file, and a new format is a new adapter, not a change to the checker.

Every malformed input raises :class:`~analysis.history.HistoryError` naming the file and,
where there is one, the line; no other exception escapes :func:`read_history` for bad
content.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from analysis.formats import edn, jsonl, porcupine
from analysis.formats.detect import (
    MAX_INPUT_BYTES,
    STDIN,
    decode,
    detect_format,
    detect_text,
    read_bytes,
)
from analysis.formats.jsonl import write_jsonl
from analysis.history import History, HistoryError
from analysis.memory import gc_paused

FORMATS: tuple[str, ...] = ("jsonl", "edn", "porcupine-etcd", "porcupine-kv")

#: Other names accepted for ``format`` (the conformance MANIFEST's names among them).
ALIASES: dict[str, str] = {
    "json": "jsonl",
    "ndjson": "jsonl",
    "jepsen-edn": "edn",
    "knossos": "edn",
    "porcupine-etcd-log": "porcupine-etcd",
    "porcupine-kv-log": "porcupine-kv",
}

_PARSERS: dict[str, Callable[[str, str | None], History]] = {
    "jsonl": jsonl.parse,
    "edn": edn.parse,
    "porcupine-etcd": porcupine.parse_etcd,
    "porcupine-kv": porcupine.parse_kv,
}

__all__ = [
    "ALIASES",
    "FORMATS",
    "MAX_INPUT_BYTES",
    "STDIN",
    "HistoryError",
    "canonical_format",
    "detect_format",
    "parse_text",
    "read_history",
    "write_jsonl",
]


def canonical_format(format: str) -> str:
    """``format`` as one of :data:`FORMATS` (or ``"auto"``); aliases resolved."""
    name = ALIASES.get(format, format)
    if name != "auto" and name not in _PARSERS:
        raise HistoryError(
            f"unknown history format {format!r} (expected auto, {', '.join(FORMATS)})"
        )
    return name


def parse_text(text: str, format: str, source: str | None = None) -> History:
    """Parse a history held in memory.  ``format`` may be ``"auto"``.

    Only an explicit ``porcupine-etcd`` may be empty (Porcupine ships an empty log for
    a run whose cluster never started); elsewhere an empty file is almost always a
    mistake (wrong path, recorder crashed), so it is reported instead of "valid".
    """
    name = canonical_format(format)
    if "\0" in text:
        raise HistoryError(
            f"not a text history (binary data at character {text.index(chr(0))})", source=source
        )
    if not text.strip() and name != "porcupine-etcd":
        raise HistoryError("the file is empty (no events)", source=source)
    if name == "auto":
        name = detect_text(text, source)
    try:
        with gc_paused():  # parsing makes millions of objects and no cycles
            return _PARSERS[name](text, source)
    except RecursionError:
        raise HistoryError("input nested too deeply", source=source) from None


def read_history(
    path: str | Path,
    format: str = "auto",
    *,
    max_bytes: int = MAX_INPUT_BYTES,
    allow_special: bool = False,
) -> History:
    """Read and validate a history file.  Raises :class:`HistoryError` for any problem:
    no such file, binary data, an unknown format, or bad content (with its line).

    ``path`` ``"-"`` reads standard input.  Only regular files are read unless
    ``allow_special`` (a FIFO or a device), and never more than ``max_bytes``
    (:func:`~analysis.formats.detect.read_bytes`).
    """
    canonical_format(format)  # an unknown format name is reported before any I/O
    source = "<stdin>" if str(path) == STDIN else str(path)
    data = read_bytes(path, max_bytes=max_bytes, allow_special=allow_special)
    return parse_text(decode(data, source), format, source)
