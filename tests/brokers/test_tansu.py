"""A private Tansu (Kafka-protocol) broker: keyed partitions, groups, manual commits."""

from __future__ import annotations

import time
from collections import defaultdict

import pytest

from cluster.runtime.brokers import (
    BrokerUnreachable,
    Delivery,
    KafkaConsumer,
    OutMessage,
    StaleDelivery,
    TansuBroker,
    open_consumer,
    open_publisher,
    process,
)

pytestmark = pytest.mark.broker


def drain(consumer: KafkaConsumer, want: int, timeout: float = 20.0) -> list[Delivery]:
    got: list[Delivery] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        got += consumer.poll(0.5, max_messages=want - len(got))
    return got


def test_broker_serves_on_loopback(tansu: TansuBroker) -> None:
    assert tansu.running()
    assert tansu.port in process.listening_ports()
    assert tansu.bootstrap == f"127.0.0.1:{tansu.port}"


def test_keyed_partitions_group_commit_and_redelivery(tansu: TansuBroker, topic: str) -> None:
    pub = open_publisher("kafka", tansu.bootstrap, topic, partitions=4)
    keys = [f"agg-{i}" for i in range(8)]
    pub.publish(keys[0], b"first", {"kind": "created"}, idempotency_key="agg-0/1")
    pub.publish_many(
        [
            OutMessage(k, f"{k}#{n}".encode(), idempotency_key=f"{k}/{n}")
            for n in range(3)
            for k in keys
        ]
    )
    pub.close()

    con = open_consumer("kafka", tansu.bootstrap, topic, group="billing")
    assert isinstance(con, KafkaConsumer)
    got = drain(con, 25)
    assert len(got) == 25
    parts: dict[str, set[int]] = defaultdict(set)
    for d in got:
        parts[d.key].add(d.partition)
    assert all(len(p) == 1 for p in parts.values()), "one key, one partition"
    assert len({d.partition for d in got}) >= 2, "keys spread over partitions"
    per_key = defaultdict(list)
    for d in got:
        per_key[d.key].append(d.payload)
    assert per_key["agg-3"] == [b"agg-3#0", b"agg-3#1", b"agg-3#2"], "per-key order kept"
    assert got[0].redelivered is None  # Kafka does not say
    first = next(d for d in got if d.payload == b"first")
    assert first.headers == {"kind": "created", "idempotency-key": "agg-0/1"}

    # Commit everything on one partition only, then "crash" and restart the member.
    done_part = got[0].partition
    committed = [d for d in got if d.partition == done_part]
    con.ack_many(committed)
    con.reopen()
    with pytest.raises(StaleDelivery):
        con.ack(got[0])
    again = drain(con, 25 - len(committed))
    assert sorted((d.partition, d.offset) for d in again) == sorted(
        (d.partition, d.offset) for d in got if d.partition != done_part
    ), "exactly the uncommitted messages come back"
    con.ack_many(again)
    con.close()

    # Everything is committed now: a new member of the group gets nothing.
    con3 = open_consumer("kafka", tansu.bootstrap, topic, group="billing")
    assert isinstance(con3, KafkaConsumer)
    assert con3.wait_assigned(20.0)
    assert drain(con3, 1, timeout=1.0) == []
    con3.close()


def test_unreachable_kafka_fails_within_30_s() -> None:
    port = process.free_port()
    t0 = time.monotonic()
    with pytest.raises(BrokerUnreachable) as err:
        open_publisher("kafka", f"127.0.0.1:{port}", "t")
    assert time.monotonic() - t0 < 30
    assert f"127.0.0.1:{port}" in err.value.line()
    assert err.value.exit_code == 3
