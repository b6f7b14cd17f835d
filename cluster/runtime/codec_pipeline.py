"""Wire format of the RAG pipeline's worker <-> vector store messages.

``Upsert`` carries whole document versions (``DocWrite``) with their chunks (``Point``,
each with a 384-float vector on the real engine), nested dataclasses the generic JSON codec
cannot rebuild by itself; this module spells the shape out once.  Vectors travel as JSON
numbers: a batch of a few documents is tens of kilobytes, well within a gRPC message.
"""

from __future__ import annotations

from typing import Any

from cluster.core.pipeline import DocWrite, Point, Upsert, UpsertAck
from cluster.runtime.codec import register_message

__all__ = ["register"]


def _upsert_to_json(m: Upsert) -> Any:
    return {"req": m.req, "writes": [
        [w.doc, w.version, w.msg_id,
         [[p.point_id, p.doc, p.version, p.index, p.text, list(p.vector)] for p in w.points]]
        for w in m.writes]}


def _upsert_from_json(src: str, dst: str, d: Any) -> Upsert:
    writes = tuple(
        DocWrite(str(doc), int(version), str(msg_id), tuple(
            Point(str(pid), str(pdoc), int(pver), int(idx), str(text), tuple(float(x) for x in vec))
            for pid, pdoc, pver, idx, text, vec in points))
        for doc, version, msg_id, points in d["writes"])
    return Upsert(src, dst, str(d["req"]), writes)


def _ack_to_json(m: UpsertAck) -> Any:
    return {"req": m.req, "outcomes": [list(o) for o in m.outcomes]}


def _ack_from_json(src: str, dst: str, d: Any) -> UpsertAck:
    return UpsertAck(src, dst, str(d["req"]), tuple((str(a), str(b)) for a, b in d["outcomes"]))


_DONE = False


def register() -> None:
    """Idempotent: every process that hosts pipeline nodes calls it before decoding."""
    global _DONE
    if _DONE:
        return
    register_message(Upsert, to_json=_upsert_to_json, from_json=_upsert_from_json)
    register_message(UpsertAck, to_json=_ack_to_json, from_json=_ack_from_json)
    _DONE = True
