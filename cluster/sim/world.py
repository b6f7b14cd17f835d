"""The deterministic simulator: N cores, M clients, virtual time, a seeded network.

:class:`Simulation` is one engine composed of parts, each owning its state:

* :class:`~cluster.sim.scheduler.Scheduler` -- virtual time and the heap of pending work;
* :class:`~cluster.sim.network.SimNetwork` -- link settings, cuts and the seeded draws that
  decide each message's fate; :class:`~cluster.sim.transport.Transport` -- message ids,
  messages in flight, and who is attached at each address;
* :class:`~cluster.sim.process.NodeProcess` -- one per server: core, disk, clock, life;
* :class:`~cluster.sim.clients.ClientSlots` -- the Jepsen processes, workload and history;
* :class:`~cluster.sim.recorder.Recorder` -- the trace and the event hooks.

The parts talk through narrow calls (send a message, schedule an entry, record), never
through each other's fields; this class builds them, wires them together, and is their
public face: the :class:`faults.engine.Engine` methods plus ``schedule``/``cancel`` and
``add_event_hook`` for fault schedules.

Every random choice comes from a stream derived from the seed by name
(``random.Random(f"{seed}:{name}")``), so the network's draws do not shift when a client
is added, and the same seed replays the same history and trace byte for byte.

Call fault methods from scheduled callbacks (``schedule(now, fn)``), not from inside an
event hook, so a fault never lands in the middle of a core's output batch.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analysis.history import Event
from cluster.core.storage import MemoryStorage
from cluster.core.types import Core, CoreEvent
from cluster.sim.clients import ClientSlots, MakeClient, SimClient
from cluster.sim.gcpolicy import few_full_collections
from cluster.sim.network import SimNetwork
from cluster.sim.process import CRASHED, PAUSED, UP, MakeCore, NodeProcess
from cluster.sim.recorder import Hook, Recorder
from cluster.sim.scheduler import Scheduler
from cluster.sim.trace import history_jsonl, to_jsonl
from cluster.sim.transport import Transport
from cluster.sim.workload import Workload
from cluster.spec import EventRecords, RecordsOn

__all__ = ["CRASHED", "PAUSED", "UP", "Hook", "MakeClient", "MakeCore", "SimClient", "Simulation"]

def _named_stream(seed: int, name: str) -> random.Random:
    """An independent random stream named ``name`` (string seeding is stable)."""
    return random.Random(f"{seed}:{name}")


class Simulation:
    """Runs cores and clients under virtual time; implements :class:`faults.engine.Engine`.

    ``history`` holds the client events (``analysis.history.Event``; ``time`` in virtual ns),
    ``trace`` the records described in :mod:`cluster.sim.trace`.

    ``skip_idle_ticks=False`` hands every grid tick to every core instead of only those a
    core's ``next_wakeup`` says can do something (see :mod:`cluster.sim.process`): the
    same run byte for byte, only slower, which is how a core's ``next_wakeup`` is checked.
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
        skip_idle_ticks: bool = True,
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
        self.tick_ms = tick_ms
        self.lose_unsynced = lose_unsynced
        self._node_ids = tuple(node_ids)
        # The parts are handed this factory, not a method of this class, so that none of
        # them holds a reference back to the simulation.
        self._stream: Callable[[str], random.Random] = functools.partial(_named_stream, seed)
        self._closed = False
        self._faults_rng = self._stream("faults")

        self._scheduler = Scheduler()
        self._recorder = Recorder(self._scheduler, trace_messages=trace_messages)
        self.network = SimNetwork(self._stream("net"), base_latency_ms)
        self._transport = Transport(self.network, self._scheduler, self._recorder)
        crash_rng = self._stream("crash") if lose_unsynced == "prefix" else None
        self._nodes: dict[str, NodeProcess] = {
            nid: NodeProcess(
                nid,
                phase=self._stream(f"phase:{nid}").randrange(tick_ms),
                tick_ms=tick_ms,
                make_core=make_core,
                stream=self._stream,
                crash_rng=crash_rng,
                scheduler=self._scheduler,
                transport=self._transport,
                recorder=self._recorder,
                skip_idle=skip_idle_ticks,
            )
            for nid in self._node_ids
        }
        self._clients = ClientSlots(
            clients,
            workload=workload,
            workload_rng=self._stream("workload"),
            think_ms=(int(think_ms[0]), int(think_ms[1])),
            tick_ms=tick_ms,
            make_client=make_client,
            stream=self._stream,
            scheduler=self._scheduler,
            transport=self._transport,
            recorder=self._recorder,
            skip_idle=skip_idle_ticks,
        )
        self.history: list[Event] = self._clients.history
        self.trace: list[dict[str, Any]] = self._recorder.trace
        for nid in self._node_ids:
            self._nodes[nid].start(None)
        self._clients.start()

    @property
    def trace_messages(self) -> bool:
        """Whether wire records (send/deliver/drop/dup/store) are traced; fixed at construction."""
        return self._recorder.wire_on

    def _node(self, node: str) -> NodeProcess:
        n = self._nodes.get(node)
        if n is None:
            raise ValueError(f"unknown node {node!r}; nodes are {', '.join(self._node_ids)}")
        return n

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
        if self._closed:
            raise RuntimeError("this simulation was closed: its run is over")
        self._recorder.on_event = on_event
        try:
            with few_full_collections():
                self._scheduler.run_until(self._scheduler.now + duration_ms, should_stop)
        finally:
            self._recorder.on_event = None

    def close(self) -> None:
        """End the simulation: drop the pending work, detach every address and forget the
        hooks.  What it produced stays readable (trace, history, nodes, storage), but it
        cannot run on.

        The parts refer to each other both ways while a run goes on (a node process
        schedules its ticks, the scheduler holds them; the transport delivers to the
        process, which sends through the transport).  Closed, none of those references is
        left, so the whole world -- trace, history and every node's log -- is freed as
        soon as its last user lets go of it.  Left open, it would be one large reference
        cycle that waits for Python's next full collection, which a long explore hardly
        ever reaches: it grew by tens of MB a second.
        """
        self._closed = True
        self._scheduler.clear()
        self._transport.close()
        self._recorder.close()

    def schedule(self, at_ms: int, fn: Callable[[], None]) -> int:
        """Run ``fn`` at engine time ``at_ms`` (now if earlier), after what is already due.

        Returns a handle for :meth:`cancel`.
        """
        return self._scheduler.call_at(at_ms, fn)

    def cancel(self, handle: int) -> None:
        """Cancel a callback from :meth:`schedule` that has not run yet."""
        self._scheduler.cancel(handle)

    # --- Engine: who is there -------------------------------------------------------------------

    def node_ids(self) -> tuple[str, ...]:
        return self._node_ids

    def now_ms(self) -> int:
        return self._scheduler.now

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
            process = self._nodes[nid]
            process.settle()
            core = process.core
            if core is None or getattr(core, "role", None) != "leader":
                continue
            term = getattr(core, "term", 0)
            if not isinstance(term, int):
                term = 0
            if term > best_term:
                best, best_term = nid, term
        return best

    # --- Engine: network ------------------------------------------------------------------------

    def cut(self, src: str, dst: str) -> None:
        if not self.network.is_cut(src, dst):
            self.network.cut(src, dst)
            self._recorder.emit("link", {"op": "cut", "src": src, "dst": dst}, hooks=False)

    def restore(self, src: str, dst: str) -> None:
        if self.network.is_cut(src, dst):
            self.network.restore(src, dst)
            self._recorder.emit("link", {"op": "restore", "src": src, "dst": dst}, hooks=False)

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
        self._recorder.emit("link", {"op": "set", "src": src, "dst": dst, **settings}, hooks=False)

    # --- Engine: clocks -------------------------------------------------------------------------

    def set_clock(self, node: str, *, offset_ms: float = 0.0, rate: float = 1.0) -> None:
        self._node(node).set_clock(offset_ms, rate)

    def jump_clock(self, node: str, delta_ms: float) -> None:
        self._node(node).jump_clock(delta_ms)

    # --- Engine: processes ----------------------------------------------------------------------

    def crash(self, node: str) -> None:
        """Drop the core and its inbox; unsynced writes are lost (all, or all but a seeded
        prefix with ``lose_unsynced="prefix"``).  Messages arriving while down are dropped."""
        self._node(node).crash()

    def restart(self, node: str) -> None:
        """Rebuild the core from durable storage with a fresh rng stream; ticks resume."""
        self._node(node).restart()

    def pause(self, node: str) -> None:
        """Freeze: no ticks, no processing; arrivals queue until :meth:`resume`."""
        self._node(node).pause()

    def resume(self, node: str) -> None:
        """Wake the node: its clock ticks first, then it processes what queued up, in
        arrival order, then it ticks again on its grid."""
        self._node(node).resume()

    # --- Engine: observation --------------------------------------------------------------------

    def record(self, kind: str, data: dict[str, object]) -> None:
        """Append a fault record (``fault-start``, ``fault-end`` ...) to the trace."""
        self._recorder.emit(kind, dict(data), hooks=False)

    def add_event_hook(self, fn: Hook) -> None:
        """Call ``fn(kind, data)`` for every core event, client completion and lifecycle
        change (crash, restart, pause, resume, clock).  ``data`` includes ``node`` and ``t``;
        treat it as read-only."""
        self._recorder.add_hook(fn)

    def remove_event_hook(self, fn: Hook) -> None:
        self._recorder.remove_hook(fn)

    def set_event_records(self, records: EventRecords | None) -> None:
        """Have each node add ``records(core, event)`` to the trace when its core emits an
        event, read from the core at that moment; the records follow the event's own and
        precede what any hook records for it.  Only core events, as on the real engine."""
        if records is None:
            self._recorder.node_records = None
            self._recorder.node_record_kinds = None
            return
        nodes = self._nodes
        emit = self._recorder.emit
        # Records that declare the kinds they read (RecordsOn) are asked about those alone,
        # and the recorder does that filtering, so the declared function is called directly.
        kinds, read = (records.kinds, records.fn) if isinstance(records, RecordsOn) else (None, records)

        def node_records(event: CoreEvent) -> None:
            process = nodes.get(event.node)
            core = None if process is None else process.core
            if core is None:  # a client's event, or a node that is down
                return
            for kind, data in read(core, event):
                emit(kind, {"node": event.node, **data}, hooks=False)

        self._recorder.node_records = node_records
        self._recorder.node_record_kinds = kinds

    # --- inspection -----------------------------------------------------------------------------

    @property
    def nodes(self) -> dict[str, Core]:
        """Running cores (paused included, crashed absent), in node order, each as it would
        be had it been handed every idle tick."""
        for process in self._nodes.values():
            process.settle()
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
        return self._node(node).clock.read_ms(self._scheduler.now)

    def snapshot_nodes(self) -> dict[str, dict[str, Any]]:
        """Per node: state, and role/term/commit_index/log_len where the core has them."""
        return {nid: self._nodes[nid].snapshot() for nid in self._node_ids}

    def clients(self) -> list[dict[str, Any]]:
        """Per client slot: current process id, client id, busy, done."""
        return self._clients.describe()

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
