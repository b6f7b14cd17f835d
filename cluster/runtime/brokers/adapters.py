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
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from .errors import (
    BrokerUnreachable,
    ConsumerLost,
    PublishFailed,
    StaleDelivery,
    UnknownBrokerKind,
)

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
    ) -> None:
        """Return once the broker confirmed the message is stored (durably on RabbitMQ,
        acks=all on Kafka); raise :class:`PublishFailed` otherwise."""
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


# ======================================================================================
# RabbitMQ (pika)
# ======================================================================================


def _rabbit_params(url: str, connect_timeout: float) -> Any:
    import pika

    params = pika.URLParameters(url)
    params.connection_attempts = 1
    params.retry_delay = 0
    params.socket_timeout = connect_timeout
    params.stack_timeout = connect_timeout
    params.blocked_connection_timeout = 30
    params.heartbeat = 30
    return params


def _rabbit_connect(url: str, connect_timeout: float) -> Any:
    """A BlockingConnection, or :class:`BrokerUnreachable` in one clear line."""
    import pika
    import pika.exceptions

    # pika logs each failed attempt at ERROR, which would bury our one-line message.
    pika_log = logging.getLogger("pika")
    saved = pika_log.level
    pika_log.setLevel(logging.CRITICAL)
    try:
        return pika.BlockingConnection(_rabbit_params(url, connect_timeout))
    except pika.exceptions.AMQPConnectionError as exc:
        detail = str(exc) or type(exc).__name__
        raise BrokerUnreachable(
            f"cannot reach RabbitMQ at {_redact(url)}: {detail.splitlines()[0][:200]}"
        ) from exc
    except OSError as exc:
        raise BrokerUnreachable(f"cannot reach RabbitMQ at {_redact(url)}: {exc}") from exc
    finally:
        pika_log.setLevel(saved)


