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
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from analysis.history import Event
from cluster.core.storage import MemoryStorage
from cluster.core.types import Core, CoreEvent, Message, Ready
from cluster.sim.clock import SimClock
from cluster.sim.network import SimNetwork
from cluster.sim.trace import history_jsonl, to_jsonl
from cluster.sim.workload import Workload

__all__ = ["CRASHED", "PAUSED", "UP", "SimClient", "Simulation"]

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


class Simulation:
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

    # --- plumbing -------------------------------------------------------------------------------

    def _stream(self, name: str) -> random.Random:
        """An independent random stream named ``name`` (string seeding is stable)."""
        return random.Random(f"{self.seed}:{name}")

    def _push(self, at: int, kind: int, a: Any, b: Any) -> int:
        seq = self._seq
        self._seq = seq + 1
        heapq.heappush(self._queue, (at, seq, kind, a, b))
        return seq

    def _think_delay(self, slot: _Slot) -> int:
        lo, hi = self._think
        return lo if lo == hi else slot.think_rng.randint(lo, hi)

    def _emit(self, kind: str, data: dict[str, Any], *, hooks: bool = True) -> None:
        """Append a simulator record to the trace and (usually) tell the hooks."""
        rec = dict(data)
        rec["t"] = self._now
        rec["kind"] = kind
        self.trace.append(rec)
        if hooks and self._hooks:
            shared = dict(rec)
            for fn in list(self._hooks):
                fn(kind, shared)

    def _node(self, node: str) -> _Node:
        n = self._nodes.get(node)
        if n is None:
            raise ValueError(f"unknown node {node!r}; nodes are {', '.join(self._node_ids)}")
        return n

    # --- the driver loop ------------------------------------------------------------------------

    def _drain(self, node: _Node, core: Core) -> None:
        """Persist, then send, then reply, then record: the order crash safety rests on."""
        r = core.ready()
        if r.persist:
            node.storage.write(r.persist, r.sync)
            if self.trace_messages:
                self.trace.append(
                    {"t": self._now, "kind": "store", "node": node.id, "ops": len(r.persist), "sync": r.sync}
                )
        if r.messages:
            send = self._send
            for m in r.messages:
                send(m)
        if r.replies:
            send = self._send
            for m in r.replies:
                send(m)
        if r.events:
            self._record_events(r.events)

    def _record_events(self, events: tuple[CoreEvent, ...]) -> None:
        now = self._now
        trace = self.trace
        hooks = self._hooks
        on_event = self._on_event
        for ev in events:
            rec = dict(ev.data)
            rec["t"] = now
            rec["kind"] = ev.kind
            rec["node"] = ev.node
            trace.append(rec)
            if on_event is not None:
                on_event(ev)
            if hooks:
                shared = dict(rec)
                for fn in list(hooks):
                    fn(ev.kind, shared)

    def _summary(self, msg: Message) -> tuple[str, tuple[str, ...]]:
        """Class name and which of ``term``/``seq``/``op``/``status`` it has (cached)."""
        cls = type(msg)
        have = {f.name for f in fields(msg)} if is_dataclass(msg) else set()
        entry = (cls.__name__, tuple(n for n in _SUMMARY_FIELDS if n in have))
        self._summary_cache[cls] = entry
        return entry

    def _wire(self, kind: str, msg: Message, mid: int) -> dict[str, Any]:
        """A wire record; the per-class summary is cached because this runs per message."""
        entry = self._summary_cache.get(type(msg))
        if entry is None:
            entry = self._summary(msg)
        name, summary = entry
        rec: dict[str, Any] = {
            "t": self._now,
            "kind": kind,
            "src": msg.src,
            "dst": msg.dst,
            "msg": name,
            "mid": mid,
        }
        for field_name in summary:
            rec[field_name] = getattr(msg, field_name)
        return rec

    def _send(self, msg: Message) -> None:
        mid = self._mid
        self._mid = mid + 1
        plan = self.network.plan(self._now, msg.src, msg.dst)
        tracing = self.trace_messages
        if tracing:
            self.trace.append(self._wire("send", msg, mid))
        if isinstance(plan, str):
            if tracing:
                rec = self._wire("drop", msg, mid)
                rec["reason"] = plan
                self.trace.append(rec)
            return
        seq = self._seq
        self._seq = seq + 2
        heapq.heappush(self._queue, (plan[0], seq, _DELIVER, msg, mid))
        if len(plan) > 1:
            if tracing:
                rec = self._wire("dup", msg, mid)
                rec["at"] = plan[1]
                self.trace.append(rec)
            heapq.heappush(self._queue, (plan[1], seq + 1, _DELIVER, msg, mid))

    def _drop(self, msg: Message, mid: int, reason: str) -> None:
        if self.trace_messages:
            rec = self._wire("drop", msg, mid)
            rec["reason"] = reason
            self.trace.append(rec)

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

    def _step(self, node: _Node, msg: Message, mid: int) -> None:
        core = node.core
        assert core is not None
        if self.trace_messages:
            self.trace.append(self._wire("deliver", msg, mid))
        core.step(msg)
        self._drain(node, core)

    def _tick(self, node: _Node) -> None:
        core = node.core
        assert core is not None
        core.tick(node.clock.read_ms(self._now))
        self._drain(node, core)

    def _schedule_tick(self, node: _Node) -> None:
        """Next tick of ``node`` at its phase on the tick grid, strictly after now."""
        tick = self.tick_ms
        at = self._now + (node.phase - self._now) % tick
        if at <= self._now:
            at += tick
        self._push(at, _TICK, node, node.gen)

    def _start_node(self, node: _Node, durable: Mapping[str, Any] | None) -> None:
        name = f"node:{node.id}" if node.incarnation == 0 else f"node:{node.id}:{node.incarnation}"
        core = self._make_core(node.id, durable, self._stream(name))
        node.core = core
        node.state = UP
        node.gen += 1
        self._drain(node, core)
        if node.core is core and node.state is UP:
            self._schedule_tick(node)

    # --- clients --------------------------------------------------------------------------------

    def _new_client(self, slot: _Slot) -> None:
        slot.client_id = f"c{slot.process}"
        if slot.client_id in self._nodes:
            raise ValueError(f"client id {slot.client_id!r} clashes with a node id; rename the node")
        slot.client = self._make_client(slot.client_id, self._stream(f"client:{slot.process}"))
        self._client_by_id[slot.client_id] = slot

    def _start_op(self, slot: _Slot) -> None:
        op = self._workload.next_op(slot.process, self._workload_rng)
        if op is None:
            slot.done = True
            return
        f, key, value = op
        slot.f, slot.key, slot.value = f, key, value
        now = self._now
        self.history.append(
            Event(slot.process, "invoke", f, value, key, now * _NS_PER_MS, len(self.history))
        )
        self.trace.append(
            {
                "t": now,
                "kind": "client-invoke",
                "process": slot.process,
                "client": slot.client_id,
                "f": f,
                "key": key,
                "value": value,
            }
        )
        client = slot.client
        assert client is not None
        client.invoke(f, key, value, now)
        self._drain_client(slot)
        if client.busy:
            self._push(now + self.tick_ms, _CTICK, slot, slot.gen)

    def _drain_client(self, slot: _Slot) -> None:
        client = slot.client
        assert client is not None
        r = client.ready()
        if r.messages:
            for m in r.messages:
                self._send(m)
        done = client.take_completion()
        if done is not None:
            self._complete(slot, done)

    def _complete(self, slot: _Slot, done: Any) -> None:
        status = str(done.status)
        value = done.value if status == "ok" else slot.value
        now = self._now
        self.history.append(
            Event(slot.process, status, slot.f, value, slot.key, now * _NS_PER_MS, len(self.history))
        )
        self._emit(
            "client-complete",
            {
                "process": slot.process,
                "client": slot.client_id,
                "f": slot.f,
                "key": slot.key,
                "type": status,
                "value": value,
                "attempts": getattr(done, "attempts", None),
                "node": getattr(done, "node", None),
            },
        )
        slot.gen += 1  # stops this operation's client ticks
        if status == "info":
            # Jepsen: a process whose operation is indeterminate is considered crashed and
            # never invokes again; the slot continues as a fresh process with a fresh client
            # id, so server-side (client_id, seq) dedup never confuses the two.
            del self._client_by_id[slot.client_id]
            slot.process += self._clients_n
            self._new_client(slot)
        self._push(now + self._think_delay(slot), _OP, slot, slot.gen)

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

    def add_event_hook(self, fn: Hook) -> None:
        """Call ``fn(kind, data)`` for every core event, client completion and lifecycle
        change (crash, restart, pause, resume, clock).  ``data`` includes ``node`` and ``t``;
        treat it as read-only."""
        self._hooks.append(fn)

    def remove_event_hook(self, fn: Hook) -> None:
        self._hooks.remove(fn)

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

    def clients(self) -> list[dict[str, Any]]:
        """Per client slot: current process id, client id, busy, done."""
        return [
            {
                "slot": s.index,
                "process": s.process,
                "client": s.client_id,
                "busy": bool(s.client is not None and s.client.busy),
                "done": s.done,
            }
            for s in self._slots
        ]

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

    # --- Engine: network ------------------------------------------------------------------------

    def cut(self, src: str, dst: str) -> None:
        if not self.network.is_cut(src, dst):
            self.network.cut(src, dst)
            self._emit("link", {"op": "cut", "src": src, "dst": dst}, hooks=False)

    def restore(self, src: str, dst: str) -> None:
        if self.network.is_cut(src, dst):
            self.network.restore(src, dst)
            self._emit("link", {"op": "restore", "src": src, "dst": dst}, hooks=False)

    def set_link(
        self,
        src: str,
        dst: str,
        *,
        loss: float = 0.0,
        delay_ms: float = 0.0,
        jitter_ms: float = 0.0,
        duplicate: float = 0.0,
        reorder: float = 0.0,
    ) -> None:
        settings = {
            "loss": loss,
            "delay_ms": delay_ms,
            "jitter_ms": jitter_ms,
            "duplicate": duplicate,
            "reorder": reorder,
        }
        self.network.set_link(src, dst, **settings)
        self._emit("link", {"op": "set", "src": src, "dst": dst, **settings}, hooks=False)

    # --- Engine: clocks -------------------------------------------------------------------------

    def set_clock(self, node: str, *, offset_ms: float = 0.0, rate: float = 1.0) -> None:
        n = self._node(node)
        n.clock.set(self._now, offset_ms, rate)
        self._emit_clock(n)

    def jump_clock(self, node: str, delta_ms: float) -> None:
        n = self._node(node)
        n.clock.jump(delta_ms)
        self._emit_clock(n, delta_ms=delta_ms)

    def _emit_clock(self, n: _Node, **extra: Any) -> None:
        self._emit(
            "clock",
            {"node": n.id, **n.clock.describe(), "local_ms": n.clock.read_ms(self._now), **extra},
        )

    # --- Engine: processes ----------------------------------------------------------------------

    def crash(self, node: str) -> None:
        """Drop the core and its inbox; unsynced writes are lost (all, or all but a seeded
        prefix with ``lose_unsynced="prefix"``).  Messages arriving while down are dropped."""
        n = self._node(node)
        if n.state is CRASHED:
            return
        n.core = None
        n.state = CRASHED
        n.gen += 1
        dropped = len(n.inbox)
        n.inbox.clear()
        lost = n.storage.crash(self._crash_rng if self.lose_unsynced == "prefix" else None)
        self._emit("crash", {"node": node, "lost_writes": lost, "dropped_queued": dropped})

    def restart(self, node: str) -> None:
        """Rebuild the core from durable storage with a fresh rng stream; ticks resume."""
        n = self._node(node)
        if n.state is not CRASHED:
            return
        n.incarnation += 1
        self._emit("restart", {"node": node, "incarnation": n.incarnation})
        self._start_node(n, n.storage.load())

    def pause(self, node: str) -> None:
        """Freeze: no ticks, no processing; arrivals queue until :meth:`resume`."""
        n = self._node(node)
        if n.state is not UP:
            return
        n.state = PAUSED
        n.gen += 1
        self._emit("pause", {"node": node})

    def resume(self, node: str) -> None:
        """Process what queued up, in arrival order, then tick again on the node's grid."""
        n = self._node(node)
        if n.state is not PAUSED:
            return
        n.state = UP
        n.gen += 1
        self._emit("resume", {"node": node, "queued": len(n.inbox)})
        gen = n.gen
        while n.inbox and n.state is UP and n.gen == gen:
            msg, mid = n.inbox.popleft()
            self._step(n, msg, mid)
        if n.state is UP and n.gen == gen:
            self._schedule_tick(n)

    # --- Engine: observation --------------------------------------------------------------------

    def record(self, kind: str, data: dict[str, object]) -> None:
        """Append a fault record (``fault-start``, ``fault-end`` ...) to the trace."""
        self._emit(kind, dict(data), hooks=False)

    # --- output ---------------------------------------------------------------------------------

    def trace_jsonl(self) -> str:
        return to_jsonl(self.trace)

    def history_jsonl(self) -> str:
        return history_jsonl(self.history)

    def write_trace(self, path: str | Path) -> None:
        Path(path).write_text(self.trace_jsonl(), encoding="utf-8", newline="\n")

    def write_history(self, path: str | Path) -> None:
        Path(path).write_text(self.history_jsonl(), encoding="utf-8", newline="\n")


if TYPE_CHECKING:  # the simulator must stay a drop-in engine for fault schedules
    from faults.schedule import SchedulingEngine

    def _conforms(sim: Simulation) -> SchedulingEngine:
        return sim
