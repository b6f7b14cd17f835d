"""Messages between services, the outbox relay, consumers and the simulated brokers.

This is the whole broker-facing vocabulary, kept small on purpose so that the real runtime
can drive the same pure cores against RabbitMQ or a Kafka-protocol broker with a thin
adapter (see ``docs/sagas.md``, "Driving the cores against a real broker"):

* :class:`Publish`    -- relay -> broker: ``publish(topic, key, payload, msg_id)``; ``row`` is
                         the outbox row id, so a republish after a crash is recognisable.
* :class:`PublishAck` -- broker -> relay: the publisher confirm (message is durable); a
                         log broker says the partition and offset, as Kafka's produce
                         response does.
* :class:`Subscribe`  -- consumer -> broker, every heartbeat: "session ``session`` consumes
                         ``topic``".  A new session id (a restarted consumer) makes the
                         broker requeue (queue) or rewind (log) what the old one held.
* :class:`Deliver`    -- broker -> consumer: ``deliver(msg, redelivered)``.
* :class:`Ack`        -- consumer -> broker: ``ack(tag)`` for the queue; for the log,
                         ``commit(partition, offset + 1)`` where ``tag`` names the offset.
* :class:`CommitFailed` -- log broker -> consumer: a commit from a stale generation was
                         refused (the partition was rebalanced meanwhile).

Every message is a frozen dataclass; ``payload`` is a tuple of ``(name, value)`` pairs so it
stays hashable and JSON-able.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cluster.core.frozen import fast_init
from cluster.core.types import Message

Payload = tuple[tuple[str, Any], ...]


def payload_of(**fields: Any) -> Payload:
    """A payload from keyword arguments, in sorted key order (stable and hashable)."""
    return tuple(sorted(fields.items()))


def payload_get(payload: Payload, name: str, default: Any = None) -> Any:
    for k, v in payload:
        if k == name:
            return v
    return default


@fast_init
@dataclass(frozen=True, slots=True)
class Publish(Message):
    topic: str
    key: str
    msg_id: str
    row: str
    payload: Payload
    partition: int = -1
    """Log broker: the partition to append to; ``-1`` routes by ``crc32(key)``."""
    producer: str = ""
    """Idempotent producer: the producer id ('' for a plain producer)."""
    producer_seq: int = -1
    """Idempotent producer: the sequence number of this message for ``producer``.  A log
    broker appends a ``(producer, producer_seq)`` once; a retry gets the first append's ack."""


@fast_init
@dataclass(frozen=True, slots=True)
class PublishAck(Message):
    row: str
    ok: bool = True
    partition: int = -1
    """Log broker: where the message landed (``-1`` when the broker does not say)."""
    offset: int = -1


@fast_init
@dataclass(frozen=True, slots=True)
class Subscribe(Message):
    topic: str
    session: str


@fast_init
@dataclass(frozen=True, slots=True)
class Deliver(Message):
    topic: str
    partition: int
    offset: int
    tag: str
    msg_id: str
    row: str
    key: str
    payload: Payload
    redelivered: bool
    generation: int = 0
    committed: int = 0
    """Log broker: the group's committed offset when sent, so a consumer can spot a gap."""


@fast_init
@dataclass(frozen=True, slots=True)
class Ack(Message):
    topic: str
    tag: str
    partition: int = 0
    offset: int = -1
    generation: int = 0
    session: str = ""


@fast_init
@dataclass(frozen=True, slots=True)
class CommitFailed(Message):
    topic: str
    partition: int
    generation: int
