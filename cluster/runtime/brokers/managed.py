"""The run's broker as a node the fault injector can crash, restart and pause.

:class:`~cluster.runtime.engine.RayEngine` treats the saga and pipeline systems' broker
node (``n1``) as an *external process*: not a Ray actor, but the real RabbitMQ or Tansu
process the run started.  These adapters give it the three operations the engine needs.

* :class:`ManagedBroker` wraps a private broker this run started: crash is a SIGKILL of
  its processes (RabbitMQ keeps durable queues and persistent, confirmed messages on
  disk; Tansu's memory storage loses every topic, record and committed offset), restart
  boots it again on the same port and data directory.
* :class:`UserBroker` stands for a broker the user pointed at (``--amqp-url``,
  ``--kafka-bootstrap``): the run must never kill someone else's broker, so crash and
  pause faults on it do nothing, and the run says so in its stats.
"""

from __future__ import annotations

from typing import Any

from . import process

__all__ = ["ManagedBroker", "UserBroker"]


class ManagedBroker:
    """Crash/restart/pause a private :class:`RabbitMQNode` or :class:`TansuBroker`."""

    managed = True

    def __init__(self, node: Any) -> None:
        self.node = node
        self.restarts = 0

    def kill(self) -> None:
        self.node.kill()

    def start(self) -> None:
        self.node.start()
        self.restarts += 1

    def pids(self) -> list[int]:
        epmd = getattr(self.node, "_epmd", None)
        skip = {epmd.pid} if epmd is not None else set()
        return [p for p in process.tagged_pids(self.node.tag) if p not in skip]


class UserBroker:
    """A broker this run does not own: faults on it are not applied (see module doc)."""

    managed = False

    def kill(self) -> None:
        return None

    def start(self) -> None:
        return None

    def pids(self) -> list[int]:
        return []
