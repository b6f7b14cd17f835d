"""Kafka-protocol (confluent-kafka) publisher, consumer and topic helpers.

Why a separate module: the Kafka side -- reachability probe, topic creation with a fixed
partition count, the idempotent ``acks=all`` producer and the manual-commit consumer-group
member -- works against any Kafka-protocol broker (Tansu in the tests) and shares nothing
with pika but the types in :mod:`.adapter_types`.  Use :func:`.adapters.open_publisher` /
:func:`.adapters.open_consumer` rather than these classes directly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .adapter_types import (
    _GENERATIONS,
    DEFAULT_CONNECT_TIMEOUT,
    IDEMPOTENCY_HEADER,
    Delivery,
    OutMessage,
    _str_headers,
)
from .errors import BrokerUnreachable, ConsumerLost, PublishFailed, StaleDelivery


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

    ``publish`` waits for the delivery report of that one message and returns where it
    landed, ``(partition, offset)``; ``publish_many`` produces a batch and waits once, which
    is how a relay should drain an outbox.  ``idempotent=False`` opens a plain producer,
    whose retries may append a message twice.
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
        idempotent: bool = True,
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
                "enable.idempotence": idempotent,
                "acks": "all",
                "linger.ms": linger_ms,
                "message.timeout.ms": int(delivery_timeout * 1000),
            }
        )

    def _produce(self, m: OutMessage, errors: list[str], landed: list[tuple[int, int]] | None = None,
                 partition: int | None = None) -> None:
        if self._producer is None:
            raise PublishFailed("Kafka publisher is closed", definite=True)
        hdrs = dict(m.headers)
        if m.idempotency_key is not None:
            hdrs[IDEMPOTENCY_HEADER] = m.idempotency_key

        def report(err: Any, msg: Any) -> None:
            if err is not None:
                errors.append(f"{m.key}: {err}")
            elif landed is not None:
                landed.append((int(msg.partition()), int(msg.offset())))

        where = {} if partition is None else {"partition": partition}
        while True:
            try:
                self._producer.produce(
                    self.topic,
                    key=m.key.encode(),
                    value=m.payload,
                    headers=list(hdrs.items()),
                    on_delivery=report,
                    **where,
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
        partition: int | None = None,
    ) -> tuple[int, int] | None:
        """Produce one message (to ``partition``, or by key) and wait for its delivery
        report; returns ``(partition, offset)``."""
        errors: list[str] = []
        landed: list[tuple[int, int]] = []
        self._produce(OutMessage(key, payload, headers or {}, idempotency_key), errors, landed, partition)
        self._wait(errors, repr(key))
        return landed[0] if landed else None

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
