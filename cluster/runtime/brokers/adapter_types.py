"""Shared vocabulary of the real-broker adapters: messages, protocols, small helpers.

Why a separate module: :mod:`.rabbit_adapters` and :mod:`.kafka_adapters` both build
:class:`Delivery` values, honour the same :class:`Publisher` / :class:`Consumer`
protocols and header names, and draw connection generations from one counter; keeping
those here lets each broker module import them without importing the other (and without
pulling in pika or confluent-kafka).  :mod:`.adapters` re-exports everything.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from .errors import UnknownBrokerKind

#: Broker kinds :func:`open_publisher` / :func:`open_consumer` know.  ``tansu`` is an
#: alias of ``kafka`` (Tansu speaks the Kafka protocol).
KINDS = ("rabbitmq", "kafka")
_ALIASES = {"rabbitmq": "rabbitmq", "amqp": "rabbitmq", "kafka": "kafka", "tansu": "kafka"}
#: Header that carries the idempotency key on both brokers.
IDEMPOTENCY_HEADER = "idempotency-key"
#: Header that carries the aggregate key on RabbitMQ (Kafka has a real message key).
KEY_HEADER = "sb-key"
#: Connection generations are unique across all consumers of this process, so a delivery
#: can never be acked through a different connection than the one it came from.
_GENERATIONS = itertools.count(1)
#: Seconds within which an unreachable broker is reported (the requirement is 30).
DEFAULT_CONNECT_TIMEOUT = 10.0


def normalize_kind(kind: str) -> str:
    """``kind`` as one of :data:`KINDS`, or :class:`UnknownBrokerKind` listing them."""
    try:
        return _ALIASES[kind.lower()]
    except KeyError:
        raise UnknownBrokerKind(
            f"unknown broker kind {kind!r}; known kinds: {', '.join(KINDS)} "
            "(aliases: amqp -> rabbitmq, tansu -> kafka)"
        ) from None


@dataclass(frozen=True)
class Delivery:
    """One message handed to a consumer.

    ``partition``/``offset`` are Kafka's (``offset`` is ``None`` on RabbitMQ, where
    ``partition`` is the queue index).  ``tag`` is the broker handle used by ``ack``;
    ``generation`` tells which connection of the consumer it came from, so an ack for a
    delivery from a dead connection fails loudly (:class:`StaleDelivery`) instead of
    acking some other message.
    """

    topic: str
    key: str
    payload: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    redelivered: bool | None = None
    partition: int = 0
    offset: int | None = None
    tag: int = 0
    generation: int = 0

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get(IDEMPOTENCY_HEADER)


@dataclass(frozen=True)
class OutMessage:
    """A message to publish (used by :meth:`Publisher.publish_many`)."""

    key: str
    payload: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    idempotency_key: str | None = None


@runtime_checkable
class Publisher(Protocol):
    """Publishes with a broker confirm; one per thread."""

    topic: str

    def publish(
        self,
        key: str,
        payload: bytes,
        headers: Mapping[str, str] | None = None,
        *,
        idempotency_key: str | None = None,
        partition: int | None = None,
    ) -> tuple[int, int] | None:
        """Return once the broker confirmed the message is stored (durably on RabbitMQ,
        acks=all on Kafka), with where it landed when the broker says (Kafka:
        ``(partition, offset)``; ``partition`` picks it instead of the key); raise
        :class:`PublishFailed` otherwise."""
        ...

    def publish_many(self, messages: Sequence[OutMessage]) -> None:
        """Publish a batch and wait for all confirms (faster; same guarantee per message,
        but on failure the caller cannot tell which ones landed: treat all as unknown)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Consumer(Protocol):
    """Consumes with manual acknowledgement; one per thread."""

    topic: str

    def poll(self, timeout: float, max_messages: int = 100) -> list[Delivery]:
        """Wait up to ``timeout`` seconds for at least one delivery; return what arrived."""
        ...

    def ack(self, delivery: Delivery) -> None:
        """Mark ``delivery`` handled (RabbitMQ basic.ack / Kafka synchronous commit)."""
        ...

    def ack_many(self, deliveries: Iterable[Delivery]) -> None:
        """Ack several at once (one round trip where the broker allows it)."""
        ...

    def abort(self) -> None:
        """Simulate a consumer crash: drop the connection without acking anything."""
        ...

    def close(self) -> None: ...


def _str_headers(raw: Mapping[str, Any] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in (raw or {}).items():
        out[str(k)] = v.decode() if isinstance(v, bytes) else str(v)
    return out


def partition_for(key: str, partitions: int) -> int:
    """Stable key -> partition index (crc32), used for RabbitMQ's partitioned queues."""
    return zlib.crc32(key.encode()) % partitions if partitions > 1 else 0
