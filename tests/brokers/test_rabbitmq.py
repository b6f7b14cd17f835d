"""A private RabbitMQ node: confirms, manual acks, redelivery, kill -9 and restart."""

from __future__ import annotations

import time

import pytest

from cluster.runtime.brokers import (
    BrokerUnreachable,
    Delivery,
    PublishFailed,
    RabbitConsumer,
    RabbitMQNode,
    StaleDelivery,
    open_consumer,
    open_publisher,
    process,
)

pytestmark = pytest.mark.broker


def drain(consumer: RabbitConsumer, want: int, timeout: float = 15.0) -> list[Delivery]:
    got: list[Delivery] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        got += consumer.poll(0.5, max_messages=want - len(got))
    return got


def test_private_node_listens_on_loopback_ports_only(rabbit: RabbitMQNode) -> None:
    assert rabbit.running()
    assert set(rabbit.ports) <= process.listening_ports()
    for port in rabbit.ports:  # taken on 127.0.0.1, so nothing else can bind them
        assert not process.port_is_free(port)
    assert rabbit.url.startswith("amqp://guest:guest@127.0.0.1:")


def test_publish_with_confirm_and_consume_with_manual_ack(rabbit: RabbitMQNode, topic: str) -> None:
    pub = open_publisher("rabbitmq", rabbit.url, topic)
    for i in range(10):
        pub.publish(f"order-{i % 3}", f"event {i}".encode(), {"n": str(i)}, idempotency_key=f"e{i}")
    pub.close()
    con = open_consumer("rabbitmq", rabbit.url, topic, prefetch=20)
    assert isinstance(con, RabbitConsumer)
    got = drain(con, 10)
    assert [d.payload for d in got] == [f"event {i}".encode() for i in range(10)]
    assert got[4].key == "order-1" and got[4].headers["n"] == "4"
    assert got[4].idempotency_key == "e4"
    assert not any(d.redelivered for d in got)
    con.ack(got[0])
    con.ack_many(got[1:])
    con.close()
    con2 = open_consumer("rabbitmq", rabbit.url, topic)
    assert con2.poll(0.5) == []  # all acked: nothing comes back
    con2.close()


def test_unacked_message_is_redelivered_flagged_after_consumer_dies(
    rabbit: RabbitMQNode, topic: str
) -> None:
    pub = open_publisher("rabbitmq", rabbit.url, topic)
    for i in range(4):
        pub.publish("acct-1", f"m{i}".encode(), idempotency_key=f"m{i}")
    pub.close()
    con = open_consumer("rabbitmq", rabbit.url, topic, prefetch=10)
    assert isinstance(con, RabbitConsumer)
    first = drain(con, 4)
    con.ack_many(first[:2])  # effect + ack for two; the consumer dies holding two
    con.abort()
    con2 = open_consumer("rabbitmq", rabbit.url, topic)
    assert isinstance(con2, RabbitConsumer)
    again = drain(con2, 2)
    assert [d.payload for d in again] == [b"m2", b"m3"]
    assert all(d.redelivered for d in again)
    with pytest.raises(StaleDelivery):  # an ack from the dead connection cannot land
        con2.ack(first[2])
    con2.ack_many(again)
    con2.close()


def test_reopen_makes_old_deliveries_stale(rabbit: RabbitMQNode, topic: str) -> None:
    pub = open_publisher("rabbitmq", rabbit.url, topic)
    pub.publish("k", b"x")
    pub.close()
    con = open_consumer("rabbitmq", rabbit.url, topic)
    assert isinstance(con, RabbitConsumer)
    [d] = drain(con, 1)
    con.reopen()
    with pytest.raises(StaleDelivery):
        con.ack(d)
    [d2] = drain(con, 1)
    assert d2.redelivered and d2.payload == b"x"
    con.ack(d2)
    con.close()


def test_unroutable_publish_is_a_definite_failure(rabbit: RabbitMQNode, topic: str) -> None:
    pub = open_publisher("rabbitmq", rabbit.url, topic)
    assert rabbit.ctl("delete_queue", topic).returncode == 0
    with pytest.raises(PublishFailed) as err:
        pub.publish("k", b"lost")
    assert err.value.definite
    pub.close()