def _redact(url: str) -> str:
    """The URL without its password, for error lines."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url


def rabbit_queue_names(topic: str, partitions: int) -> list[str]:
    return [topic] if partitions <= 1 else [f"{topic}.{i}" for i in range(partitions)]


def _declare_queues(channel: Any, topic: str, partitions: int) -> list[str]:
    names = rabbit_queue_names(topic, partitions)
    for name in names:
        channel.queue_declare(queue=name, durable=True)
    return names


class RabbitPublisher:
    """Durable queues, persistent messages (delivery_mode=2), publisher confirms.

    With ``confirm=False`` the channel is not in confirm mode; ``publish`` then returns
    as soon as the bytes are written, which is only for measuring what confirms cost.
    """

    def __init__(
        self,
        url: str,
        topic: str,
        *,
        partitions: int = 1,
        confirm: bool = True,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    ) -> None:
        self.url = url
        self.topic = topic
        self.partitions = partitions
        self.confirm = confirm
        self._conn = _rabbit_connect(url, connect_timeout)
        self._channel = self._conn.channel()
        self._queues = _declare_queues(self._channel, topic, partitions)
        self._tx_channel: Any = None
        self._returned: list[str] = []
        if confirm:
            self._channel.confirm_delivery()

    def _message(
        self, key: str, payload: bytes, headers: Mapping[str, str] | None, idem: str | None
    ) -> tuple[str, Any]:
        import pika

        hdrs = dict(headers or {})
        hdrs[KEY_HEADER] = key
        if idem is not None:
            hdrs[IDEMPOTENCY_HEADER] = idem
        props = pika.BasicProperties(
            delivery_mode=2,
            headers=hdrs,
            message_id=idem,
            content_type="application/octet-stream",
        )
        return self._queues[partition_for(key, self.partitions)], props

    def publish(
        self,
        key: str,
        payload: bytes,
        headers: Mapping[str, str] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> None:
        import pika.exceptions as px

        queue, props = self._message(key, payload, headers, idempotency_key)
        try:
            self._channel.basic_publish(
                exchange="", routing_key=queue, body=payload, properties=props, mandatory=True
            )
        except (px.NackError, px.UnroutableError) as exc:
            raise PublishFailed(
                f"RabbitMQ refused message {key!r}: {type(exc).__name__}", definite=True
            ) from exc
        except (px.AMQPError, OSError) as exc:
            raise PublishFailed(
                f"RabbitMQ publish of {key!r} has unknown outcome: {type(exc).__name__}",
                definite=False,
            ) from exc

    def publish_many(self, messages: Sequence[OutMessage]) -> None:
        """Publish a batch in one AMQP transaction: ``tx.commit`` returns once every
        message of the batch is routed and, being persistent in a durable queue, written
        to disk -- the same guarantee as a confirm each, for one round trip.  (pika's
        blocking channel waits for each confirm, and a channel cannot be in confirm and
        tx mode at once, so batches use a second channel.)"""
        import pika.exceptions as px

        if not messages:
            return
        if not self.confirm:
            for m in messages:
                self.publish(m.key, m.payload, m.headers, idempotency_key=m.idempotency_key)
            return
        returned = self._returned
        returned.clear()
        try:
            if self._tx_channel is None:
                self._tx_channel = self._conn.channel()
                self._tx_channel.tx_select()
                self._tx_channel.add_on_return_callback(
                    lambda _ch, _m, props, _b: returned.append(str(props.message_id))
                )
            for m in messages:
                queue, props = self._message(m.key, m.payload, m.headers, m.idempotency_key)
                self._tx_channel.basic_publish(
                    exchange="",
                    routing_key=queue,
                    body=m.payload,
                    properties=props,
                    mandatory=True,
                )
            self._tx_channel.tx_commit()
            self._conn.process_data_events(time_limit=0)  # dispatch any basic.return
        except (px.AMQPError, OSError) as exc:
            self._tx_channel = None
            raise PublishFailed(
                f"RabbitMQ batch of {len(messages)} has unknown outcome: {type(exc).__name__}",
                definite=False,
            ) from exc
        if returned:
            raise PublishFailed(
                f"RabbitMQ returned {len(returned)} of {len(messages)} messages as unroutable",
                definite=False,
            )

    def close(self) -> None:
        try:
            if self._conn.is_open:
                self._conn.close()
        except Exception:
            pass


class RabbitConsumer:
    """Manual acks with a prefetch window; surfaces RabbitMQ's ``redelivered`` flag.

    ``group`` is accepted for symmetry with Kafka and ignored: competing consumers on
    one queue already share its messages.
    """

    def __init__(
        self,
        url: str,
        topic: str,
        *,
        group: str = "",
        partitions: int = 1,
        prefetch: int = 100,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    ) -> None:
        self.url = url
        self.topic = topic
        self.group = group
        self.partitions = partitions
        self.prefetch = prefetch
        self.connect_timeout = connect_timeout
        self.generation = 0
        self._buffer: list[Delivery] = []
        self._outstanding: set[int] = set()
        self._conn: Any = None
        self._channel: Any = None
        self._open()

    def _open(self) -> None:
        self.generation = next(_GENERATIONS)
        self._buffer = []
        self._outstanding = set()
        self._conn = _rabbit_connect(self.url, self.connect_timeout)
        self._channel = self._conn.channel()
        self._channel.basic_qos(prefetch_count=self.prefetch)
        for index, queue in enumerate(_declare_queues(self._channel, self.topic, self.partitions)):
            self._channel.basic_consume(
                queue=queue,
                on_message_callback=self._make_callback(index),
                auto_ack=False,
            )

    def _make_callback(self, index: int) -> Any:
        generation = self.generation

        def on_message(_ch: Any, method: Any, props: Any, body: bytes) -> None:
            headers = _str_headers(props.headers)
            self._outstanding.add(int(method.delivery_tag))
            self._buffer.append(
                Delivery(
                    topic=self.topic,
                    key=headers.pop(KEY_HEADER, ""),
                    payload=body,
                    headers=headers,
                    redelivered=bool(method.redelivered),
                    partition=index,
                    offset=None,
                    tag=int(method.delivery_tag),
                    generation=generation,
                )
            )

        return on_message

    def poll(self, timeout: float, max_messages: int = 100) -> list[Delivery]:
        import pika.exceptions as px

        deadline = time.monotonic() + timeout
        try:
            while not self._buffer:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._conn.process_data_events(time_limit=left)
            if self._buffer:
                self._conn.process_data_events(time_limit=0)
        except (px.AMQPError, OSError) as exc:
            raise ConsumerLost(f"RabbitMQ consumer connection lost: {type(exc).__name__}") from exc
        out, self._buffer = self._buffer[:max_messages], self._buffer[max_messages:]
        return out

    def _check(self, d: Delivery) -> None:
        if d.generation != self.generation:
            raise StaleDelivery(
                f"delivery {d.tag} came from consumer connection {d.generation}, "
                f"now on {self.generation}; the broker will redeliver it"
            )

    def ack(self, delivery: Delivery) -> None:
        import pika.exceptions as px

        self._check(delivery)
        try:
            self._channel.basic_ack(delivery_tag=delivery.tag)
        except (px.AMQPError, OSError) as exc:
            raise ConsumerLost(f"RabbitMQ ack failed: {type(exc).__name__}") from exc
        self._outstanding.discard(delivery.tag)

    def ack_many(self, deliveries: Iterable[Delivery]) -> None:
        """Ack a batch.  One ``multiple=True`` frame when the batch holds every outstanding
        tag up to its highest (the usual case: ack what one poll returned), because
        ``multiple`` acks *all* earlier tags; otherwise one frame per message."""
        import pika.exceptions as px

        batch = list(deliveries)
        if not batch:
            return
        for d in batch:
            self._check(d)
        tags = {d.tag for d in batch}
        top = max(tags)
        try:
            if {t for t in self._outstanding if t <= top} == tags:
                self._channel.basic_ack(delivery_tag=top, multiple=True)
            else:
                for t in sorted(tags):
                    self._channel.basic_ack(delivery_tag=t)
        except (px.AMQPError, OSError) as exc:
            raise ConsumerLost(f"RabbitMQ ack failed: {type(exc).__name__}") from exc
        self._outstanding -= tags

    def nack(self, delivery: Delivery, *, requeue: bool = True) -> None:
        """Give a message back (requeue) or drop it; it comes back with redelivered=True."""
        self._check(delivery)
        self._channel.basic_nack(delivery_tag=delivery.tag, requeue=requeue)
        self._outstanding.discard(delivery.tag)

    def abort(self) -> None:
        """Crash: the connection goes away with messages unacked; RabbitMQ requeues them
        and the next consumer sees ``redelivered=True``."""
        conn = self._conn
        self._conn = self._channel = None
        self._buffer = []
        _hard_close_pika(conn)

    def reopen(self) -> None:
        """A fresh connection (a restarted consumer); old deliveries become stale."""
        self.abort()
        self._open()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        try:
            if conn is not None and conn.is_open:
                conn.close()
        except Exception:
            pass


def _hard_close_pika(conn: Any) -> None:
    """Close the socket under a pika connection without the AMQP goodbye, like a killed
    process would; falls back to a normal close (same effect on unacked messages)."""
    if conn is None:
        return
    sock = None
    try:
        sock = conn._impl._transport._sock  # private, best effort
    except AttributeError:
        sock = None
    try:
        if sock is not None:
            import socket

            sock.shutdown(socket.SHUT_RDWR)
            sock.close()
    except OSError:
        pass
    try:
        conn.close()
    except Exception:
        pass


# ======================================================================================
# Kafka protocol (confluent-kafka)
# ======================================================================================


def _tcp_precheck(bootstrap: str, timeout: float) -> None:
    """Fail at once when no bootstrap address accepts TCP (librdkafka would retry
    quietly until the timeout); a broker that accepts TCP is then asked for metadata."""
    import socket

    errors: list[str] = []
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection(
                (host.strip("[]") or "127.0.0.1", int(port)), timeout=min(timeout, 5.0)
            ):
                return
        except (OSError, ValueError) as exc:
            errors.append(
                f"{server.strip()}: {exc.strerror if isinstance(exc, OSError) and exc.strerror else exc}"
            )
    raise BrokerUnreachable(
        f"cannot reach a Kafka-protocol broker at {bootstrap}: {'; '.join(errors)}"
    )


def _kafka_probe(bootstrap: str, timeout: float) -> Any:
    """An AdminClient that has answered a metadata request, or :class:`BrokerUnreachable`."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    _tcp_precheck(bootstrap, timeout)
    admin = AdminClient(
        {
            "bootstrap.servers": bootstrap,
            "socket.timeout.ms": int(min(timeout, 10) * 1000),
            "log_level": 0,  # a probe: its failure is reported in one line below
        }
    )
    try:
        admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise BrokerUnreachable(
            f"cannot reach a Kafka-protocol broker at {bootstrap} within {timeout:.0f} s: "
            f"{exc.args[0] if exc.args else exc}"
        ) from exc
    return admin


