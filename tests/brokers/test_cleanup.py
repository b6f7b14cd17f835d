"""No broker process, epmd or listening port outlives its manager, however the run ends.

Processes are counted through /proc (by name, and by the manager's environment tag) and
ports through /proc/net/tcp, before and after.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cluster.runtime.brokers import RabbitMQNode, TansuBroker, process
from cluster.runtime.brokers.rabbitmq import PROCESS_NAMES as RMQ_NAMES
from cluster.runtime.brokers.tansu import PROCESS_NAMES as TANSU_NAMES

pytestmark = pytest.mark.broker
ROOT = Path(__file__).resolve().parents[2]
NAMES = RMQ_NAMES + TANSU_NAMES


def broker_pids() -> set[int]:
    return {pid for pid, _ in process.process_names(NAMES)}


def assert_all_gone(before: set[int], tags: list[str], ports: list[int]) -> None:
    """Erlang's helpers exit a moment after the VM, so allow a few seconds."""
    deadline = time.monotonic() + 10.0
    while True:
        leftover_tagged = [p for t in tags for p in process.tagged_pids(t)]
        # Brokers that *other* managers (a parallel run) started carry their own tags.
        others = set(process.all_tagged_pids()) - set(leftover_tagged)
        new = broker_pids() - before - others
        listening = set(ports) & process.listening_ports()
        if not (leftover_tagged or new or listening):
            return
        if time.monotonic() > deadline:
            names = dict(process.process_names(NAMES))
            pytest.fail(
                f"left behind: tagged={leftover_tagged} "
                f"processes={[(p, names.get(p)) for p in new]} ports={sorted(listening)}"
            )
        time.sleep(0.1)


def test_normal_exit_leaves_nothing() -> None:
    before = broker_pids()
    with RabbitMQNode() as rmq, TansuBroker() as tansu:
        tags = [rmq.tag, tansu.tag]
        ports = [*rmq.ports, tansu.port]
        data_dir = rmq.dir
        assert set(ports) <= process.listening_ports()
        assert process.tagged_pids(rmq.tag) and process.tagged_pids(tansu.tag)
    assert_all_gone(before, tags, ports)
    assert not data_dir.exists()


def test_exception_leaves_nothing() -> None:
    before = broker_pids()
    tags: list[str] = []
    ports: list[int] = []
    with pytest.raises(RuntimeError, match="scenario blew up"):
        with RabbitMQNode() as rmq, TansuBroker() as tansu:
            tags += [rmq.tag, tansu.tag]
            ports += [*rmq.ports, tansu.port]
            raise RuntimeError("scenario blew up")
    assert_all_gone(before, tags, ports)


CHILD = """
import json, sys, time
from cluster.runtime.brokers import RabbitMQNode, TansuBroker
with RabbitMQNode() as rmq, TansuBroker() as tansu:
    print(json.dumps({"tags": [rmq.tag, tansu.tag], "ports": [*rmq.ports, tansu.port],
                      "dirs": [str(rmq.dir), str(tansu.dir)]}), flush=True)
    time.sleep(120)
"""


def _start_child() -> tuple[subprocess.Popen[str], dict[str, list]]:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    assert line, "child did not start its brokers"
    return child, json.loads(line)


@pytest.mark.parametrize(
    "sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["SIGINT", "SIGTERM", "SIGKILL"]
)
def test_signal_to_the_owning_process_leaves_nothing(sig: signal.Signals) -> None:
    """SIGINT unwinds the ``with``; SIGTERM becomes SystemExit; SIGKILL runs no Python at
    all, so the watchdog sweeps."""
    before = broker_pids()
    child, info = _start_child()
    try:
        assert set(info["ports"]) <= process.listening_ports()
        child.send_signal(sig)
        child.wait(timeout=60)
        assert_all_gone(before, info["tags"], info["ports"])
        if sig != signal.SIGKILL:
            assert not any(Path(d).exists() for d in info["dirs"])
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        for tag in info["tags"]:
            process.sweep(tag, grace=1.0)
        for d in info["dirs"]:
            shutil.rmtree(d, ignore_errors=True)
