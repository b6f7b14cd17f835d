"""The saga cores' broker messages (Publish/Deliver/Ack) mapped onto real brokers."""

from __future__ import annotations

import time

import pytest

from cluster.core.saga_messages import Ack, CommitFailed, Deliver, Publish, PublishAck, payload_of
from cluster.runtime.brokers import RabbitMQNode, TansuBroker, open_consumer, open_publisher
from cluster.runtime.brokers.bridge import BrokerBridge, decode_payload, encode_payload


def test_payload_round_trip_keeps_tuples() -> None:
    p = payload_of(amount=12, items=("a", "b"), note=None)
    assert decode_payload(encode_payload(p)) == p
    assert decode_payload(b"") == ()


class _Landing:
    """A publisher that appends to one partition and says where each message landed."""

    topic = "t"

    def __init__(self) -> None:
        self.log: list[bytes] = []

    def publish(self, key: str, payload: bytes, headers: object = None, *, idempotency_key: str | None = None,
                partition: int | None = None) -> tuple[int, int]:
        self.log.append(payload)
        return (partition or 0, len(self.log) - 1)


def test_a_retried_idempotent_pair_is_answered_from_its_delivery_report_not_produced_again() -> None:
    pub = _Landing()
    bridge = BrokerBridge("log", pub)  # type: ignore[arg-type]
    first = Publish("n2", "log", "events", "p1", "m1", "r1", payload_of(value=1), 1, "n2-ab", 7)
    assert bridge.on_publish(first) == PublishAck("log", "n2", "r1", True, 1, 0)
    assert bridge.on_publish(first) == PublishAck("log", "n2", "r1", True, 1, 0)  # the retry
    assert len(pub.log) == 1
    plain = Publish("n2", "log", "events", "p1", "m2", "r2", payload_of(value=2), 1)
    bridge.on_publish(plain)
    assert bridge.on_publish(plain) == PublishAck("log", "n2", "r2", True, 1, 2)  # a second record
    assert len(pub.log) == 3


def collect(bridge: BrokerBridge, node: str, want: int, timeout: float = 20.0) -> list[Deliver]:
    got: list[Deliver] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        got += bridge.poll(node, 0.5)
    return got


@pytest.mark.broker
def test_rabbitmq_bridge_publish_deliver_ack_redeliver(rabbit: RabbitMQNode, topic: str) -> None:
    bridge = BrokerBridge(
        "mq",
        open_publisher("rabbitmq", rabbit.url, topic),
        {"svc": open_consumer("rabbitmq", rabbit.url, topic)},
    )
    for i in range(3):
        ack = bridge.on_publish(
            Publish("orders", "mq", topic, f"o{i}", f"m{i}", f"r{i}", payload_of(n=i))
        )
        assert ack == PublishAck("mq", "orders", f"r{i}")
    got = collect(bridge, "svc", 3)
    assert [(d.msg_id, d.row, d.key, d.payload) for d in got] == [
        (f"m{i}", f"r{i}", f"o{i}", payload_of(n=i)) for i in range(3)
    ]
    assert bridge.on_ack(Ack("svc", "mq", topic, got[0].tag)) is None
    bridge.restart_consumer("svc")  # crash holding m1, m2
    again = collect(bridge, "svc", 2)
    assert [d.msg_id for d in again] == ["m1", "m2"] and all(d.redelivered for d in again)
    for d in again:
        assert bridge.on_ack(Ack("svc", "mq", topic, d.tag)) is None
    bridge.close()


@pytest.mark.broker
def test_kafka_bridge_commit_position_and_stale_generation(tansu: TansuBroker, topic: str) -> None:
    bridge = BrokerBridge(
        "log",
        open_publisher("kafka", tansu.bootstrap, topic, partitions=1),
        {"svc": open_consumer("kafka", tansu.bootstrap, topic, group="svc")},
    )
    for i in range(3):
        assert (
            bridge.on_publish(Publish("orders", "log", topic, "k", f"m{i}", f"r{i}", ()))
            is not None
        )
    got = collect(bridge, "svc", 3)
    assert [(d.offset, d.tag) for d in got] == [(0, "p0@0"), (1, "p0@1"), (2, "p0@2")]
    gen = got[0].generation
    assert (
        bridge.on_ack(Ack("svc", "log", topic, "p0@2", partition=0, offset=2, generation=gen))
        is None
    )
    bridge.restart_consumer("svc")
    again = collect(bridge, "svc", 1)
    assert [d.msg_id for d in again] == ["m2"]  # resumes from the committed position
    stale = bridge.on_ack(Ack("svc", "log", topic, "p0@3", partition=0, offset=3, generation=gen))
    assert stale == CommitFailed("log", "svc", topic, 0, gen)
    bridge.close()
