"""Maps the saga cores' broker vocabulary onto the real-broker adapters.

The outbox relay and consumer cores (``cluster/core/outbox.py``, ``consumer.py``) talk to
"the broker" only through the messages of ``cluster/core/saga_messages.py``: ``Publish``
-> ``PublishAck``, ``Subscribe``, ``Deliver``, ``Ack`` -> ``CommitFailed``.  A driver that
runs those cores against RabbitMQ or Tansu hands every such message to a
:class:`BrokerBridge` and feeds back what it returns; nothing in the cores changes.

Why a separate module: the adapters stay independent of the cores (usable by a bench or
another driver), and this file is the one place that knows both vocabularies, following
the table in ``docs/sagas.md`` ("Driving the cores against a real broker").

Encoding on the wire: the payload (a tuple of ``(name, value)`` pairs) is JSON; ``msg_id``
travels as the idempotency key and ``row`` as a header, so a republished row is
recognisable on both brokers.
"""

from __future__ import annotations

import json
from typing import Any

from cluster.core.saga_messages import (
    Ack,
    CommitFailed,
    Deliver,
    Payload,
    Publish,
    PublishAck,
    Subscribe,
)

from .adapters import (
    Delivery,
    KafkaConsumer,
    Publisher,
    RabbitConsumer,
    ensure_topic,
    normalize_kind,
    open_consumer,
    open_publisher,
)
from .errors import ConsumerLost, PublishFailed, StaleDelivery

ROW_HEADER = "sb-row"


def encode_payload(payload: Payload) -> bytes:
    return json.dumps([list(p) for p in payload], separators=(",", ":")).encode()


def _tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def decode_payload(raw: bytes) -> Payload:
    """Inverse of :func:`encode_payload`; JSON lists come back as tuples (hashable)."""
    pairs = json.loads(raw.decode()) if raw else []
    return tuple((str(k), _tuples(v)) for k, v in pairs)


