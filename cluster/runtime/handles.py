"""One node as the real engine's driver holds it: its process, its control channel, and the
queue of control commands still to send it.

Engine methods are called synchronously from fault callbacks; signals are sent at once,
but RPCs go into the node's queue and one worker task sends them in order, so a fault
never blocks the driver's loop and two commands to one node never overtake each other.
A command for a node that is paused or down is not sent: the node is marked *dirty*, and
when it is back it gets the whole desired state (:meth:`NodeHandle.push_world`) instead.

Some nodes are not Ray actors but *external processes* the run manages: the real RabbitMQ
or Tansu broker.  Their handle carries an :class:`ExternalProcess` instead of an actor.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import grpc
import grpc.aio

from cluster.runtime.node import NodeSpec
from cluster.runtime.node_services import link_settings_proto
from cluster.runtime.transport import CHANNEL_OPTIONS
from cluster.runtime.world import DesiredWorld, FailpointSpec
from protos import control_pb2
from protos import control_pb2_grpc as control_grpc

__all__ = ["CRASHED", "PAUSED", "RPC_TIMEOUT_S", "STARTING", "UP", "ExternalProcess", "NodeHandle", "failpoint_proto"]

UP = "up"
PAUSED = "paused"
CRASHED = "crashed"
STARTING = "starting"

RPC_TIMEOUT_S = 2.0

Command = Callable[[], Awaitable[None]]


class ExternalProcess(Protocol):
    """A node that is a process the run manages itself (a real broker), not an actor."""

    def kill(self) -> None:
        """SIGKILL it and wait until its ports are closed (blocking)."""

    def start(self) -> Any:
        """Boot it again on the same address and data (blocking, until it serves)."""

    def pids(self) -> list[int]:
        """Its live processes (for pause/resume)."""


def failpoint_proto(fp: FailpointSpec) -> control_pb2.Failpoint:
    return control_pb2.Failpoint(id=fp.id, kind=fp.kind, where_json=json.dumps(dict(fp.where)).encode(),
                                 delay_ms=fp.delay_ms, armed=True)


@dataclass
class NodeHandle:
    id: str
    spec: NodeSpec
    external: ExternalProcess | None = None
    actor: Any = None
    pid: int = 0
    host: str = "127.0.0.1"
    port: int = 0
    metrics_port: int = 0
    state: str = STARTING
    incarnation: int = 0
    channel: grpc.aio.Channel | None = None
    control: Any = None
    events_task: asyncio.Task[None] | None = None
    queue: asyncio.Queue[Command] = field(default_factory=asyncio.Queue)
    worker: asyncio.Task[None] | None = None
    dirty: bool = False
    busy: bool = False
    """A queued command (a restart and its wiring, a pause...) is running."""
    actors: list[Any] = field(default_factory=list)  # every incarnation, for cleanup
    frozen_at: str | None = None
    """The failpoint this node is frozen at (its process waits for the driver's SIGKILL)."""
    unfrozen_trigger: tuple[str, int] | None = None
    """The last event (kind, t) a failpoint was armed for that did not freeze the node."""
    spare: Any = None
    """A warm spare: an actor process already spawned and prepared, not yet started, that
    the next restart turns into the node (spawning a process takes seconds, and tens of
    seconds on a loaded machine, while a restart is meant to take the fault's duration)."""
    spare_ready: asyncio.Task[None] | None = None
    """Done when :attr:`spare` answered its ``pid`` and finished ``prepare``."""

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def metrics_address(self) -> str:
        return f"{self.host}:{self.metrics_port}"

    def attach(self, info: dict[str, Any]) -> None:
        """The node's process serves: remember where, and open the control channel."""
        self.pid, self.port, self.metrics_port = int(info["pid"]), int(info["port"]), int(info["metrics_port"])
        self.host = str(info.get("host", "127.0.0.1"))
        self.spec = replace(self.spec, port=self.port)
        self.state = UP
        self.channel = grpc.aio.insecure_channel(self.address, options=CHANNEL_OPTIONS)
        self.control = control_grpc.ControlStub(self.channel)

    async def close_channel(self) -> None:
        if self.channel is not None:
            with contextlib.suppress(Exception):
                await self.channel.close(grace=None)

    # --- the command queue ------------------------------------------------------------------

    def enqueue(self, cmd: Command) -> None:
        self.queue.put_nowait(cmd)

    async def work(self, errors: list[str]) -> None:
        """Run the queued commands one at a time, in order (the node's worker task)."""
        while True:
            cmd = await self.queue.get()
            self.busy = True
            try:
                await cmd()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a node that died mid-command: record, keep going
                errors.append(f"{self.id}: {type(e).__name__}: {e}")
            finally:
                self.busy = False

    def rpc(self, call: Callable[[Any], Awaitable[Any]]) -> None:
        """Queue a control RPC; a paused or down node gets the full state when it is back."""
        if self.state != UP:
            self.dirty = True
            return

        async def cmd() -> None:
            if self.state != UP or self.control is None:
                self.dirty = True
                return
            try:
                await call(self.control)
            except grpc.aio.AioRpcError:
                self.dirty = True

        self.enqueue(cmd)

    async def push_world(self, world: DesiredWorld, externals: set[str], *, timeout: float = RPC_TIMEOUT_S) -> None:
        """Send this node every failpoint and every link setting the driver holds for it
        (links from an external node are applied by their receiving end: ``inbound``)."""
        self.dirty = False
        c = self.control
        for fp in world.failpoints():
            await c.SetFailpoint(failpoint_proto(fp), timeout=timeout)
        for src, dst, link in world.links_of(self.id):
            if src == self.id:
                await c.SetLink(link_settings_proto(dst, link), timeout=timeout)
            if dst == self.id and src in externals:
                await c.SetLink(link_settings_proto(src, link, inbound=True), timeout=timeout)
            if dst == self.id:
                await c.BlockInbound(control_pb2.InboundBlock(src=src, blocked=link.cut), timeout=timeout)