def test_partitioned_queues_route_by_key(rabbit: RabbitMQNode, topic: str) -> None:
    pub = open_publisher("rabbitmq", rabbit.url, topic, partitions=3)
    keys = [f"agg-{i}" for i in range(12)]
    for k in keys:
        pub.publish(k, k.encode())
    pub.close()
    con = open_consumer("rabbitmq", rabbit.url, topic, partitions=3)
    assert isinstance(con, RabbitConsumer)
    got = drain(con, 12)
    by_key = {d.key: d.partition for d in got}
    assert len(by_key) == 12 and len(set(by_key.values())) > 1
    con.ack_many(got)
    con.close()


def test_kill_9_and_restart_keeps_durable_persistent_messages(
    rabbit: RabbitMQNode, topic: str
) -> None:
    pub = open_publisher("rabbitmq", rabbit.url, topic)
    for i in range(25):
        pub.publish("k", f"durable {i}".encode())
    pub.close()
    port = rabbit.port
    rabbit.kill()
    assert not rabbit.running()
    with pytest.raises(BrokerUnreachable):
        open_publisher("rabbitmq", rabbit.url, topic, connect_timeout=2)
    rabbit.start()
    assert rabbit.port == port
    con = open_consumer("rabbitmq", rabbit.url, topic, prefetch=50)
    assert isinstance(con, RabbitConsumer)
    got = drain(con, 25, timeout=20)
    assert [d.payload for d in got] == [f"durable {i}".encode() for i in range(25)]
    con.ack_many(got)
    con.close()

    # A graceful restart (SIGTERM: Erlang shuts down in order) keeps them too.
    pub = open_publisher("rabbitmq", rabbit.url, topic)
    pub.publish("k", b"after graceful")
    pub.close()
    rabbit.restart(hard=False)
    con = open_consumer("rabbitmq", rabbit.url, topic)
    assert isinstance(con, RabbitConsumer)
    assert [d.payload for d in drain(con, 1)] == [b"after graceful"]
    con.close()


def test_unreachable_rabbitmq_fails_fast_with_one_line() -> None:
    port = process.free_port()
    t0 = time.monotonic()
    with pytest.raises(BrokerUnreachable) as err:
        open_publisher("rabbitmq", f"amqp://guest:secret@127.0.0.1:{port}/%2F", "t")
    assert time.monotonic() - t0 < 30
    line = err.value.line()
    assert f"127.0.0.1:{port}" in line and "secret" not in line
    assert err.value.exit_code == 3


def test_publish_many_commits_a_batch_in_one_transaction(rabbit: RabbitMQNode, topic: str) -> None:
    from cluster.runtime.brokers import OutMessage

    pub = open_publisher("rabbitmq", rabbit.url, topic, partitions=2)
    pub.publish_many(
        [OutMessage(f"k{i}", f"b{i}".encode(), idempotency_key=f"b{i}") for i in range(50)]
    )
    pub.publish("solo", b"after")  # the confirm channel still works beside the tx one
    con = open_consumer("rabbitmq", rabbit.url, topic, partitions=2, prefetch=100)
    assert isinstance(con, RabbitConsumer)
    got = drain(con, 51)
    assert sorted(d.idempotency_key or "" for d in got if d.key != "solo") == sorted(
        f"b{i}" for i in range(50)
    )
    con.ack_many(got)
    con.close()
    assert rabbit.ctl("delete_queue", f"{topic}.0").returncode == 0
    with pytest.raises(PublishFailed) as err:
        pub.publish_many([OutMessage(f"k{i}", b"x") for i in range(20)])
    assert not err.value.definite  # some of the batch may have landed
    pub.close()


def test_a_port_taken_before_boot_is_chosen_again() -> None:
    """Between choosing a free port and the node binding it, someone else may take it."""
    import socket

    node = RabbitMQNode()
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", node.port))
    squatter.listen()
    taken = node.port
    try:
        with node:
            assert node.port != taken
            pub = open_publisher("rabbitmq", node.url, "q")
            pub.publish("k", b"x")
            pub.close()
    finally:
        squatter.close()
