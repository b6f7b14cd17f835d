"""The consuming side of the event log: the consumer service and the dead-letter store.

**ConsumerService** (``n3``) is the one member of consumer group ``n3`` on topic
``events``.  Per partition it processes events strictly in offset order, as a Kafka
consumer must when order matters: a delivery joins its partition's queue, and the head of
the queue is processed (effect, inbox row and a line in the processed log, in one local
transaction), then acknowledged -- the offset commit goes out with the next batch of commits,
after the transaction is durable.  Redeliveries (after a crash, a rebalance, a stalled
commit) find the inbox row and are skipped.  What it processed is what clients see: a
client's ``poll`` returns the next records of the durable *processed log* (with the
rebalances the consumer went through, as Kafka reports them from inside ``poll``), so the
history is the group's consumption as Jepsen's kafka workload records it.

An event that fails processing (a poison event, :func:`~cluster.core.eventlog_config.is_poison`)
is retried after an exponential backoff, ``max_attempts`` times in all, and then
dead-lettered: it goes to the dead-letter topic through the outbox, in the same transaction
as its inbox row and its processed-log line, and the partition moves on.

Flaws: ``commit_before_process`` (the offset is committed on receipt, and processing waits
for the next tick: a crash in between skips the event) and ``retry_poison_forever`` (no
budget, no dead-letter queue: one poison event blocks its partition for good).

**DeadLetterStore** (``n4``) consumes the dead-letter topic and parks each event for an
operator (inbox-deduplicated, like any consumer).

Trace events, besides the shared ``consume``/``msg-ack``/``txn``/``dedup``: ``effect``
(``action`` process, dead-letter or park), ``handled`` {topic, partition, offset, msg_id,
outcome} (what :mod:`analysis.liveness` reads), ``process-failed`` {partition, offset,
attempt} and ``rebalance-seen`` {partition, generation}.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Mapping
from typing import Any

from cluster.core.eventlog_config import (
    BROKER,
    DLQ_TOPIC,
    EVENTS,
    EventLogConfig,
    EventLogFlaws,
    is_poison,
    role_map,
)
from cluster.core.local_store import Txn
from cluster.core.saga_config import SagaFlaws
from cluster.core.saga_messages import Deliver, payload_get, payload_of
from cluster.core.transactional import TransactionalNode
from cluster.core.types import ClientReply, ClientRequest, CoreEvent, Message

__all__ = ["ConsumerService", "DeadLetterStore", "handled_event"]


def handled_event(node: str, d: Deliver, outcome: str) -> CoreEvent:
    """The record :mod:`analysis.liveness` reads: this log position is dealt with."""
    return CoreEvent(node, "handled", {"topic": d.topic, "partition": d.partition, "offset": d.offset,
                                       "msg_id": d.msg_id, "row": d.row, "outcome": outcome})


class ConsumerService(TransactionalNode):
    """In-order processing per partition, retries, dead-lettering, and the processed log."""

    role = "consumer"
    acks_on_next_tick = False  # an event may wait behind its partition's head: ack when done

    def __init__(self, node_id: str, nodes: tuple[str, ...], config: EventLogConfig, rng: random.Random, *,
                 durable: Mapping[str, Any] | None = None, flaws: EventLogFlaws | None = None) -> None:
        self.log_config = config
        self.log_flaws = flaws or EventLogFlaws()
        super().__init__(node_id, nodes, config.broker_config(), rng, durable=durable,
                         flaws=SagaFlaws(ack_before_processing=self.log_flaws.commit_before_process),
                         topic=EVENTS, broker=role_map(nodes)[BROKER])
        self.queues: dict[int, deque[Deliver]] = {}
        self.generations: dict[int, int] = {}
        self.attempts: dict[tuple[int, int], int] = {}
        self.retry_at: dict[int, int] = {}
        self.plog_len = len(self.store.table("plog"))
        self.reported = int(self.store.table("meta").get("reported", 0))

    # --- deliveries (DeliveryHandler) -----------------------------------------------------

    def process(self, d: Deliver, now_ms: int, *, acked: bool) -> None:
        """Queue ``d`` behind its partition's earlier events, then work the queues."""
        p = d.partition
        q = self.queues.setdefault(p, deque())
        if self.generations.get(p) != d.generation:
            # A (re)join: the broker rewound this partition to its committed offset, and what
            # is queued from the old generation comes again (or, committed early, never).
            self.generations[p] = d.generation
            kept = [x for x in q if x.generation == d.generation]
            q.clear()
            q.extend(kept)
            self._append_plog(("rebalance", p, d.generation))
            self.emit("rebalance-seen", partition=p, generation=d.generation)
        if any(x.offset == d.offset for x in q):
            return  # the broker resent what is already queued (its commit timer expired)
        q.append(d)
        self._work()

    def on_tick(self) -> None:
        self._work()

    def _work(self) -> None:
        for p in sorted(self.queues):
            q = self.queues[p]
            while q and self.now >= self.retry_at.get(p, 0):
                if not self._handle(q[0]):
                    break
                q.popleft()

    def _key(self, d: Deliver) -> str:
        return d.msg_id if self.log_config.dedup == "message-id" else f"{d.partition}@{d.offset}"

    def _handle(self, d: Deliver) -> bool:
        """Process the head of a partition; False when it failed and must wait for a retry."""
        key = self._key(d)
        if key in self.inbox():
            self.emit("dedup", msg_id=d.msg_id, row=d.row, redelivered=d.redelivered, partition=d.partition,
                      offset=d.offset)
            self.out.events.append(handled_event(self.node_id, d, "duplicate"))
            self._ack(d)
            return True
        value = payload_get(d.payload, "value")
        if is_poison(value):
            at = (d.partition, d.offset)
            n = self.attempts[at] = self.attempts.get(at, 0) + 1
            self.emit("process-failed", topic=d.topic, partition=d.partition, offset=d.offset, msg_id=d.msg_id,
                      row=d.row, attempt=n, value=value)
            if not self.log_flaws.retry_poison_forever and n >= self.log_config.max_attempts:
                self._finish(d, key, value, "dead-lettered", attempts=n)
                return True
            self.retry_at[d.partition] = self.now + self.log_config.backoff_ms(n)
            return False
        self._finish(d, key, value, "processed")
        return True

    def _finish(self, d: Deliver, key: str, value: Any, outcome: str, attempts: int = 1) -> None:
        """Effect (or dead-letter row), inbox row and processed-log line: one transaction."""
        txn = self.begin()
        txn.put("inbox", key, self.wall)
        p, off = d.partition, d.offset
        if outcome == "processed":
            txn.put("applied", f"{p}@{off}", value)
            action, effect = "process", "applied"
        else:
            self.outbox_row(txn, DLQ_TOPIC, d.key, f"{d.msg_id}:dlq",
                            payload_of(value=value, partition=p, offset=off, attempts=attempts,
                                       reason="processing failed"))
            action, effect = "dead-letter", "dead-lettered"
        self._plog_put(txn, ("rec", p, off, value, outcome))
        txn.events.append(CoreEvent(self.node_id, "effect", {
            "service": "consumer", "action": action, "saga": f"event {value}", "key": d.msg_id, "row": d.row,
            "redelivered": d.redelivered, "outcome": effect, "compensation": False,
            "partition": p, "offset": off}))
        txn.events.append(handled_event(self.node_id, d, outcome))
        self.commit(txn)
        self.attempts.pop((p, off), None)
        self._ack(d)

    def _ack(self, d: Deliver) -> None:
        if not self.log_flaws.commit_before_process:  # the flaw committed it on receipt
            self.consumer.ack(d)

    # --- the processed log and clients -------------------------------------------------------

    def _plog_put(self, txn: Txn, entry: tuple[Any, ...]) -> None:
        txn.put("plog", f"{self.plog_len:09d}", entry)
        self.plog_len += 1

    def _append_plog(self, entry: tuple[Any, ...]) -> None:
        self.out.persist.append(self.store.put("plog", f"{self.plog_len:09d}", entry))
        self.plog_len += 1

    def on_message(self, message: Message) -> None:
        if not isinstance(message, ClientRequest):
            return
        if message.op == "subscribe":
            self._reply(message, "ok", tuple(range(self.log_config.partitions)))
        elif message.op == "poll":
            self._poll(message)
        else:
            self._reply(message, "fail", f"the consumer serves subscribe and poll, not {message.op}")

    def _poll(self, req: ClientRequest) -> None:
        """The processed log after the client's cursor (or, for a client that has none, after
        the last position a client confirmed it had read: a new process resumes there)."""
        if req.value is None:
            start = self.reported
        else:
            start = max(0, int(req.value))
            if start > self.reported:
                self.reported = start
                self.out.persist.append(self.store.put("meta", "reported", start))
        start = min(start, self.plog_len)
        end = min(self.plog_len, start + self.log_config.poll_max)
        plog = self.store.table("plog")
        reads: dict[int, list[tuple[int, Any]]] = {}
        rebalances: list[tuple[str, tuple[int, ...]]] = []
        for pos in range(start, end):
            entry = plog[f"{pos:09d}"]
            if entry[0] == "rec":
                reads.setdefault(int(entry[1]), []).append((int(entry[2]), entry[3]))
            else:
                rebalances.append(("assigned", (int(entry[1]),)))
        value = (tuple((p, tuple(rs)) for p, rs in sorted(reads.items())), end, tuple(rebalances))
        self._reply(req, "ok", value)

    def _reply(self, req: ClientRequest, status: str, value: Any) -> None:
        self.out.replies.append(ClientReply(self.node_id, req.src, req.client_id, req.seq, status, value))


class DeadLetterStore(TransactionalNode):
    """Parks dead-lettered events for an operator; deduplicated by message id."""

    role = "dead-letters"

    def __init__(self, node_id: str, nodes: tuple[str, ...], config: EventLogConfig, rng: random.Random, *,
                 durable: Mapping[str, Any] | None = None) -> None:
        super().__init__(node_id, nodes, config.broker_config(), rng, durable=durable, topic=DLQ_TOPIC,
                         broker=role_map(nodes)[BROKER])

    def handle(self, d: Deliver, txn: Txn) -> None:
        txn.put("parked", d.msg_id, d.payload)
        txn.events.append(CoreEvent(self.node_id, "effect", {
            "service": "dead-letters", "action": "park", "saga": f"event {payload_get(d.payload, 'value')}",
            "key": d.msg_id, "row": d.row, "redelivered": d.redelivered, "outcome": "applied",
            "compensation": False}))
        txn.events.append(handled_event(self.node_id, d, "parked"))

    def on_duplicate(self, d: Deliver) -> None:
        self.out.events.append(handled_event(self.node_id, d, "duplicate"))
