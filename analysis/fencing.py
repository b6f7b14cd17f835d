"""Fencing: the writes a storage service accepted are in lock-grant order, with no overlap.

A lock that protects a resource is only as good as the resource's view of it.  Each grant
of the lock has a token that grows with every grant; holders write with their token.  The
property the resource needs is that holders never *interleave*: once it has accepted a
write made under grant ``k``, it never accepts one made under an earlier grant.  Two
checks, from the trace:

* ``grant-order`` -- the tokens of accepted writes, in the order the storage accepted
  them, never go down;
* ``holder-owns-token`` -- every accepted write's token was granted to the node that wrote
  with it.

Records read: ``lock-granted`` {node, token, ttl_ms, expires_wall} (a worker got the lock),
``storage-write`` {node, holder, token, value, accepted} (the storage's decision), and,
for the explanation, ``pause``/``resume`` records and fault windows: the usual culprit is a
holder that was paused past its lease.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from analysis.idempotency import Findings

__all__ = ["check_trace"]


def check_trace(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    recs = list(records)
    f = Findings("fencing", recs)
    grants: dict[int, dict[str, Any]] = {}
    pauses: dict[str, list[tuple[int, int | None]]] = {}
    accepted = rejected = 0
    top: dict[str, Any] | None = None  # the accepted write with the highest token so far
    for r in recs:
        kind = r.get("kind")
        t = int(r.get("t", 0))
        if kind == "lock-granted":
            grants.setdefault(int(r["token"]), r)
        elif kind == "pause":
            pauses.setdefault(str(r.get("node")), []).append((t, None))
        elif kind == "resume":
            spans = pauses.get(str(r.get("node")), [])
            if spans and spans[-1][1] is None:
                spans[-1] = (spans[-1][0], t)
        elif kind == "storage-write":
            if not r.get("accepted"):
                rejected += 1
                continue
            accepted += 1
            holder, token = str(r.get("holder")), int(r["token"])
            grant = grants.get(token)
            if grant is None or str(grant.get("node")) != holder:
                owner = f"granted to {grant.get('node')}" if grant else "never granted"
                f.add("holder-owns-token", t,
                      f"the storage accepted a write by {holder} with token {token}, which was {owner}.",
                      node=holder, token=token, anomaly="unfenced-write")
            if top is not None and token < int(top["token"]):
                f.add("grant-order", t, _story(r, top, grants, pauses), node=holder,
                      nodes=[holder, str(top.get("holder"))], token=token, anomaly="unfenced-write")
            if top is None or token >= int(top["token"]):
                top = r
    return f.result(
        f"The storage accepted {accepted} write(s) in lock-grant order (tokens never went down) and "
        f"rejected {rejected} stale one(s); {len(grants)} grant(s) of the lock.",
        {"accepted": accepted, "rejected": rejected, "grants": len(grants)},
    )


def _story(write: dict[str, Any], top: dict[str, Any], grants: dict[int, dict[str, Any]],
           pauses: dict[str, list[tuple[int, int | None]]]) -> str:
    holder, token, t = str(write.get("holder")), int(write["token"]), int(write.get("t", 0))
    text = (f"the storage accepted {holder}'s write with token {token} at {t} ms, after it had accepted "
            f"{top.get('holder')}'s write with token {top['token']} at {top.get('t')} ms: two holders' writes "
            "interleaved.")
    mine = grants.get(token)
    if mine is not None:
        granted_at, ttl = int(mine.get("t", 0)), int(mine.get("ttl_ms", 0))
        text += f" {holder} was granted token {token} at {granted_at} ms for {ttl} ms, so its lease ended at " \
                f"{granted_at + ttl} ms."
        for start, end in pauses.get(holder, []):
            if start >= granted_at and start <= t and (end is None or end <= t + 1):
                stop = f"{end} ms" if end is not None else "the end"
                text += f" It was paused from {start} ms to {stop} (a GC pause), past its lease, and wrote as if it still held the lock."
                break
    newer = grants.get(int(top["token"]))
    if newer is not None:
        text += f" {newer.get('node')} had been granted token {top['token']} at {newer.get('t')} ms."
    text += (" A lease cannot stop a paused holder from acting on a grant it no longer has; the storage must "
             "check the fencing token and reject a write whose token is below one it has seen.")
    return text
