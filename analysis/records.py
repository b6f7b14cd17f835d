"""The one writer (and reader) of a run's JSON files: history.jsonl, trace.jsonl, results.json.

A results folder is hashed, diffed and replayed, so every byte of it must be a function of
the run alone.  Every engine, the results folder, ``replay`` and the golden-hash test
therefore format records here and nowhere else:

* one record per line, keys sorted, compact separators, ASCII (``\\u`` escapes), so the
  same records always give the same bytes on every machine;
* values JSON cannot hold are made JSON-able the same way everywhere: a set becomes its
  members sorted by ``repr`` (its iteration order depends on string hashing), a tuple a
  list, anything else its ``repr``;
* a history event becomes ``{"process", "type", "f", "value"[, "key"][, "time"]}``
  (``value`` always present, ``null`` when absent; see ``docs/history-format.md``).

A run's trace is its largest file (megabytes of records), so a results folder keeps it
gzipped (``trace.jsonl.gz``).  The compressed bytes carry no timestamp or file name
(``mtime=0``), so they too are a function of the run; what is hashed and compared is the
uncompressed text.  Every reader goes through :func:`open_text` / :func:`read_jsonl`, which
take either form: ``read_jsonl(folder / "trace.jsonl")`` finds ``trace.jsonl.gz`` too.

``splitbrain check`` reads foreign history formats with :mod:`analysis.formats`; this module
is only about what splitbrain itself writes.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

from analysis.history import UNKNOWN

__all__ = [
    "RecordsError",
    "dumps_document",
    "dumps_record",
    "history_jsonl",
    "history_records",
    "json_default",
    "jsonable",
    "open_text",
    "read_jsonl",
    "stored",
    "to_jsonl",
    "write_jsonl",
]


class RecordsError(ValueError):
    """A JSON-lines file that cannot be read back; the message names the file and line."""


def json_default(o: Any) -> Any:
    """What :func:`json.dumps` writes for values JSON has no type for (see module doc)."""
    if isinstance(o, set | frozenset):
        return sorted(o, key=repr)
    if isinstance(o, tuple):
        return list(o)
    return repr(o)


def dumps_record(record: Mapping[str, Any]) -> str:
    """One record as its canonical JSON line (no newline)."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), default=json_default)


def to_jsonl(records: Iterable[Mapping[str, Any]]) -> str:
    """Canonical JSON lines, one per record, each ending in a newline."""
    return "".join(dumps_record(r) + "\n" for r in records)


GZ = ".gz"
_GZIP_MAGIC = b"\x1f\x8b"


def stored(path: str | Path) -> Path:
    """Where a run file really is: ``path`` itself, or its gzipped form beside it when
    only that exists (a name given with ``.gz`` is taken as it is)."""
    p = Path(path)
    if p.name.endswith(GZ) or p.exists():
        return p
    gz = p.with_name(p.name + GZ)
    return gz if gz.exists() else p


def open_text(path: str | Path) -> IO[str]:
    """A run file opened for reading as UTF-8 text, gunzipped on the fly when it is gzip
    (by content, not by name); the path is resolved by :func:`stored`."""
    p = stored(path)
    with p.open("rb") as probe:
        magic = probe.read(2)
    if magic == _GZIP_MAGIC:
        return io.TextIOWrapper(gzip.open(p, "rb"), encoding="utf-8", errors="replace")
    return p.open(encoding="utf-8", errors="replace")


def write_jsonl(path: str | Path, records: Iterable[Mapping[str, Any]]) -> None:
    """Canonical JSON lines to ``path``; gzipped, reproducibly, when the name ends ``.gz``."""
    p = Path(path)
    if p.name.endswith(GZ):
        with p.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0,
                                                compresslevel=6) as gz, \
                io.TextIOWrapper(gz, encoding="utf-8", newline="\n") as f:
            for r in records:
                f.write(dumps_record(r))
                f.write("\n")
        return
    with p.open("w", encoding="utf-8", newline="\n") as f:
        for r in records:
            f.write(dumps_record(r))
            f.write("\n")


def dumps_document(obj: Any) -> str:
    """A whole JSON file (results.json, metrics.json): indented, keys sorted, newline-ended."""
    return json.dumps(obj, indent=2, sort_keys=True, default=json_default) + "\n"


def jsonable(value: Any) -> Any:
    """A client value as history.jsonl holds it (``UNKNOWN`` -> null, tuples -> lists)."""
    if value is UNKNOWN:
        return None
    if isinstance(value, tuple | list):
        return [jsonable(x) for x in value]
    if isinstance(value, dict):
        return {str(k): jsonable(x) for k, x in value.items()}
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return repr(value)


def history_records(events: Iterable[Any]) -> list[dict[str, Any]]:
    """History events (:class:`analysis.history.Event`) as history.jsonl records."""
    out = []
    for e in events:
        r: dict[str, Any] = {"process": e.process, "type": e.type, "f": e.f, "value": jsonable(e.value)}
        if e.key is not None:
            r["key"] = e.key
        if e.time is not None:
            r["time"] = e.time
        for name, extra in getattr(e, "extra", ()):
            r.setdefault(name, jsonable(extra))  # a client's extra fields (group, rebalance_log)
        out.append(r)
    return out


def history_jsonl(events: Iterable[Any]) -> str:
    """A history as the bytes of history.jsonl."""
    return to_jsonl(history_records(events))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Records of a JSON-lines file (blank lines skipped); :class:`RecordsError` names the line."""
    out = []
    path = stored(path)
    with open_text(path) as f:
        try:
            numbered = list(enumerate(f, 1))
        except (OSError, EOFError) as e:  # a truncated or corrupt gzip stream
            raise RecordsError(f"{path}: cannot read: {e}") from None
        for n, line in numbered:
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise RecordsError(f"{path}:{n}: not valid JSON ({e.msg})") from None
            if not isinstance(rec, dict):
                raise RecordsError(f"{path}:{n}: expected a JSON object")
            out.append(rec)
    return out
