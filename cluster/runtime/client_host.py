"""Real client processes: one Ray actor hosting a scenario's client slots.

Each slot is a Jepsen-style process driving one client core (built by the factory in the
:class:`ClientSpec`, the one the simulator uses) with real time: it invokes an operation drawn from the scenario's workload, sends the
core's requests over a gRPC ``Client.Session`` stream to the chosen node, feeds replies
and ``tick(now)`` back, and records ``invoke`` and ``ok``/``fail``/``info`` events with a
monotonic clock (ns since the run started) in the simulator's history format.  After an
``info`` the slot continues as a new process with a new client id, exactly as the
simulator does, so server-side ``(client_id, seq)`` dedup never mixes the two.  A timed
workload (an explicit script, :class:`cluster.spec.TimedWorkload`) sets the pace instead of
the think time: each operation starts at its due ms of the run's clock (the clock fault
schedules use), or right after the slot's previous operation if that is later.

All slots share one asyncio loop, so the history order is the real order of events.  A
client core's output batches go through :func:`cluster.driver.drain` like a node's: its
requests are the messages it sends; a client persists nothing and answers no one.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from analysis import trace_kinds as K
from cluster.core.types import ClientReply, ClientRequest, CoreEvent, Message, PersistOp
from cluster.driver import drain
from cluster.runtime.clock import RunClock
from cluster.runtime.codec import decode_reply, encode_request
from cluster.runtime.metrics import ClientMetrics, serve
from cluster.runtime.transport import OutboundStream
from cluster.spec import ClientFactory, Workload, due_fn, event_extra
from protos import messages_pb2, node_pb2, node_pb2_grpc

__all__ = ["ClientHost", "ClientSpec", "make_client_actor"]


def _requests(items: list[messages_pb2.ClientRequest]) -> node_pb2.ClientRequests:
    return node_pb2.ClientRequests(items=items)


@dataclass(frozen=True)
class ClientSpec:
    """The client side of a run: factories and settings (shipped to the client process)."""

    make_client: ClientFactory
    make_workload: Callable[[], Workload]
    clients: int
    think_ms: tuple[int, int]
    seed: int
    tick_ms: int
    t0_ns: int = 0
    metrics: bool = True
    start_process: int = 0


class _Slot:
    def __init__(self, index: int, process: int) -> None:
        self.index = index
        self.process = process
        self.client_id = ""
        self.client: Any = None
        self.inbox: asyncio.Queue[ClientReply] = asyncio.Queue()
        self.think_rng = random.Random()


class ClientHost:
    def __init__(self, spec: ClientSpec) -> None:
        self.spec = spec
        self.run = RunClock(spec.t0_ns)
        self._make_client = spec.make_client
        self._workload = spec.make_workload()
        self._workload_rng = random.Random(f"{spec.seed}:workload")
        self.history: list[tuple[Any, ...]] = []  # (process, type, f, value, key, time_ns, extra)
        self.trace: list[dict[str, Any]] = []
        self._slots: list[_Slot] = []
        self._by_client: dict[str, _Slot] = {}
        self._streams: dict[str, OutboundStream] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self.metrics = ClientMetrics("clients") if spec.metrics else None
        self.metrics_port = 0
        self._metrics_server: Any = None
        self.sent = 0

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self, addresses: dict[str, str]) -> dict[str, Any]:
        self.set_addresses(addresses)
        if self.metrics is not None:
            self._metrics_server, self.metrics_port = serve(self.metrics.registry)
        loop = asyncio.get_running_loop()
        for i in range(self.spec.clients):
            slot = _Slot(i, self.spec.start_process + i)
            slot.think_rng = random.Random(f"{self.spec.seed}:think:{i}")
            self._new_client(slot)
            self._slots.append(slot)
            self._tasks.append(loop.create_task(self._run_slot(slot)))
        return {"metrics_port": self.metrics_port}

    def set_addresses(self, addresses: dict[str, str]) -> None:
        for node, addr in addresses.items():
            s = self._streams.get(node)
            if s is None:
                s = OutboundStream(
                    f"clients->{node}", addr,
                    lambda ch: node_pb2_grpc.ClientStub(ch).Session(),
                    _requests, rng=random.Random(0), on_reply=self._on_replies,
                )
                self._streams[node] = s
                s.start()
            else:
                s.set_address(addr)

    async def stop(self) -> dict[str, Any]:
        """Stop issuing operations; open ones stay open (indeterminate), as in the simulator."""
        self._stopping = True
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        for s in self._streams.values():
            await s.close()
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
            self._metrics_server.server_close()
        return {"history": self.history, "trace": self.trace}

    # --- slots -----------------------------------------------------------------------------

    def _new_client(self, slot: _Slot) -> None:
        slot.client_id = f"c{slot.process}"
        slot.client = self._make_client(slot.client_id, random.Random(f"{self.spec.seed}:client:{slot.process}"))
        self._by_client[slot.client_id] = slot
        slot.inbox = asyncio.Queue()

    def _on_replies(self, batch: node_pb2.ClientReplies) -> None:
        for raw in batch.items:
            reply = decode_reply(raw)
            slot = self._by_client.get(reply.dst)
            if slot is not None:
                slot.inbox.put_nowait(reply)

    def _flush(self, slot: _Slot) -> None:
        drain(slot.client, self)

    # ReadySink (cluster.driver): a client core's batch

    def persist(self, ops: tuple[PersistOp, ...], sync: bool) -> None:
        """Clients keep no durable state (a restarted client is a new process id)."""

    def send(self, msg: Message) -> None:
        if isinstance(msg, ClientRequest):
            s = self._streams.get(msg.dst)
            if s is not None:
                s.send(encode_request(msg))
                self.sent += 1

    def reply(self, msg: ClientReply) -> None:
        """A client answers no one."""

    def record(self, events: tuple[CoreEvent, ...]) -> None:
        """The history and the client records below say what a client did."""

    def _now_ms(self) -> int:
        return self.run.true_ms()

    async def _run_slot(self, slot: _Slot) -> None:
        lo, hi = self.spec.think_ms
        tick = self.spec.tick_ms / 1000.0
        n = self.spec.clients
        due = due_fn(self._workload)
        while not self._stopping:
            if due is None:
                await asyncio.sleep((lo if lo == hi else slot.think_rng.randint(lo, hi)) / 1000.0)
            else:
                at = due(slot.process)
                if at is None:
                    return
                wait_ms = at - self.run.true_ms()
                if wait_ms > 0:
                    await asyncio.sleep(wait_ms / 1000.0)
            op = self._workload.next_op(slot.process, self._workload_rng)
            if op is None:
                return
            f, key, value = op
            t_ns = self.run.true_ns()
            client = slot.client
            client.invoke(f, key, value, self._now_ms())
            self.history.append((slot.process, "invoke", f, value, key, t_ns, event_extra(client, "invoke_extra")))
            self.trace.append({"t": t_ns // 1_000_000, "kind": K.CLIENT_INVOKE, "process": slot.process,
                               "client": slot.client_id, "f": f, "key": key, "value": value})
            self._flush(slot)
            started = time.perf_counter()
            done = client.take_completion()
            while done is None:
                try:
                    reply = await asyncio.wait_for(slot.inbox.get(), timeout=tick)
                    client.step(reply)
                except TimeoutError:
                    client.tick(self._now_ms())
                else:
                    client.tick(self._now_ms())
                self._flush(slot)
                done = client.take_completion()
            status = str(done.status)
            out_value = done.value if status == "ok" else value
            t_ns = self.run.true_ns()
            self.history.append((slot.process, status, f, out_value, key, t_ns, event_extra(done, "extra")))
            self.trace.append({"t": t_ns // 1_000_000, "kind": K.CLIENT_COMPLETE, "process": slot.process,
                               "client": slot.client_id, "f": f, "key": key, "type": status,
                               "value": out_value, "attempts": done.attempts, "node": done.node})
            if self.metrics is not None:
                self.metrics.latency.labels("clients", f, status).observe(time.perf_counter() - started)
                self.metrics.ops.labels("clients", f, status).inc()
            if status == "info":
                del self._by_client[slot.client_id]
                slot.process += n
                self._new_client(slot)


class ClientHostActorImpl:
    """Ray async actor body for :class:`ClientHost`."""

    def __init__(self, spec: ClientSpec) -> None:
        self.spec = spec
        self.host: ClientHost | None = None

    async def start(self, addresses: dict[str, str], t0_ns: int | None = None) -> dict[str, Any]:
        spec = self.spec if t0_ns is None else dataclasses.replace(self.spec, t0_ns=t0_ns)
        self.host = ClientHost(spec)
        return await self.host.start(addresses)

    def _h(self) -> ClientHost:
        assert self.host is not None, "start() first"
        return self.host

    async def set_addresses(self, addresses: dict[str, str]) -> None:
        self._h().set_addresses(addresses)

    async def stop(self) -> dict[str, Any]:
        return await self._h().stop()

    def pid(self) -> int:
        return os.getpid()


def make_client_actor() -> Any:
    import ray

    return ray.remote(num_cpus=0, max_restarts=0, max_task_retries=0)(ClientHostActorImpl)