def ensure_topic(
    bootstrap: str, topic: str, partitions: int, *, timeout: float = DEFAULT_CONNECT_TIMEOUT
) -> None:
    """Create ``topic`` with ``partitions`` partitions unless it exists, and wait until
    metadata shows them (a producer that races topic creation may auto-create a
    one-partition topic and break per-key routing)."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import NewTopic

    admin = _kafka_probe(bootstrap, timeout)
    md = admin.list_topics(timeout=timeout)
    if topic not in md.topics or md.topics[topic].error is not None:
        futures = admin.create_topics(
            [NewTopic(topic, num_partitions=partitions, replication_factor=1)],
            request_timeout=timeout,
        )
        for fut in futures.values():
            try:
                fut.result(timeout=timeout)
            except KafkaException as exc:
                if "TOPIC_ALREADY_EXISTS" not in str(exc) and "already exists" not in str(exc):
                    raise
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        md = admin.list_topics(topic=topic, timeout=timeout)
        t = md.topics.get(topic)
        if t is not None and t.error is None and len(t.partitions) >= 1:
            return
        time.sleep(0.1)
    raise BrokerUnreachable(f"topic {topic!r} did not appear on {bootstrap} within {timeout:.0f} s")


class KafkaPublisher:
    """Idempotent producer (``enable.idempotence``, ``acks=all``), keyed by aggregate id.

    ``publish`` waits for the delivery report of that one message; ``publish_many``
    produces a batch and waits once, which is how a relay should drain an outbox.
    """

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        *,
        partitions: int = 3,
        create_topic: bool = True,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        delivery_timeout: float = 30.0,
        linger_ms: int = 1,
    ) -> None:
        from confluent_kafka import Producer

        self.bootstrap = bootstrap
        self.topic = topic
        self.delivery_timeout = delivery_timeout
        if create_topic:
            ensure_topic(bootstrap, topic, partitions, timeout=connect_timeout)
        else:
            _kafka_probe(bootstrap, connect_timeout)
        self._producer: Any = Producer(
            {
                "bootstrap.servers": bootstrap,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": linger_ms,
                "message.timeout.ms": int(delivery_timeout * 1000),
            }
        )

    def _produce(self, m: OutMessage, errors: list[str]) -> None:
        if self._producer is None:
            raise PublishFailed("Kafka publisher is closed", definite=True)
        hdrs = dict(m.headers)
        if m.idempotency_key is not None:
            hdrs[IDEMPOTENCY_HEADER] = m.idempotency_key

        def report(err: Any, _msg: Any) -> None:
            if err is not None:
                errors.append(f"{m.key}: {err}")

        while True:
            try:
                self._producer.produce(
                    self.topic,
                    key=m.key.encode(),
                    value=m.payload,
                    headers=list(hdrs.items()),
                    on_delivery=report,
                )
                return
            except BufferError:  # local queue full: let deliveries drain
                self._producer.poll(0.05)

    def _wait(self, errors: list[str], what: str) -> None:
        if self._producer is None:
            raise PublishFailed("Kafka publisher is closed", definite=True)
        left = self._producer.flush(self.delivery_timeout + 5)
        if left:
            raise PublishFailed(
                f"Kafka publish of {what} not confirmed in time ({left} pending)", definite=False
            )
        if errors:
            # After retries, an idempotent producer's error leaves the outcome unknown.
            raise PublishFailed(f"Kafka publish failed: {errors[0]}", definite=False)

    def publish(
        self,
        key: str,
        payload: bytes,
        headers: Mapping[str, str] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> None:
        errors: list[str] = []
        self._produce(OutMessage(key, payload, headers or {}, idempotency_key), errors)
        self._wait(errors, repr(key))

    def publish_many(self, messages: Sequence[OutMessage]) -> None:
        errors: list[str] = []
        for m in messages:
            self._produce(m, errors)
        self._wait(errors, f"{len(messages)} messages")

    def close(self) -> None:
        """Flush what is queued, then drop the producer (librdkafka has no explicit close;
        destroying it stops its threads and reconnect attempts)."""
        producer, self._producer = self._producer, None
        if producer is not None:
            producer.flush(5)


class KafkaConsumer:
    """Consumer-group member with manual commits (``enable.auto.commit=false``).

    ``session_timeout_ms`` defaults low (6000): Tansu makes a first join wait about half
    of it, and a crashed member's partitions move only after it expires.
    """

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        *,
        group: str,
        session_timeout_ms: int = 6000,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        auto_offset_reset: str = "earliest",
        fetch_wait_max_ms: int = 50,
    ) -> None:
        self.bootstrap = bootstrap
        self.fetch_wait_max_ms = fetch_wait_max_ms
        self.topic = topic
        self.group = group
        self.session_timeout_ms = session_timeout_ms
        self.auto_offset_reset = auto_offset_reset
        self.generation = 0
        _kafka_probe(bootstrap, connect_timeout)
        self._pending: list[Delivery] = []
        self._consumer: Any = None
        self._lock = threading.Lock()
        self._open()

    def _open(self) -> None:
        from confluent_kafka import Consumer as CKConsumer

        self.generation = next(_GENERATIONS)
        self._consumer = CKConsumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": self.group,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": self.auto_offset_reset,
                "session.timeout.ms": self.session_timeout_ms,
                "heartbeat.interval.ms": max(100, self.session_timeout_ms // 6),
                "enable.partition.eof": False,
                # librdkafka's default (500 ms) adds up to half a second of latency
                # whenever a partition is idle; a local broker can answer sooner.
                "fetch.wait.max.ms": self.fetch_wait_max_ms,
            }
        )
        self._consumer.subscribe([self.topic])

    def poll(self, timeout: float, max_messages: int = 100) -> list[Delivery]:
        from confluent_kafka import KafkaError

        if self._consumer is None:
            raise ConsumerLost("Kafka consumer is closed")
        if self._pending:
            out, self._pending = self._pending[:max_messages], self._pending[max_messages:]
            return out
        msgs = self._consumer.consume(num_messages=max_messages, timeout=timeout)
        out = []
        for m in msgs:
            err = m.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    continue
                if err.fatal():
                    raise ConsumerLost(f"Kafka consumer failed: {err.str()}")
                continue  # transient (e.g. a broker hiccup): librdkafka retries
            key = m.key()
            out.append(
                Delivery(
                    topic=m.topic(),
                    key=key.decode() if isinstance(key, bytes) else (key or ""),
                    payload=m.value() or b"",
                    headers=_str_headers(dict(m.headers() or [])),
                    redelivered=None,
                    partition=int(m.partition()),
                    offset=int(m.offset()),
                    tag=int(m.offset()),
                    generation=self.generation,
                )
            )
        return out

    def wait_assigned(self, timeout: float = 20.0) -> bool:
        """Poll until the group gave this member partitions (Tansu takes ~half the session
        timeout on a first join).  Messages that arrive meanwhile are kept for ``poll``.
        Returns False if nothing was assigned within ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._consumer is None:
                raise ConsumerLost("Kafka consumer is closed")
            if self._consumer.assignment():
                return True
            self._pending += self.poll(0.2)
        return bool(self._consumer is not None and self._consumer.assignment())

    def _check(self, d: Delivery) -> None:
        if d.generation != self.generation or self._consumer is None:
            raise StaleDelivery(
                f"offset {d.offset} came from consumer instance {d.generation}, "
                f"now on {self.generation}; it will be redelivered from the last commit"
            )

    def ack(self, delivery: Delivery) -> None:
        self.ack_many([delivery])

    def ack_many(self, deliveries: Iterable[Delivery]) -> None:
        """Synchronously commit, per partition, the highest offset + 1 in the batch."""
        from confluent_kafka import KafkaException, TopicPartition

        upto: dict[tuple[str, int], int] = {}
        for d in deliveries:
            self._check(d)
            assert d.offset is not None
            k = (d.topic, d.partition)
            upto[k] = max(upto.get(k, -1), d.offset)
        if not upto:
            return
        offsets = [TopicPartition(t, p, o + 1) for (t, p), o in upto.items()]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            raise ConsumerLost(f"Kafka commit failed: {exc.args[0] if exc.args else exc}") from exc

    commit = ack

    def commit_position(
        self, topic: str, partition: int, next_offset: int, generation: int
    ) -> None:
        """Commit "next to read is ``next_offset``" for one partition, as a core's
        ``Ack(partition, offset)`` says; refused (:class:`StaleDelivery`) when
        ``generation`` is not this consumer instance's."""
        from confluent_kafka import KafkaException, TopicPartition

        if generation != self.generation or self._consumer is None:
            raise StaleDelivery(
                f"commit for generation {generation}, consumer is at {self.generation}"
            )
        try:
            self._consumer.commit(
                offsets=[TopicPartition(topic, partition, next_offset)], asynchronous=False
            )
        except KafkaException as exc:
            raise ConsumerLost(f"Kafka commit failed: {exc.args[0] if exc.args else exc}") from exc

    def abort(self) -> None:
        """Crash: leave without committing.  (``close`` also leaves the group at once, so
        the next member gets the partitions without waiting for the session timeout;
        a real crash would add that wait.)"""
        consumer, self._consumer = self._consumer, None
        self._pending = []
        if consumer is not None:
            try:
                consumer.close()
            except Exception:
                pass

    def reopen(self) -> None:
        """A restarted member of the same group: resumes from the last commit."""
        self.abort()
        self._open()

    def close(self) -> None:
        self.abort()


# ======================================================================================
# factories
# ======================================================================================


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
