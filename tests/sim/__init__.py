"""Tiny stand-in cores and clients for simulator tests.

They are deliberately dumb -- a pinging register and a one-node client -- so each test
checks one property of the simulator (network, clocks, crashes, ordering) and nothing about
Raft.  Every core keeps what it saw (ticks, received pings, its durable image at start) so
tests can read the transcript afterwards.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cluster.core.types import (
    ClientReply,
    ClientRequest,
    CoreEvent,
    Message,
    Put,
    Ready,
    ReadyBuilder,
)
from cluster.sim.workload import Op, ScriptedWorkload
from cluster.sim.world import Simulation

NODES = ("n1", "n2", "n3")


@dataclass(frozen=True)
class Ping(Message):
    n: int
    term: int = 0


class RegCore:
    """A key/value register that answers clients itself, and optionally pings its peers.

    Client ops: ``put`` (persisted and synced before the reply), ``putu`` (persisted but
    not synced), ``get``.  ``silent`` cores never answer clients (to force timeouts).
    ``ping`` cores send ``Ping(n)`` to every peer on every tick, with ``n`` counting up.
    """

    def __init__(
        self,
        node_id: str,
        peers: tuple[str, ...],
        durable: Mapping[str, Any] | None,
        rng: random.Random,
        *,
        ping: bool = False,
        silent: bool = False,
        announce_put: bool = False,
    ) -> None:
        self.node_id = node_id
        self.peers = tuple(p for p in peers if p != node_id)
        self.durable = None if durable is None else dict(durable)
        self.state: dict[str, Any] = dict(durable or {})
        self.rng = rng
        self.first_draw = rng.random()
        self.ping = ping
        self.silent = silent
        self.announce_put = announce_put
        self.ticks: list[int] = []  # monotonic readings
        self.walls: list[int] = []  # wall-clock readings, same ticks
        self.got: list[tuple[str, int]] = []
        self.inputs: list[str] = []  # "tick" or "step", in the order the driver gave them
        self.n = 0
        self.role = "follower"
        self.term = 0
        self._out = ReadyBuilder()
        self._out.events.append(CoreEvent(node_id, "role", {"role": "follower", "term": 0}))

    def tick(self, now_ms: int, wall_ms: int | None = None) -> None:
        self.ticks.append(now_ms)
        self.walls.append(now_ms if wall_ms is None else wall_ms)
        self.inputs.append("tick")
        if self.ping:
            self.n += 1
            for p in self.peers:
                self._out.messages.append(Ping(self.node_id, p, self.n, self.term))

    def step(self, message: Message) -> None:
        self.inputs.append("step")
        if isinstance(message, Ping):
            self.got.append((message.src, message.n))
            return
        assert isinstance(message, ClientRequest)
        if self.silent:
            return
        req = message
        if req.op in ("put", "putu"):
            self.state[str(req.key)] = req.value
            self._out.persist.append(Put(str(req.key), req.value))
            if req.op == "putu":
                self._out.sync = False
            if self.announce_put:
                for p in self.peers:
                    self._out.messages.append(Ping(self.node_id, p, -1, self.term))
            self._out.events.append(CoreEvent(self.node_id, "apply", {"key": req.key}))
            value = req.value
        else:
            value = self.state.get(str(req.key))
        self._out.replies.append(
            ClientReply(self.node_id, req.src, req.client_id, req.seq, "ok", value)
        )

    def ready(self) -> Ready:
        return self._out.take()


@dataclass(frozen=True)
class Done:
    status: str
    value: Any
    attempts: int = 1
    node: str | None = None


class TinyClient:
    """Sends each operation once to ``target``; no answer by the deadline means ``info``."""

    def __init__(self, client_id: str, rng: random.Random, target: str = "n1", timeout_ms: int = 100):
        self.node_id = client_id
        self.client_id = client_id
        self.target = target
        self.timeout_ms = timeout_ms
        self.busy = False
        self.seq = 0
        self._deadline = 0
        self._done: Done | None = None
        self._out = ReadyBuilder()

    def invoke(self, op: str, key: str | None, value: Any, now_ms: int) -> None:
        assert not self.busy
        self.seq += 1
        self.busy = True
        self._deadline = now_ms + self.timeout_ms
        self._out.messages.append(
            ClientRequest(self.client_id, self.target, self.client_id, self.seq, op, key, value)
        )

    def step(self, reply: Message) -> None:
        if isinstance(reply, ClientReply) and self.busy and reply.seq == self.seq:
            self.busy = False
            self._done = Done(reply.status, reply.value, 1, reply.src)

    def tick(self, now_ms: int, wall_ms: int | None = None) -> None:
        if self.busy and now_ms >= self._deadline:
            self.busy = False
            self._done = Done("info", None)

    def ready(self) -> Ready:
        return self._out.take()

    def take_completion(self) -> Done | None:
        done, self._done = self._done, None
        return done


class Idle:
    """A workload with nothing to do."""

    def next_op(self, process: int, rng: random.Random) -> Op | None:
        return None


class RandomRegister:
    """Puts and gets of unique values on two keys, drawn from the workload rng."""

    def __init__(self) -> None:
        self.count = 0

    def next_op(self, process: int, rng: random.Random) -> Op | None:
        key = f"k{rng.randrange(2)}"
        if rng.random() < 0.5:
            return ("get", key, None)
        self.count += 1
        return ("put", key, process * 1000 + self.count)


def make_sim(
    *,
    seed: int = 1,
    nodes: tuple[str, ...] = NODES,
    clients: int = 0,
    workload: Any = None,
    ping: bool = False,
    silent: bool = False,
    announce_put: bool = False,
    client_timeout_ms: int = 100,
    **kw: Any,
) -> Simulation:
    def make_core(nid: str, durable: Mapping[str, Any] | None, rng: random.Random) -> RegCore:
        return RegCore(nid, nodes, durable, rng, ping=ping, silent=silent, announce_put=announce_put)

    def make_client(cid: str, rng: random.Random) -> TinyClient:
        return TinyClient(cid, rng, target=nodes[0], timeout_ms=client_timeout_ms)

    return Simulation(
        seed=seed,
        node_ids=nodes,
        make_core=make_core,
        make_client=make_client,
        workload=workload if workload is not None else Idle(),
        clients=clients,
        **kw,
    )


def core(sim: Simulation, node: str) -> RegCore:
    c = sim.nodes[node]
    assert isinstance(c, RegCore)
    return c


def scripted(script: dict[int, list[Op]], clients: int) -> ScriptedWorkload:
    return ScriptedWorkload(script, clients)
