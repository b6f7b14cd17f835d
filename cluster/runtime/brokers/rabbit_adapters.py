"""RabbitMQ (pika) publisher and consumer behind the :mod:`.adapters` interface.

Why a separate module: everything that knows AMQP -- connection parameters, durable
(optionally key-partitioned) queues, publisher confirms and tx batches, manual acks with
the ``redelivered`` flag, and the hard socket close that simulates a crashed consumer --
lives here, apart from the Kafka side.  Use :func:`.adapters.open_publisher` /
:func:`.adapters.open_consumer` rather than these classes directly.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .adapter_types import (
    _GENERATIONS,
    DEFAULT_CONNECT_TIMEOUT,
    IDEMPOTENCY_HEADER,
    KEY_HEADER,
    Delivery,
    OutMessage,
    _str_headers,
    partition_for,
)
from .errors import BrokerUnreachable, ConsumerLost, PublishFailed, StaleDelivery


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
        partition: int | None = None,
    ) -> tuple[int, int] | None:
        """Publish with a confirm; RabbitMQ has no offsets, so nothing to return.
        (``partition`` is ignored: a message's queue follows its key.)"""
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
        return None

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
