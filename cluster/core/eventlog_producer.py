"""The producer service: clients ``send`` events to it; it appends them to the log.

Each ``send`` (a client request ``send [partition, value]``) is committed to the node's
outbox in one local transaction, and the outbox relay publishes it to the broker until the
broker confirms; the confirm says the partition and offset, and the client is answered
``ok [partition, [offset, value]]``, what a Kafka producer's delivery report says.  A crash
before the confirm leaves the client with ``info`` (it cannot tell), and the restarted relay
publishes the committed row again.

Republishing is the whole story of idempotence.  When a confirm is lost, the relay cannot
tell a lost publish from a lost acknowledgement, so it publishes again:

* the correct design is an **idempotent producer**: every row gets a producer id and a
  sequence number when it is committed, and every republish carries the same pair; the
  broker appends a pair once and answers a retry with the first append's offset;
* flaw ``producer_without_idempotence``: the republish is a new record, so a lost
  acknowledgement leaves the event twice in the log.

The producer id is fixed per incarnation and stored with each row, so a row republished
after a restart is still recognised (Kafka needs a ``transactional.id`` for that; a plain
idempotent producer gets a new id per session).

Trace events: ``txn`` (the outbox commit, read by the delivery checker), ``publish`` (the
relay's), ``produced`` {topic, partition, offset, msg_id, row} once the broker confirmed.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cluster.core.eventlog_config import BROKER, EVENTS, EventLogConfig, EventLogFlaws, role_map
from cluster.core.local_store import LocalStore, Txn
from cluster.core.outbox import OutboxRelay, OutboxRow
from cluster.core.saga_messages import PublishAck, payload_of
from cluster.core.types import ClientReply, ClientRequest, CoreEvent, Message, Ready, ReadyBuilder

__all__ = ["ProducerService"]


@dataclass(frozen=True, slots=True)
class _Waiting:
    """A client waiting for its event's confirm."""

    src: str
    client_id: str
    seq: int
    partition: int
    value: Any


class ProducerService:
    """Outbox + relay + the clients waiting on their confirms."""

    role = "producer"

    def __init__(self, node_id: str, nodes: tuple[str, ...], config: EventLogConfig, rng: random.Random, *,
                 durable: Mapping[str, Any] | None = None, flaws: EventLogFlaws | None = None) -> None:
        self.node_id = node_id
        self.config = config
        self.flaws = flaws or EventLogFlaws()
        self.broker = role_map(nodes)[BROKER]
        self.epoch = f"{rng.getrandbits(32):08x}"
        self.out = ReadyBuilder()
        self.store = LocalStore(durable)
        self.relay = OutboxRelay(node_id, self.broker, config.broker_config(), self.out)
        self.relay.load(self.store.table("outbox").values())
        self.producer_id = "" if self.flaws.producer_without_idempotence else f"{node_id}-{self.epoch}"
        self._seq = 0
        self._counter = 0
        self._waiting: dict[str, _Waiting] = {}  # outbox row -> the client to answer
        self.now = 0

    # --- Core protocol ------------------------------------------------------------------------

    def tick(self, now_ms: int, wall_ms: int | None = None) -> None:
        self.now = now_ms
        self.relay.poll(now_ms)

    def step(self, message: Message) -> None:
        if isinstance(message, PublishAck):
            self._on_confirm(message)
        elif isinstance(message, ClientRequest):
            self._on_request(message)

    def ready(self) -> Ready:
        return self.out.take()

    # --- internals ----------------------------------------------------------------------------

    def _new_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}-{self.node_id}-{self.epoch}-{self._counter}"

    def _on_request(self, req: ClientRequest) -> None:
        if req.op != "send" or not isinstance(req.value, (list, tuple)) or len(req.value) != 2:
            self.out.replies.append(ClientReply(self.node_id, req.src, req.client_id, req.seq, "fail",
                                                f"the producer serves send [partition, value], not {req.op}"))
            return
        partition, value = int(req.value[0]), req.value[1]
        txn = Txn(self._new_id("tx"))
        seq = -1
        if self.producer_id:
            self._seq += 1
            seq = self._seq
        row = OutboxRow(self._new_id("row"), EVENTS, f"p{partition}", self._new_id("m"),
                        payload_of(value=value, partition=partition), txn.id, partition, self.producer_id, seq)
        txn.put("outbox", row.row, row)
        self.out.persist.extend(self.store.apply(txn))
        self.out.events.append(CoreEvent(self.node_id, "txn", {"txn": txn.id, "rows": [row.row],
                                                               "msg_ids": [row.msg_id], "writes": 1}))
        self.relay.add(row)
        self._waiting[row.row] = _Waiting(req.src, req.client_id, req.seq, partition, value)

    def _on_confirm(self, ack: PublishAck) -> None:
        row = self.relay.pending.get(ack.row)
        self.relay.on_ack(ack)
        if row is not None:
            self.out.events.append(CoreEvent(self.node_id, "produced", {
                "topic": row.topic, "partition": ack.partition, "offset": ack.offset, "msg_id": row.msg_id,
                "row": row.row, "value": dict(row.payload).get("value")}))
        waiting = self._waiting.pop(ack.row, None)
        if waiting is None:
            return  # a confirm for a row whose client is gone (answered, or before a restart)
        if not ack.ok:
            self.out.replies.append(ClientReply(self.node_id, waiting.src, waiting.client_id, waiting.seq, "fail"))
            return
        offset = ack.offset if ack.offset >= 0 else None
        self.out.replies.append(ClientReply(self.node_id, waiting.src, waiting.client_id, waiting.seq, "ok",
                                            (waiting.partition, (offset, waiting.value))))
