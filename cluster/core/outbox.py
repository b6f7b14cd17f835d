"""The outbox relay: publish committed outbox rows, then mark them published.

The relay is the only way a message leaves a service in the correct design.  It polls the
outbox every ``relay_interval_ms`` for rows not yet marked published, publishes each one
(``Publish`` to the broker), and when the broker confirms (``PublishAck``, a publisher
confirm) marks the row published in a durable write.  A crash after the publish and before
the mark means the row is published *again* after restart: that is the point, and why every
consumer needs an inbox.  An unconfirmed publish is retried after ``confirm_timeout_ms``.

The relay is a sans-IO component owned by a node: it writes into the node's ``ReadyBuilder``
and never reads a clock.  It knows the rows it publishes (:class:`OutboxRow`) and two
timings, nothing of the node or the store that holds the rows.  Trace events:

* ``publish``   {row, msg_id, topic, key, attempt, direct} -- sent to the broker;
* ``published`` {row, msg_id} -- confirmed and marked (durably) in the outbox.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from cluster.core.saga_messages import Payload, Publish, PublishAck
from cluster.core.types import CoreEvent, Put, ReadyBuilder

__all__ = ["OutboxRelay", "OutboxRow", "RelayTimings"]


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """A message waiting in the outbox: committed with the change it announces."""

    row: str
    topic: str
    key: str
    msg_id: str
    payload: Payload
    txn: str
    partition: int = -1
    """The partition to publish to (``-1``: the broker routes by key)."""
    producer: str = ""
    """Idempotent publishing: the producer id and this row's sequence number, fixed when the
    row is committed, so every republish of the row carries the same pair."""
    producer_seq: int = -1


class RelayTimings(Protocol):
    """The two timings the relay reads (``SagaConfig`` has them)."""

    @property
    def relay_interval_ms(self) -> int:
        """How often the outbox is polled for unpublished rows."""

    @property
    def confirm_timeout_ms(self) -> int:
        """How long a publish may go unconfirmed before it is sent again."""


class OutboxRelay:
    """Publishes one node's outbox rows until the broker confirms each."""

    def __init__(self, node_id: str, broker: str, config: RelayTimings, out: ReadyBuilder) -> None:
        self.node_id = node_id
        self.broker = broker
        self.config = config
        self.out = out
        self.pending: dict[str, OutboxRow] = {}  # insertion order = commit order
        self._sent_at: dict[str, int] = {}
        self._attempts: dict[str, int] = {}
        self._last_poll: int | None = None

    def load(self, rows: Iterable[OutboxRow]) -> None:
        """Rows found in the durable outbox at restart (published ones are stored as None)."""
        for row in sorted(rows, key=lambda r: (r.txn, r.row)):
            self.pending[row.row] = row

    def add(self, row: OutboxRow) -> None:
        """A row just committed: publish it at the next poll."""
        self.pending[row.row] = row

    def poll(self, now_ms: int) -> None:
        if self._last_poll is not None and now_ms - self._last_poll < self.config.relay_interval_ms:
            return
        self._last_poll = now_ms
        for rid, row in self.pending.items():
            sent = self._sent_at.get(rid)
            if sent is not None and now_ms - sent < self.config.confirm_timeout_ms:
                continue
            self._sent_at[rid] = now_ms
            self._publish(row, direct=False)

    def publish_direct(self, row: OutboxRow) -> None:
        """Dual write: publish without an outbox row (nothing to retry, nothing to mark)."""
        self._publish(row, direct=True)

    def _publish(self, row: OutboxRow, *, direct: bool) -> None:
        n = self._attempts.get(row.row, 0) + 1
        self._attempts[row.row] = n
        self.out.messages.append(
            Publish(self.node_id, self.broker, row.topic, row.key, row.msg_id, row.row, row.payload,
                    row.partition, row.producer, row.producer_seq)
        )
        self.out.events.append(
            CoreEvent(
                self.node_id,
                "publish",
                {
                    "row": row.row,
                    "msg_id": row.msg_id,
                    "topic": row.topic,
                    "key": row.key,
                    "txn": row.txn,
                    "attempt": n,
                    "direct": direct,
                },
            )
        )

    def on_ack(self, ack: PublishAck) -> None:
        row = self.pending.pop(ack.row, None)
        self._sent_at.pop(ack.row, None)
        self._attempts.pop(ack.row, None)
        if row is None:
            return  # a confirm for a row already marked (or a direct publish)
        self.out.persist.append(Put(f"outbox/{row.row}", None))
        self.out.events.append(CoreEvent(self.node_id, "published", {"row": row.row, "msg_id": row.msg_id}))
