"""Outbox and delivery: committed events are delivered, processed once, never invented.

From the trace alone (records described in ``docs/sagas.md``):

* **no phantom events** -- every ``publish`` belongs to a local transaction that committed
  (a ``txn`` record with its id).  A dual write can publish for a change that never happened.
* **acked means processed** -- every ``msg-ack`` (queue ack or log offset commit) of a
  message at a consumer is matched by processing of that message there (``effect``,
  ``dedup``, ``saga-reply`` or ``orphan-reply`` with the same outbox ``row``).  An ack before
  the effect loses the message if the consumer dies in between.
* **processed exactly once** -- no outbox row has its effect applied twice.
* **at least once** -- every outbox row committed before the settle cutoff was delivered and
  processed somewhere (liveness: judged only after a quiet period, see ``settle_window``).
* **broker order** -- the broker hands out first-time deliveries of a queue (queue broker)
  or a partition (log broker, per consumer generation) in append order.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from analysis.idempotency import SETTLE_MS, Copies, Findings, settle_window

PROCESSING = ("effect", "dedup", "saga-reply", "orphan-reply")


def check_trace(records: Iterable[dict[str, Any]], settle_ms: int = SETTLE_MS) -> dict[str, Any]:
    recs = list(records)
    f = Findings("delivery", recs)
    copies = Copies(recs)
    cutoff, quiet = settle_window(recs, settle_ms)
    committed_txns: set[str] = set()  # membership only
    rows: dict[str, tuple[int, str, str]] = {}  # row -> (t committed, node, msg_id), commit order
    for r in recs:
        if r.get("kind") == "txn":
            committed_txns.add(str(r["txn"]))
            for row, mid in zip(r.get("rows", []), r.get("msg_ids", []), strict=False):
                rows.setdefault(str(row), (int(r["t"]), str(r["node"]), str(mid)))
    delivered: set[str] = set()
    processed: set[tuple[str, str]] = set()
    processed_rows: set[str] = set()
    applied_per_row: dict[str, int] = {}
    last_offset: dict[tuple[str, str, int, Any], int] = {}
    n_pub = n_ack = 0
    for r in recs:
        kind = r.get("kind")
        t = int(r.get("t", 0))
        if kind == "publish":
            n_pub += 1
            if r.get("direct"):
                rows.setdefault(str(r["row"]), (t, str(r["node"]), str(r["msg_id"])))
        elif kind == "consume":
            delivered.add(str(r["row"]))
        elif kind in PROCESSING and r.get("row") is not None:
            processed.add((str(r["node"]), str(r["row"])))
            processed_rows.add(str(r["row"]))
            if kind == "effect" and r.get("outcome") == "applied":
                n = applied_per_row.get(str(r["row"]), 0) + 1
                applied_per_row[str(r["row"])] = n
                if n == 2:
                    d = copies.before(str(r["node"]), str(r["row"]), t)
                    how = (f"this delivery was the {copies.label(d)}" if d is not None else
                           f"this delivery was {'flagged' if r.get('redelivered') else 'not flagged'} as redelivered")
                    f.add(
                        "exactly-once",
                        t,
                        f"{r['node']} applied message {r['row']} ({r.get('action')} of {r.get('saga')}) a "
                        f"second time ({how}). At-least-once delivery needs an inbox to be effectively once.",
                        anomaly="duplicate-effect",
                        row=r["row"],
                        node=r["node"],
                    )
        elif kind == "broker-deliver" and not r.get("redelivered"):
            stream = (str(r["node"]), str(r["topic"]), int(r.get("partition", 0)), r.get("generation"))
            off = int(r["offset"])
            prev = last_offset.get(stream)
            if prev is not None and off <= prev:
                f.add(
                    "broker-order",
                    t,
                    f"the broker delivered offset {off} of {r['topic']}/{stream[2]} after offset {prev} "
                    "as a first delivery: the order it promises was broken.",
                    anomaly="out-of-order",
                )
            last_offset[stream] = off
    # publishes of transactions that never committed (checked after the whole run)
    seen_phantom: set[str] = set()
    for r in recs:
        if r.get("kind") == "publish" and str(r.get("txn")) not in committed_txns:
            row = str(r["row"])
            if row in seen_phantom:
                continue
            seen_phantom.add(row)
            where = " and was processed by a consumer" if row in processed_rows else ""
            f.add(
                "no-phantom-publish",
                int(r["t"]),
                f"{r['node']} published {r['msg_id']} (row {row}) for transaction {r.get('txn')}, which "
                f"never committed{where}. Publishing outside the local transaction (a dual write) "
                "announces changes that may never happen; write the event to an outbox in the same "
                "transaction instead.",
                anomaly="phantom-publish",
                row=row,
                node=r["node"],
            )
    for r in recs:
        if r.get("kind") == "msg-ack":
            n_ack += 1
            key = (str(r["node"]), str(r["row"]))
            if key not in processed:
                f.add(
                    "ack-after-processing",
                    int(r["t"]),
                    f"{r['node']} acknowledged message {r['msg_id']} (row {r['row']}) but never processed "
                    "that delivery: the broker has forgotten it, so it is lost. Ack only after the "
                    "effect is committed.",
                    anomaly="lost-message",
                    row=r["row"],
                    node=r["node"],
                )
    lost = 0
    for row, (t0, node, mid) in rows.items():
        if row in processed_rows:
            continue
        if t0 > cutoff:
            continue  # still young when the run ended
        what = "delivered but never processed" if row in delivered else "never delivered"
        if quiet and not f.unfinished:
            lost += 1
            f.add(
                "at-least-once",
                t0,
                f"message {mid} (row {row}) committed by {node} at {t0} ms was {what}, although the "
                "run ended with a quiet period in which it should have arrived.",
                anomaly="lost-message",
                row=row,
            )
        else:
            f.unsettled.append(f"{mid} ({what})")
    return f.result(
        f"All {len(rows)} committed outbox rows were published from committed transactions, "
        f"delivered and processed exactly once; all {n_ack} acks followed processing.",
        {"rows": len(rows), "publishes": n_pub, "acks": n_ack, "lost": lost},
    )