class BrokerBridge:
    """One broker as the cores see it (``broker`` is its node id in their messages).

    ``publisher`` serves ``Publish`` from any node; ``consumers`` maps a consuming node id
    to its adapter consumer.  Use :meth:`poll` to turn deliveries into ``Deliver``
    messages and :meth:`on_ack` for the cores' ``Ack``.
    """

    def __init__(
        self,
        broker: str,
        publisher: Publisher | None = None,
        consumers: dict[str, RabbitConsumer | KafkaConsumer] | None = None,
        *,
        kind: str | None = None,
        address: str | None = None,
        namespace: str = "",
        partitions: int = 2,
        consumer_options: dict[str, Any] | None = None,
    ) -> None:
        self.broker = broker
        self.kind = kind
        self.address = address
        self.namespace = namespace
        self.partitions = partitions
        self.consumer_options = dict(consumer_options or {})
        self.publisher = publisher
        self._publishers: dict[str, Publisher] = {}
        self._produced: dict[tuple[str, int], tuple[int, int]] = {}  # (producer, seq) -> where it landed
        self.consumers: dict[str, RabbitConsumer | KafkaConsumer] = dict(consumers or {})
        self._sessions: dict[str, str] = {}
        self._retired: dict[str, set[str]] = {}  # node -> sessions of dead incarnations
        self._held: dict[tuple[str, str], Delivery] = {}  # (node, tag) -> unacked delivery

    @classmethod
    def connect(
        cls, broker: str, kind: str, address: str, *, namespace: str = "", **options: Any
    ) -> BrokerBridge:
        """A bridge that opens publishers per topic and consumers on ``Subscribe``.
        ``namespace`` prefixes every broker-side topic, so runs never share queues."""
        return cls(broker, kind=kind, address=address, namespace=namespace, **options)

    def _wire(self, topic: str) -> str:
        return f"{self.namespace}{topic}"

    def _core_topic(self, wire: str) -> str:
        return wire[len(self.namespace) :] if wire.startswith(self.namespace) else wire

    def _publisher(self, topic: str) -> Publisher:
        if self.kind is None or self.address is None:
            if self.publisher is None:
                raise ValueError("BrokerBridge has no publisher and no broker address")
            return self.publisher
        pub = self._publishers.get(topic)
        if pub is None:
            opts: dict[str, Any] = {"partitions": self.partitions}
            if normalize_kind(self.kind) == "rabbitmq":
                opts = {}
            pub = open_publisher(self.kind, self.address, self._wire(topic), **opts)
            self._publishers[topic] = pub
        return pub

    def on_subscribe(self, m: Subscribe) -> None:
        """First ``Subscribe`` of a node opens its consumer (group = node id); a new
        session id (the node restarted) reconnects it, so the broker redelivers.

        One restart reconnects once: a session already announced through
        :meth:`restart_consumer` is adopted without a second reconnect, and a late
        heartbeat of a session that a newer one replaced is ignored (it must not flip
        the bridge back and forth).  A second reconnect right after the first is not
        harmless: Tansu elects a member that leaves during its pending JoinGroup as the
        leader of the next generation and never drops it, so the group never assigns
        its partitions again and nothing is redelivered."""
        node = m.src
        if m.session in self._retired.get(node, ()):
            return
        known = self._sessions.get(node)
        self._sessions[node] = m.session
        if node not in self.consumers:
            if self.kind is None or self.address is None:
                return
            if normalize_kind(self.kind) == "kafka":
                # Subscribing to a topic that does not exist yet would wait for a
                # metadata refresh (minutes): create it first.
                ensure_topic(self.address, self._wire(m.topic), self.partitions)
            self.consumers[node] = open_consumer(
                self.kind,
                self.address,
                self._wire(m.topic),
                group=self._wire(node),
                **self.consumer_options,
            )
        elif known is not None and known != m.session:
            self._retired.setdefault(node, set()).add(known)
            self._reconnect(node)

    def close(self) -> None:
        for pub in [*self._publishers.values(), *([self.publisher] if self.publisher else [])]:
            pub.close()
        for con in self.consumers.values():
            con.close()
        self._publishers.clear()
        self.consumers.clear()

    def on_publish(self, m: Publish) -> PublishAck | None:
        """Publish with a confirm.  Confirmed -> ``PublishAck(ok=True)`` with the partition
        and offset when the broker says; definitely refused -> ``ok=False``; unknown
        outcome -> ``None`` (no answer at all, as when a confirm is lost: the relay
        republishes after its confirm timeout).

        A message of an idempotent producer (``producer``/``producer_seq`` set) is produced
        once: a republish of a pair already delivered is answered from that delivery
        report, not produced again.  That is librdkafka's idempotent producer: it retries
        one message under one sequence number, and the broker appends it once; a core's
        republish of the same pair is that retry.  A message without a pair is produced
        again on every publish, so a republish after a lost confirm is a second record,
        as an application that calls ``produce()`` again gets.  The pairs live in this
        process: after the producer process restarts, a republish is a new record (real
        Kafka needs a transactional id for that)."""
        if m.producer:
            seen = self._produced.get((m.producer, m.producer_seq))
            if seen is not None:
                return PublishAck(self.broker, m.src, m.row, True, seen[0], seen[1])
        try:
            landed = self._publisher(m.topic).publish(
                m.key, encode_payload(m.payload), {ROW_HEADER: m.row}, idempotency_key=m.msg_id,
                partition=m.partition if m.partition >= 0 else None,
            )
        except PublishFailed as exc:
            if not exc.definite:
                return None
            return PublishAck(self.broker, m.src, m.row, ok=False)
        if landed is None:
            return PublishAck(self.broker, m.src, m.row)
        if m.producer:
            self._produced[(m.producer, m.producer_seq)] = landed
        return PublishAck(self.broker, m.src, m.row, True, landed[0], landed[1])

    def poll(self, node: str, timeout: float, max_messages: int = 100) -> list[Deliver]:
        """Deliveries for ``node``'s consumer as ``Deliver`` messages (may be empty)."""
        consumer = self.consumers.get(node)
        if consumer is None:
            return []
        out: list[Deliver] = []
        for d in consumer.poll(timeout, max_messages):
            tag = self._tag(d)
            self._held[(node, tag)] = d
            out.append(
                Deliver(
                    self.broker,
                    node,
                    self._core_topic(d.topic),
                    d.partition,
                    d.offset if d.offset is not None else d.tag,
                    tag,
                    d.idempotency_key or "",
                    d.headers.get(ROW_HEADER, ""),
                    d.key,
                    decode_payload(d.payload),
                    bool(d.redelivered),
                    d.generation,
                    # A real Kafka consumer fetches in order, so there is never a gap to
                    # spot: the expected offset is the one delivered.
                    d.offset if d.offset is not None else 0,
                )
            )
        return out

    def on_ack(self, m: Ack) -> CommitFailed | None:
        """Apply a core's ``Ack``: RabbitMQ ack of the held delivery, or a Kafka commit of
        the position.  A stale generation answers ``CommitFailed`` like a real broker."""
        node = m.src
        consumer = self.consumers[node]
        try:
            if isinstance(consumer, KafkaConsumer):
                consumer.commit_position(self._wire(m.topic), m.partition, m.offset, m.generation)
                for key in [k for k, d in self._held.items()
                            if k[0] == node and d.partition == m.partition
                            and (d.offset or 0) < m.offset]:  # fmt: skip
                    del self._held[key]
                return None
            d = self._held.pop((node, m.tag), None)
            if d is None:
                return None  # acked already, or from an earlier connection
            consumer.ack(d)
        except (StaleDelivery, ConsumerLost):
            return CommitFailed(self.broker, node, m.topic, m.partition, m.generation)
        return None

    def restart_consumer(self, node: str, session: str | None = None) -> None:
        """Drop ``node``'s broker connection and reconnect; what it held is redelivered.

        ``session``: when the node itself restarted (a crash), its new incarnation's
        session id.  The bridge then takes it as the node's session at once, so that
        incarnation's first ``Subscribe`` does not reconnect a second time, and the old
        session is retired (a heartbeat it sent before dying is ignored).  Without
        ``session`` only the connection dropped and the node keeps its session."""
        if session is not None:
            known = self._sessions.get(node)
            if known is not None and known != session:
                self._retired.setdefault(node, set()).add(known)
            self._retired.get(node, set()).discard(session)
            self._sessions[node] = session
        self._reconnect(node)

    def _reconnect(self, node: str) -> None:
        self._held = {k: v for k, v in self._held.items() if k[0] != node}
        self.consumers[node].reopen()

    @staticmethod
    def _tag(d: Delivery) -> str:
        return f"p{d.partition}@{d.offset}" if d.offset is not None else str(d.tag)
