"""Trace records and byte-stable JSON lines for traces and histories.

A trace is a list of flat dicts, appended in simulation order, each with at least ``t``
(true virtual time in ms) and ``kind``.  The simulator never formats anything while it
runs -- it only appends dicts -- so writing is deferred to these helpers, which sort keys
and use compact separators: the same seed gives the same bytes, which is what lets a run
folder be hashed, diffed and replayed.

Record kinds written by :class:`~cluster.sim.world.Simulation` (see ``TRACE_KINDS``):

* wire (only with ``trace_messages=True``): ``send``/``deliver``/``drop``/``dup`` with
  ``src``, ``dst``, ``msg`` (class name), ``mid`` (message id, shared by a send, its
  deliveries, its duplicate and its drop) and a compact summary (``term``, ``seq``, ``op``,
  ``status`` when the message has them); ``drop`` adds ``reason`` (``cut``, ``loss``,
  ``down``, ``no-client``: no node or live client of that id); ``store`` (``node``, ``ops``, ``sync``) for each
  durable write batch.
* protocol: every ``CoreEvent`` as ``{"t", "kind": event.kind, "node", **event.data}``
  (``role``, ``vote``, ``election``, ``commit``, ``apply``, ``read``, ``ack``, ...).
* lifecycle: ``crash`` (``lost_writes``, ``dropped_queued``), ``restart`` (``incarnation``),
  ``pause``, ``resume`` (``queued``), ``clock`` (``offset_ms``, ``rate``, ``jumps_ms``,
  ``local_ms``), ``link`` (``op``: ``cut``/``restore``/``set``, ``src``, ``dst`` and settings).
* faults: whatever :meth:`Simulation.record` is given (``fault-start``, ``fault-end``, ...).
* clients: ``client-invoke`` (``process``, ``client``, ``f``, ``key``, ``value``) and
  ``client-complete`` (adds ``type`` = ok/fail/info, ``attempts``, ``node``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from analysis.history import Event

__all__ = [
    "TRACE_KINDS",
    "dumps_record",
    "history_jsonl",
    "to_jsonl",
    "write_history",
    "write_jsonl",
]

TRACE_KINDS: tuple[str, ...] = (
    "send",
    "deliver",
    "drop",
    "dup",
    "store",
    "crash",
    "restart",
    "pause",
    "resume",
    "clock",
    "link",
    "client-invoke",
    "client-complete",
)
"""Kinds the simulator itself writes; core events and fault records come on top."""


def _fallback(obj: Any) -> Any:
    """JSON for values cores may put in events (tuples are lists already; sets, dataclasses).

    ``repr`` of a frozen dataclass is deterministic; a set is sorted by repr so its order
    never depends on string hashing.
    """
    if isinstance(obj, set | frozenset):
        return sorted(repr(x) for x in obj)
    return repr(obj)


def dumps_record(record: Mapping[str, Any]) -> str:
    """One record as its canonical JSON line (no newline)."""
    return json.dumps(
        record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_fallback
    )


def to_jsonl(records: Iterable[Mapping[str, Any]]) -> str:
    """Canonical JSON lines, one per record, each ending in a newline."""
    return "".join(dumps_record(r) + "\n" for r in records)


def write_jsonl(path: str | Path, records: Iterable[Mapping[str, Any]]) -> None:
    Path(path).write_text(to_jsonl(records), encoding="utf-8", newline="\n")


def history_jsonl(events: Iterable[Event]) -> str:
    """A history in splitbrain's native JSON-lines format (see ``analysis.formats.jsonl``)."""
    from analysis.formats.jsonl import dumps_event

    return "".join(dumps_event(ev) + "\n" for ev in events)


def write_history(path: str | Path, events: Iterable[Event]) -> None:
    Path(path).write_text(history_jsonl(events), encoding="utf-8", newline="\n")
