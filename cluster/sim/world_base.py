"""Shared vocabulary of the simulator: node states, heap entry kinds, per-node/per-slot state.

:class:`~cluster.sim.world.Simulation` is assembled from mixins, one per responsibility
(recording, links, node processes, clients; see the ``world_*`` modules).  This module
holds what all of them need and nothing that acts: the constants, the client protocol,
the ``_Node``/``_Slot`` records, and :class:`SimState`, which declares the simulator's
attributes (assigned in ``Simulation.__init__``) plus the three bits of plumbing every
part uses -- named random streams, the event heap push, and node lookup.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from analysis.history import Event
from cluster.core.storage import MemoryStorage
from cluster.core.types import Core, CoreEvent, Message, Ready
from cluster.sim.clock import SimClock
from cluster.sim.network import SimNetwork
from cluster.sim.workload import Workload

UP = "up"
PAUSED = "paused"
CRASHED = "crashed"

# Heap entry kinds (ints: compared never, dispatched often).
_DELIVER = 0
_TICK = 1
_CTICK = 2
_OP = 3
_CALL = 4

_NS_PER_MS = 1_000_000
_SUMMARY_FIELDS = ("term", "seq", "op", "status")
_STOP_CHECK_EVERY = 1024

class SimClient(Protocol):
    """What the simulator needs of a client (``cluster.core.client.ClientCore`` fits)."""

    busy: bool

    def invoke(self, op: str, key: str | None, value: Any, now_ms: int) -> None: ...

    def step(self, reply: Message) -> None: ...

    def tick(self, now_ms: int) -> None: ...

    def ready(self) -> Ready: ...

    def take_completion(self) -> Any: ...


MakeCore = Callable[[str, Mapping[str, Any] | None, random.Random], Core]
MakeClient = Callable[[str, random.Random], SimClient]
Hook = Callable[[str, dict[str, Any]], None]


class _Node:
    """Simulator-side state of one server: its core (if running), disk, clock, inbox."""

    __slots__ = ("id", "core", "storage", "clock", "state", "gen", "inbox", "incarnation", "phase")

    def __init__(self, node_id: str, phase: int) -> None:
        self.id = node_id
        self.core: Core | None = None
        self.storage = MemoryStorage()
        self.clock = SimClock()
        self.state = CRASHED
        self.gen = 0  # bumped on pause/crash so pending ticks of the old life are ignored
        self.inbox: deque[tuple[Message, int]] = deque()  # arrivals while paused
        self.incarnation = 0
        self.phase = phase  # ticks land at phase + k * tick_ms, so nodes are not lockstep


class _Slot:
    """One client slot: a sequence of Jepsen processes, one operation at a time."""

    __slots__ = (
        "index",
        "process",
        "client_id",
        "client",
        "gen",
        "f",
        "key",
        "value",
        "think_rng",
        "done",
    )

    def __init__(self, index: int, think_rng: random.Random) -> None:
        self.index = index
        self.process = index
        self.client_id = ""
        self.client: SimClient | None = None
        self.gen = 0
        self.f = ""
        self.key: str | None = None
        self.value: Any = None
        self.think_rng = think_rng
        self.done = False



class SimState:
    """The simulator's state, declared for the mixins; ``Simulation.__init__`` assigns it."""

    seed: int
    tick_ms: int
    lose_unsynced: str
    trace_messages: bool
    history: list[Event]
    trace: list[dict[str, Any]]
    network: SimNetwork
    _node_ids: tuple[str, ...]
    _make_core: MakeCore
    _make_client: MakeClient
    _workload: Workload
    _clients_n: int
    _think: tuple[int, int]
    _now: int
    _seq: int
    _mid: int
    _queue: list[tuple[int, int, int, Any, Any]]
    _hooks: list[Hook]
    _on_event: Callable[[CoreEvent], None] | None
    _cancelled: set[int]
    _faults_rng: random.Random
    _workload_rng: random.Random
    _crash_rng: random.Random
    _summary_cache: dict[type, tuple[str, tuple[str, ...]]]
    _nodes: dict[str, _Node]
    _slots: list[_Slot]
    _client_by_id: dict[str, _Slot]

    def _stream(self, name: str) -> random.Random:
        """An independent random stream named ``name`` (string seeding is stable)."""
        return random.Random(f"{self.seed}:{name}")

    def _push(self, at: int, kind: int, a: Any, b: Any) -> int:
        seq = self._seq
        self._seq = seq + 1
        heapq.heappush(self._queue, (at, seq, kind, a, b))
        return seq

    def _node(self, node: str) -> _Node:
        n = self._nodes.get(node)
        if n is None:
            raise ValueError(f"unknown node {node!r}; nodes are {', '.join(self._node_ids)}")
        return n
