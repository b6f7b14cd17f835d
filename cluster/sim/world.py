"""The deterministic simulator: N cores, M clients, virtual time, a seeded network.

Everything that happens is an entry in one heap ordered by ``(time_ms, seq)``; ``seq`` is a
global insertion counter, so simultaneous events run in the order they were scheduled and
no ordering ever depends on ``id()``, hashing or the wall clock.  Every random choice comes
from a stream derived from the seed by name (``random.Random(f"{seed}:{name}")``), so the
network's draws do not shift when a client is added, and the same seed replays the same
history and trace byte for byte.

The driver loop is the one every engine shares (design principle 2): after each input to a
core (a tick or a message) the simulator drains ``core.ready()`` and does, in order,
persist (and sync) -> send messages -> send client replies -> record events and fire hooks.
A crash therefore can only lose what the core itself chose not to sync.

Faults act through the :class:`faults.engine.Engine` methods (``cut``, ``set_clock``,
``crash``, ``pause`` ...) plus ``schedule``/``add_event_hook`` for timed and triggered
schedules.  Call them from scheduled callbacks (``schedule(now, fn)``), not from inside an
event hook, so a fault never lands in the middle of a core's output batch.

The parts live in sibling modules, one responsibility each, combined here as mixins:
:mod:`~cluster.sim.world_base` (constants, per-node/per-slot state),
:mod:`~cluster.sim.world_recording` (trace, hooks, output), :mod:`~cluster.sim.world_links`
(sending, link faults), :mod:`~cluster.sim.world_nodes` (cores, crash/pause/restart,
clocks) and :mod:`~cluster.sim.world_clients` (client slots, history).  This module keeps
the constructor, the event loop and scheduling.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from analysis.history import Event
from cluster.core.storage import MemoryStorage
from cluster.core.types import Core, CoreEvent, Message
from cluster.sim.network import SimNetwork
from cluster.sim.workload import Workload
from cluster.sim.world_base import (
    _CALL,
    _CTICK,
    _DELIVER,
    _OP,
    _STOP_CHECK_EVERY,
    _TICK,
    CRASHED,
    PAUSED,
    UP,
    MakeClient,
    MakeCore,
    SimClient,
    _Node,
    _Slot,
)
from cluster.sim.world_base import Hook as Hook  # re-exported: it was defined here
from cluster.sim.world_clients import ClientMixin
from cluster.sim.world_nodes import NodeMixin

__all__ = ["CRASHED", "PAUSED", "UP", "SimClient", "Simulation"]


class Simulation(ClientMixin, NodeMixin):
    """Runs cores and clients under virtual time; implements :class:`faults.engine.Engine`.

    ``history`` holds the client events (``analysis.history.Event``; ``time`` in virtual ns),
    ``trace`` the records described in :mod:`cluster.sim.trace`.
    """

    def __init__(
        self,
        *,
        seed: int,
        node_ids: tuple[str, ...],
        make_core: MakeCore,
        make_client: MakeClient,
        workload: Workload,
        clients: int = 5,
        tick_ms: int = 10,
        think_ms: tuple[int, int] = (0, 20),
        lose_unsynced: str = "all",
        trace_messages: bool = True,
        base_latency_ms: tuple[int, int] = (1, 5),
    ) -> None:
        if not node_ids:
            raise ValueError("a simulation needs at least one node")
        if len(set(node_ids)) != len(node_ids):
            raise ValueError(f"node ids must be unique, got {node_ids!r}")
        if tick_ms < 1:
            raise ValueError(f"tick_ms must be >= 1, got {tick_ms!r}")
        if clients < 0:
            raise ValueError(f"clients must be >= 0, got {clients!r}")
        if think_ms[0] < 0 or think_ms[1] < think_ms[0]:
            raise ValueError(f"think_ms must satisfy 0 <= lo <= hi, got {think_ms!r}")
        if lose_unsynced not in ("all", "prefix"):
            raise ValueError(f"lose_unsynced must be 'all' or 'prefix', got {lose_unsynced!r}")
        self.seed = seed
        self._node_ids = tuple(node_ids)
        self._make_core = make_core
        self._make_client = make_client
        self._workload = workload
        self._clients_n = clients
        self.tick_ms = tick_ms
        self._think = (int(think_ms[0]), int(think_ms[1]))
        self.lose_unsynced = lose_unsynced
        self.trace_messages = trace_messages

        self.history: list[Event] = []
        self.trace: list[dict[str, Any]] = []
        self._now = 0
        self._seq = 0
        self._mid = 0
        self._queue: list[tuple[int, int, int, Any, Any]] = []
        self._hooks: list[Hook] = []
        self._on_event: Callable[[CoreEvent], None] | None = None
        self._cancelled: set[int] = set()  # membership only

        self._faults_rng = self._stream("faults")
        self._workload_rng = self._stream("workload")
        self._crash_rng = self._stream("crash")
        self.network = SimNetwork(self._stream("net"), base_latency_ms)
        self._summary_cache: dict[type, tuple[str, tuple[str, ...]]] = {}

        self._nodes: dict[str, _Node] = {}
        for nid in self._node_ids:
            phase = self._stream(f"phase:{nid}").randrange(tick_ms)
            self._nodes[nid] = _Node(nid, phase)
        for nid in self._node_ids:
            self._start_node(self._nodes[nid], None)

        self._slots: list[_Slot] = []
        self._client_by_id: dict[str, _Slot] = {}
        for i in range(clients):
            slot = _Slot(i, self._stream(f"think:{i}"))
            self._slots.append(slot)
            self._new_client(slot)
            self._push(self._now + self._think_delay(slot), _OP, slot, slot.gen)

    # --- routing arrivals -----------------------------------------------------------------------

    def _deliver(self, msg: Message, mid: int) -> None:
        dst = msg.dst
        node = self._nodes.get(dst)
        if node is not None:
            if (msg.src, dst) in self.network._cuts:
                self._drop(msg, mid, "cut")  # cut while in flight: partitions act at once
            elif node.state is UP:
                self._step(node, msg, mid)
            elif node.state is PAUSED:
                node.inbox.append((msg, mid))
            else:
                self._drop(msg, mid, "down")
            return
        slot = self._client_by_id.get(dst)
        if slot is None or slot.client is None:
            self._drop(msg, mid, "no-client")
            return
        if (msg.src, dst) in self.network._cuts:
            self._drop(msg, mid, "cut")
            return
        if self.trace_messages:
            self.trace.append(self._wire("deliver", msg, mid))
        slot.client.step(msg)
        self._drain_client(slot)

    # --- running --------------------------------------------------------------------------------

    def run(
        self,
        duration_ms: int,
        *,
        on_event: Callable[[CoreEvent], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        """Advance virtual time by ``duration_ms``: handle every event before the end.

        Runs compose: ``run(a); run(b)`` equals ``run(a + b)``.  ``should_stop`` (checked
        every ~1000 events, e.g. a wall-clock budget) ends the run early at the current
        event's time; a run stopped that way is no longer a pure function of the seed.
        Operations still open at the end stay open (indeterminate in the history).
        """
        if duration_ms < 0:
            raise ValueError(f"duration_ms must be >= 0, got {duration_ms!r}")
        end = self._now + duration_ms
        queue = self._queue
        pop = heapq.heappop
        push = heapq.heappush
        nodes_up = UP
        tick_ms = self.tick_ms
        budget = _STOP_CHECK_EVERY
        nodes_get = self._nodes.get
        cuts = self.network._cuts
        tracing = self.trace_messages
        trace_append = self.trace.append
        wire = self._wire
        drain = self._drain
        self._on_event = on_event
        try:
            while queue and queue[0][0] < end:
                at, _, kind, a, b = pop(queue)
                self._now = at
                if kind == _DELIVER:
                    # Fast path: a message to a running node over an uncut link.
                    node = nodes_get(a.dst)
                    if (
                        node is not None
                        and node.state is nodes_up
                        and not (cuts and (a.src, a.dst) in cuts)
                    ):
                        if tracing:
                            trace_append(wire("deliver", a, b))
                        core = node.core
                        assert core is not None  # UP implies a core
                        core.step(a)
                        drain(node, core)
                    else:
                        self._deliver(a, b)
                elif kind == _TICK:
                    if b == a.gen and a.state is nodes_up:
                        self._tick(a)
                        if b == a.gen and a.state is nodes_up:
                            seq = self._seq
                            self._seq = seq + 1
                            push(queue, (at + tick_ms, seq, _TICK, a, b))
                elif kind == _CTICK:
                    if b == a.gen:
                        client = a.client
                        client.tick(at)
                        self._drain_client(a)
                        if b == a.gen and client.busy:
                            seq = self._seq
                            self._seq = seq + 1
                            push(queue, (at + tick_ms, seq, _CTICK, a, b))
                elif kind == _OP:
                    if b == a.gen and not a.done:
                        self._start_op(a)
                else:  # _CALL
                    if b not in self._cancelled:
                        a()
                    else:
                        self._cancelled.discard(b)
                if should_stop is not None:
                    budget -= 1
                    if budget <= 0:
                        budget = _STOP_CHECK_EVERY
                        if should_stop():
                            return
            self._now = end
        finally:
            self._on_event = None

    def schedule(self, at_ms: int, fn: Callable[[], None]) -> int:
        """Run ``fn`` at engine time ``at_ms`` (now if earlier), after what is already due.

        Returns a handle for :meth:`cancel`.
        """
        return self._push(max(int(at_ms), self._now), _CALL, fn, self._seq)

    def cancel(self, handle: int) -> None:
        """Cancel a callback from :meth:`schedule` that has not run yet."""
        self._cancelled.add(handle)

    # --- Engine: who is there -------------------------------------------------------------------

    def node_ids(self) -> tuple[str, ...]:
        return self._node_ids

    def now_ms(self) -> int:
        return self._now

    @property
    def rng(self) -> random.Random:
        """The ``"faults"`` stream: fault decisions never perturb the network or clients."""
        return self._faults_rng

    def leader(self) -> str | None:
        """The running (possibly paused) node reporting ``role == "leader"`` with the highest
        ``term``; ties go to the first in node order.  None if cores expose no role."""
        best: str | None = None
        best_term = -1
        for nid in self._node_ids:
            core = self._nodes[nid].core
            if core is None or getattr(core, "role", None) != "leader":
                continue
            term = getattr(core, "term", 0)
            if not isinstance(term, int):
                term = 0
            if term > best_term:
                best, best_term = nid, term
        return best

    @property
    def nodes(self) -> dict[str, Core]:
        """Running cores (paused included, crashed absent), in node order."""
        return {nid: n.core for nid in self._node_ids if (n := self._nodes[nid]).core is not None}

    @property
    def storage(self) -> dict[str, MemoryStorage]:
        """Each node's disk (kept across crashes), in node order."""
        return {nid: self._nodes[nid].storage for nid in self._node_ids}

    def node_state(self, node: str) -> str:
        """``"up"``, ``"paused"`` or ``"crashed"``."""
        return self._node(node).state

    def local_ms(self, node: str) -> int:
        """What ``node``'s clock reads now (what its next tick would be given)."""
        return self._node(node).clock.read_ms(self._now)

    def snapshot_nodes(self) -> dict[str, dict[str, Any]]:
        """Per node: state, and role/term/commit_index/log_len where the core has them."""
        out: dict[str, dict[str, Any]] = {}
        for nid in self._node_ids:
            n = self._nodes[nid]
            core = n.core
            log = getattr(core, "log", None) if core is not None else None
            out[nid] = {
                "state": n.state,
                "role": getattr(core, "role", None) if core is not None else None,
                "term": getattr(core, "term", None) if core is not None else None,
                "commit_index": getattr(core, "commit_index", None) if core is not None else None,
                "log_len": len(log) if log is not None else None,
                "incarnation": n.incarnation,
                "clock": n.clock.describe(),
                "pending_writes": n.storage.pending,
            }
        return out


if TYPE_CHECKING:  # the simulator must stay a drop-in engine for fault schedules
    from faults.schedule import SchedulingEngine

    def _conforms(sim: Simulation) -> SchedulingEngine:
        return sim
