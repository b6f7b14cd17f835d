"""Trace records and byte-stable JSON lines for traces and histories.

A trace is a list of flat dicts, appended in simulation order, each with at least ``t``
(true virtual time in ms) and ``kind``.  The simulator never formats anything while it
runs -- it only appends dicts -- so writing is deferred to the one canonical writer,
:mod:`analysis.records` (re-exported here), which every engine and the results folder
share: the same seed gives the same bytes, which is what lets a run folder be hashed,
diffed and replayed.

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

from collections.abc import Iterable
from pathlib import Path

from analysis import trace_kinds as K
from analysis.history import Event
from analysis.records import dumps_record, history_jsonl, to_jsonl, write_jsonl

__all__ = [
    "TRACE_KINDS",
    "dumps_record",
    "history_jsonl",
    "to_jsonl",
    "write_history",
    "write_jsonl",
]

TRACE_KINDS: tuple[str, ...] = (
    K.SEND,
    K.DELIVER,
    K.DROP,
    K.DUP,
    K.STORE,
    K.CRASH,
    K.RESTART,
    K.PAUSE,
    K.RESUME,
    K.CLOCK,
    K.LINK,
    K.CLIENT_INVOKE,
    K.CLIENT_COMPLETE,
)
"""Kinds the simulator itself writes; core events and fault records come on top."""


def write_history(path: str | Path, events: Iterable[Event]) -> None:
    Path(path).write_text(history_jsonl(events), encoding="utf-8", newline="\n")
