"""Publisher and consumer adapters over real brokers, with one small interface.

Why one interface: the saga / outbox / consumer cores are pure state machines that say
"publish this (key, payload, idempotency key)" and "this delivery is handled, ack it".
The driver that runs them should not care whether RabbitMQ or a Kafka-protocol broker
is underneath, so both look like this::

    pub = open_publisher("rabbitmq", url, "orders")          # or "kafka", bootstrap
    pub.publish("order-7", b"...", idempotency_key="order-7/charge")   # returns once
                                                               # the broker confirmed it
    con = open_consumer("rabbitmq", url, "orders", group="billing")
    for d in con.poll(1.0):        # Delivery(key, payload, headers, redelivered, ...)
        handle(d)
        con.ack(d)                 # RabbitMQ: basic.ack;  Kafka: commit offset + 1
    con.abort()                    # crash: drop the connection without acking

Both are deliberately *explicit*: ``publish`` blocks until the broker confirmed (or
raises :class:`PublishFailed`, saying whether the failure is definite), and nothing is
acknowledged unless ``ack`` is called, so a core decides exactly when a message counts
as handled -- the difference between at-least-once and at-most-once is which of
"effect" and "ack" the driver does first.

Semantics that differ and that a core must respect:

* **Redelivery flag.**  RabbitMQ marks a message that was delivered before and not
  acked (``redelivered=True``).  Kafka has no such flag: ``redelivered`` is ``None``
  ("the broker does not say"); a consumer must dedup by idempotency key either way,
  because even RabbitMQ's flag is only a hint (``False`` does not prove "first time"
  after a publisher retry).
* **Ack granularity.**  RabbitMQ acks one message.  Kafka commits a *position* per
  partition: acking offset N also acks every earlier offset of that partition, so ack
  in order within a partition.
* **Ordering.**  Kafka keeps per-key order (one key -> one partition).  RabbitMQ keeps
  queue order only until a redelivery puts a message back at the head.  With
  ``partitions > 1`` the RabbitMQ adapter hashes the key onto ``N`` queues, which gives
  the same per-key routing as Kafka.

Layout: the shared types and helpers are in :mod:`.adapter_types`, the RabbitMQ side in
:mod:`.rabbit_adapters`, the Kafka side in :mod:`.kafka_adapters`; this module holds the
two factories and re-exports the names callers import from here.
"""

from __future__ import annotations

from typing import Any

from .adapter_types import (
    DEFAULT_CONNECT_TIMEOUT,
    IDEMPOTENCY_HEADER,
    KEY_HEADER,
    KINDS,
    Consumer,
    Delivery,
    OutMessage,
    Publisher,
    normalize_kind,
    partition_for,
)
from .kafka_adapters import KafkaConsumer, KafkaPublisher, ensure_topic
from .rabbit_adapters import RabbitConsumer, RabbitPublisher, _redact, rabbit_queue_names

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "IDEMPOTENCY_HEADER",
    "KEY_HEADER",
    "KINDS",
    "Consumer",
    "Delivery",
    "KafkaConsumer",
    "KafkaPublisher",
    "OutMessage",
    "Publisher",
    "RabbitConsumer",
    "RabbitPublisher",
    "_redact",
    "ensure_topic",
    "normalize_kind",
    "open_consumer",
    "open_publisher",
    "partition_for",
    "rabbit_queue_names",
]


def open_publisher(kind: str, address: str, topic: str, **options: Any) -> Publisher:
    """A publisher for ``kind`` at ``address`` (AMQP URL or Kafka bootstrap servers).

    Options: RabbitMQ ``partitions``, ``confirm``, ``connect_timeout``; Kafka
    ``partitions``, ``create_topic``, ``connect_timeout``, ``delivery_timeout``,
    ``linger_ms``.
    """
    k = normalize_kind(kind)
    if k == "rabbitmq":
        return RabbitPublisher(address, topic, **options)
    return KafkaPublisher(address, topic, **options)


def open_consumer(
    kind: str, address: str, topic: str, *, group: str = "splitbrain", **options: Any
) -> RabbitConsumer | KafkaConsumer:
    """A consumer for ``kind`` at ``address``; ``group`` is the Kafka consumer group.

    Options: RabbitMQ ``partitions``, ``prefetch``, ``connect_timeout``; Kafka
    ``session_timeout_ms``, ``connect_timeout``, ``auto_offset_reset``,
    ``fetch_wait_max_ms``.
    """
    k = normalize_kind(kind)
    if k == "rabbitmq":
        return RabbitConsumer(address, topic, group=group, **options)
    return KafkaConsumer(address, topic, group=group, **options)


def probe(kind: str, address: str, timeout: float = 15.0) -> None:
    """Raise :class:`BrokerUnreachable` (one line, within ``timeout``) unless a broker of
    ``kind`` answers at ``address``: a run must not start against a broker that is not there."""
    if normalize_kind(kind) == "rabbitmq":
        from .rabbit_adapters import _rabbit_connect

        conn = _rabbit_connect(address, timeout)
        try:
            conn.close()
        except Exception:  # noqa: BLE001 - the probe succeeded; closing is best effort
            pass
        return
    from .kafka_adapters import _kafka_probe

    _kafka_probe(address, timeout)
