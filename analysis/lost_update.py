"""Lost updates in a leaderless store: no acknowledged write vanishes unless a causally later
write that supersedes it survives.

The workload is a set per key that clients grow by read-modify-write (``add``: read the
siblings, merge them, add an item, write the merged set back).  A write therefore
*supersedes* exactly the writes whose items it contains: it read them.  So an acknowledged
``add`` of item ``x`` to key ``k`` is preserved when some version of ``k`` that survives at
the end contains ``x`` -- its own, or a causally later one that included it -- and lost
otherwise: the store threw away an acknowledged write and nothing that descends from it
is left.  Concurrent writes are not an excuse: a design that keeps siblings loses neither.

Reads:

* the history: ``add`` operations (invoke value: the item; ``ok`` value: the set written);
* ``register-final`` {node, versions: {key: [{value, node, counter, ts}]}} records: what every
  replica keeps at the end, read from durable state, so a node that is down counts too;
* for the explanation: ``register-write`` (who coordinated a write, its timestamp and its
  context), ``lww-discard`` (a replica dropping a version for a newer timestamp), and
  ``clock`` records (the coordinator's clock offset when it stamped the write).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from analysis.idempotency import Findings

__all__ = ["check_trace"]


def check_trace(records: Iterable[dict[str, Any]], history: Any) -> dict[str, Any]:
    recs = list(records)
    f = Findings("lost-update", recs)
    final: dict[str, list[dict[str, Any]]] = {}
    seen_final = False
    writes: list[dict[str, Any]] = []
    discards: list[dict[str, Any]] = []
    offsets: dict[str, list[tuple[int, int]]] = {}  # node -> [(t, wall offset ms)]
    for r in recs:
        kind = r.get("kind")
        if kind == "register-final":
            seen_final = True
            for key, versions in dict(r.get("versions", {})).items():
                listed = final.setdefault(str(key), [])
                for v in versions:  # replicas hold copies of one version: list each once
                    if all((v.get("node"), v.get("counter")) != (w.get("node"), w.get("counter")) for w in listed):
                        listed.append(v)
        elif kind == "register-write":
            writes.append(r)
        elif kind == "lww-discard":
            discards.append(r)
        elif kind == "clock" and r.get("local_ms") is not None:
            offsets.setdefault(str(r["node"]), []).append((int(r["t"]), int(r["local_ms"]) - int(r["t"])))
    if not seen_final:
        return {"checker": "lost-update", "verdict": "unknown", "violations": [], "stats": {},
                "explanation": ["No register-final records in the trace: the final state of the replicas is "
                                "unknown, so nothing can be said about lost writes."]}
    survivors = {k: {x for v in vs for x in v.get("value", [])} for k, vs in final.items()}
    acked = 0
    for op in history.operations:
        if op.f != "add" or op.status != "ok":
            continue
        acked += 1
        key, item = str(op.key), op.value
        if item in survivors.get(key, set()):
            continue
        t = (op.ret_time or 0) // 1_000_000
        written = list(op.output) if isinstance(op.output, (list, tuple)) else [item]
        mine = _write_of(writes, key, written)
        f.add("no-lost-update", t, _story(op.id, key, item, written, mine, final.get(key, []), writes, discards,
                                          offsets),
              key=key, item=item, node=mine.get("node") if mine else None, anomaly="lost-write")
    n_final = sum(len(v) for v in final.values())
    return f.result(
        f"All {acked} acknowledged writes survive: every item added is in some version the replicas "
        f"keep at the end ({n_final} version(s) over {len(final)} key(s)), its own or a causally later "
        "write's that included it.",
        {"acknowledged": acked, "final_versions": n_final, "keys": len(final)},
    )


def _write_of(writes: list[dict[str, Any]], key: str, value: list[Any]) -> dict[str, Any] | None:
    for w in writes:
        if str(w.get("key")) == key and list(w.get("value", [])) == value:
            return w
    return None


def _offset(offsets: dict[str, list[tuple[int, int]]], node: str, t: int) -> int:
    off = 0
    for at, o in offsets.get(node, []):
        if at <= t:
            off = o
    return off


def _story(op_id: int, key: str, item: Any, written: list[Any], mine: dict[str, Any] | None,
           final: list[dict[str, Any]], writes: list[dict[str, Any]], discards: list[dict[str, Any]],
           offsets: dict[str, list[tuple[int, int]]]) -> str:
    kept = "; ".join(f"{_short(v.get('value', []))} (written through {v.get('node')}, ts {v.get('ts')})"
                     for v in final) or "nothing"
    text = (f"op {op_id} added item {item} to {key} and was acknowledged, but no version the replicas keep at "
            f"the end contains it (they keep {kept}).")
    if mine is None:
        return text + " Neither it nor any write that read it survived."
    node, counter = str(mine.get("node")), int(mine.get("counter", 0))
    ts, t = int(mine.get("ts", 0)), int(mine.get("t", 0))
    off = _offset(offsets, node, t)
    skew = f", whose wall clock was {abs(off)} ms {'behind' if off < 0 else 'ahead'}" if off else ""
    text += f" The write went through {node} at {t} ms, which stamped it {ts}{skew}."
    lost = next((d for d in discards if str(d.get("key")) == key and list(d.get("dot", [])) == [node, counter]), None)
    if lost is None:
        return text + " A version that did not include it replaced it: concurrent writes must be kept as siblings."
    winner_dot = list(lost.get("kept_dot", []))
    winner = next((w for w in writes if str(w.get("key")) == key
                   and [w.get("node"), w.get("counter")] == winner_dot), None)
    text += (f" At {lost.get('t')} ms {lost.get('node')} dropped it for the version written through "
             f"{winner_dot[0] if winner_dot else '?'} stamped {lost.get('kept_ts')}.")
    if winner is not None and set(winner.get("value", [])) <= set(written):
        text += (" That version was one this write had read and merged: the lost write was causally later, yet its "
                 "timestamp was older, so last-write-wins kept the write it meant to replace. Node clocks do not "
                 "order causally related writes; keep siblings with version vectors (hybrid logical clocks would "
                 "fix this case, but still drop one of two concurrent writes).")
    else:
        text += " The two writes were concurrent: last-write-wins keeps one and silently drops the other."
    return text


def _short(value: list[Any]) -> str:
    try:
        items = sorted(value)
    except TypeError:
        items = sorted(value, key=repr)
    return "{" + ", ".join(map(str, items[:6])) + (f", ... {len(items)} items" if len(items) > 6 else "") + "}"
