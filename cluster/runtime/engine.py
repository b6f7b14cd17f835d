"""RayEngine: the fault vocabulary (``faults.engine.Engine``) applied to real processes.

The engine composes parts that each own their state: the *desired* world
(:class:`~cluster.runtime.world.DesiredWorld`: links, clocks, failpoints), one
:class:`~cluster.runtime.handles.NodeHandle` per node (its process, control channel and
command queue), and the trace with its event hooks.  A fault changes the desired world and
the engine pushes the change to the node processes over the control service:

* crash   -> ``SIGKILL`` of the actor's process (unsynced WAL writes die with it);
  restart -> a new actor on the same data directory, same port when free;
* pause   -> ``SIGSTOP``; resume -> ``SIGCONT`` (then re-push link state changed meanwhile);
* cut/restore/set_link -> the sender's link layer (``SetLink``) and, for cuts, the
  receiver refusing the stream (``BlockInbound``) -- see :mod:`cluster.runtime.transport`;
* set_clock/jump_clock -> ``SetClock``/``JumpClock`` on the node's skewable clock;
* failpoints (``arm_failpoint``) -> every node freezes itself the moment it emits a
  matching event, and the trigger that armed it crashes the node when the event reaches
  the driver (why: docs/runtime.md, "Failpoints").  Every crash record says where it
  landed: ``"landed": "failpoint"`` when the node was frozen at one, and, when it was
  running although it had just emitted an event a failpoint was armed for (no freeze
  could be had), ``"landed": "running"`` with that event and how long after it.

The run's trace is merged at the end (:meth:`RayEngine.merged_trace`): the driver's own
records (faults, lifecycle) and every node's trace file (:mod:`cluster.runtime.trace_log`),
which holds each node's events as durably as its WAL holds its state.  The events the
nodes stream during the run serve the event-triggered faults and live progress only.

Some nodes are not Ray actors but *external processes* the run manages: a real RabbitMQ or
Tansu broker (node ``n1`` of the saga and pipeline systems).  For those, crash is a SIGKILL
of the broker's processes and restart boots it again on the same port and data directory;
pause/resume signal its processes; link faults to or from it are applied by the *other*
end, the node's :class:`~cluster.runtime.broker_link.BrokerLink` (``SetLink`` with
``inbound`` for the broker -> node direction); clock faults on it are recorded but have no
effect (its clock is not the lesson).

The engine runs on one asyncio loop, given at construction: fault callbacks are timers on
that loop, and engine methods may be called (by the runner, installing a schedule) while
the loop is not running -- they only queue work on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

import grpc
import grpc.aio

from analysis import trace_kinds as K
from cluster.runtime.handles import (
    CRASHED,
    PAUSED,
    RPC_TIMEOUT_S,
    STARTING,
    UP,
    ExternalProcess,
    NodeHandle,
    failpoint_proto,
)
from cluster.runtime.node import NodeSpec
from cluster.runtime.node_services import link_settings_proto
from cluster.runtime.trace_log import TRACE_NAME, read_trace_log
from cluster.runtime.world import DesiredWorld, FailpointSpec
from faults.engine import LinkSettings
from protos import control_pb2

__all__ = ["CRASHED", "PAUSED", "STARTING", "UP", "ExternalProcess", "RayEngine", "Signaller"]

Hook = Callable[[str, Mapping[str, Any]], None]
Signaller = Callable[[str, int, int], None]
"""``signaller(node, pid, signal)``: deliver a signal to a node's process where it runs.
Without one, signals go to local pids (every actor beside the driver); a run spread over
a cluster's machines passes one that reaches the node's own machine."""
_STREAM_REOPENS = 3
"""How many times the driver opens the event stream of a node that is still up again."""
_THAW_AFTER_S = 0.05
"""How long after a frozen node's trigger was due the driver thaws it if no fault killed
it.  The trigger's fault is a timer on the same loop due earlier, so it has run by then;
longer would only pause a node whose trigger was busy with another node's crash."""
SETUP_TIMEOUT_S = 30.0
"""How long wiring a node that just started may take (its first control call)."""
_LATE_WINDOW_MS = 2000
"""A crash of a running node this soon after it emitted an event a failpoint was armed
for is recorded as having landed late, after that event."""


class RayEngine:
    """Implements ``faults.schedule.SchedulingEngine`` (plus failpoints) against node actors."""

    records_restarted: ClassVar[bool] = True
    """A restart takes time here (a process starts and is wired up): the ``restart`` record
    says it began, ``restarted`` that the node serves again (see ``faults.schedule``)."""

    def __init__(
        self,
        *,
        specs: dict[str, NodeSpec],
        seed: int,
        make_actor: Callable[[NodeSpec], Any],
        loop: asyncio.AbstractEventLoop,
        on_addresses: Callable[[dict[str, str]], Awaitable[None]] | None = None,
        externals: Mapping[str, ExternalProcess] | None = None,
        spares: frozenset[str] = frozenset(),
        signaller: Signaller | None = None,
    ) -> None:
        self._ids = tuple(specs)
        self._nodes = {nid: NodeHandle(nid, spec) for nid, spec in specs.items()}
        for nid, ext in (externals or {}).items():
            self._node(nid).external = ext
        self.world = DesiredWorld(self._ids)
        self._make_actor = make_actor
        self._loop = loop
        self._on_addresses = on_addresses
        self._signaller = signaller
        self._rng = random.Random(f"{seed}:faults")
        self.t0_ns = time.monotonic_ns()
        self.trace: list[dict[str, Any]] = []
        """The driver's own records (faults, lifecycle, links, clocks, system records)."""
        self.streamed = 0
        """Node events that reached the driver over the event streams."""
        self._hooks: list[Hook] = []
        self._roles: dict[str, tuple[str, int]] = {}
        self._handles: list[asyncio.TimerHandle] = []
        self._bg: set[asyncio.Task[Any]] = set()
        self.errors: list[str] = []
        self.closed = False
        self._spares = spares
        """The actor nodes that keep a warm spare process (the run's faults may crash them)."""

    # --- startup ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Spawn every node actor, let it prepare, then start them all at one t0 and wire
        the peers."""
        actors = [n for n in self._nodes.values() if n.external is None]
        for n in actors:
            n.actor = self._make_actor(n.spec)
            n.actors.append(n.actor)
        for n in actors:
            if n.id in self._spares:
                self._make_spare(n)
        # pid first: spawning the worker processes is the slow part and runs in parallel
        await asyncio.gather(*(n.actor.pid.remote() for n in actors))
        await asyncio.gather(*(n.actor.prepare.remote() for n in actors))
        # the spares are spawned before the clock starts too: they cost no run time then
        await asyncio.gather(*(n.spare_ready for n in actors if n.spare_ready is not None), return_exceptions=True)
        self.t0_ns = time.monotonic_ns()
        infos = await asyncio.gather(*(n.actor.start.remote(self.t0_ns) for n in actors))
        for n, info in zip(actors, infos, strict=True):
            self._attach(n, info)
        for n in self._nodes.values():
            if n.external is not None:  # already serving: the run started it first
                n.state = UP
                n.pid = next(iter(n.external.pids()), 0)
                n.worker = self._spawn(n.work(self.errors))
        await asyncio.gather(*(self._set_peers(n) for n in actors))

    def _make_spare(self, n: NodeHandle) -> None:
        """Spawn and prepare the process ``n``'s next restart becomes.  A restart is meant
        to take the fault's duration (hundreds of ms); a fresh Ray worker process takes
        seconds to boot, and over 30 s on a loaded machine, which would silently stretch
        every crash fault and starve the workload of the time the scenario gives it."""
        spare = self._make_actor(n.spec)
        n.actors.append(spare)

        async def ready() -> None:
            await spare.pid.remote()
            await spare.prepare.remote()

        n.spare = spare
        n.spare_ready = self._spawn(ready())

    async def _take_spare(self, n: NodeHandle) -> Any:
        """``n``'s warm spare once it is ready (None: no spare, or it failed to boot)."""
        spare, ready = n.spare, n.spare_ready
        n.spare = n.spare_ready = None
        if spare is None or ready is None:
            return None
        try:
            await ready
        except Exception as e:  # noqa: BLE001 - a spare that cannot boot: spawn afresh
            self.errors.append(f"{n.id}: spare process: {type(e).__name__}: {e}")
            return None
        return spare

    def _attach(self, n: NodeHandle, info: dict[str, Any]) -> None:
        n.attach(info)
        n.events_task = self._spawn(self._follow_events(n, n.control, n.incarnation))
        if n.worker is None:
            n.worker = self._spawn(n.work(self.errors))

    def addresses(self) -> dict[str, str]:
        return {nid: n.address for nid, n in self._nodes.items() if n.port}

    async def _set_peers(self, n: NodeHandle) -> None:
        peers = control_pb2.Peers(
            peers=[control_pb2.PeerAddress(node=k, address=v) for k, v in self.addresses().items()]
        )
        # wait_for_ready: a node's first control call waits for its channel to connect (a
        # loaded machine can take seconds to answer a fresh connection) instead of failing
        await n.control.SetPeers(peers, timeout=SETUP_TIMEOUT_S, wait_for_ready=True)

    # --- plumbing ----------------------------------------------------------------------------

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = self._loop.create_task(coro)  # type: ignore[arg-type]
        self._bg.add(task)
        task.add_done_callback(self._bg.discard)
        return task

    def _enqueue(self, n: NodeHandle, cmd: Callable[[], Awaitable[None]]) -> None:
        if not self.closed:
            n.enqueue(cmd)

    def _rpc(self, n: NodeHandle, call: Callable[[Any], Awaitable[Any]]) -> None:
        if not self.closed:
            n.rpc(call)

    def _emit(self, kind: str, data: dict[str, Any], *, hooks: bool = True) -> None:
        rec = dict(data)
        rec["t"] = self.now_ms()
        rec["kind"] = kind
        self.trace.append(rec)
        if hooks:
            self._fire_hooks(kind, rec)

    def _fire_hooks(self, kind: str, rec: dict[str, Any]) -> None:
        for fn in list(self._hooks):
            try:
                fn(kind, dict(rec))
            except Exception as e:
                self.errors.append(f"event hook: {type(e).__name__}: {e}")

    async def _follow_events(self, n: NodeHandle, control: Any, incarnation: int) -> None:
        """Follow the node's event stream: the fault hooks see its core events (the
        trace gets them from the node's own trace file at the end).

        The stream of a node that was crashed on purpose ends quietly.  A stream that ends
        while its node is still up would leave the triggers blind to that node (a failpoint
        freeze nobody hears of keeps it frozen until the settle phase), so it is opened
        again, up to :data:`_STREAM_REOPENS` times, and each end is an engine error."""
        held: list[tuple[str, dict[str, Any]]] = []  # events since a failpoint hit, hooks not yet run
        for attempt in range(_STREAM_REOPENS + 1):
            try:
                ended = await self._follow_stream(n, control, incarnation, held)
            except asyncio.CancelledError:
                return
            if ended is None or self.closed or n.incarnation != incarnation or n.state in (CRASHED, STARTING):
                return
            again = attempt < _STREAM_REOPENS
            self.errors.append(f"{n.id}: event stream {ended} at {self.now_ms()} ms while the node was up; "
                               f"{'opened again' if again else 'the triggers no longer see its events'}")
            await asyncio.sleep(0.1)

    async def _follow_stream(self, n: NodeHandle, control: Any, incarnation: int,
                             held: list[tuple[str, dict[str, Any]]]) -> str | None:
        """One ``Events`` call followed to its end: None when the node's incarnation is
        over, else how the stream ended."""
        try:
            async for batch in control.Events(control_pb2.EventsRequest()):
                for ev in batch.events:
                    rec = json.loads(ev.data_json) if ev.data_json else {}
                    rec["t"] = int(ev.t)
                    rec["kind"] = ev.kind
                    rec["node"] = ev.node
                    if n.incarnation != incarnation or n.state == CRASHED:
                        return None  # a late event from a killed incarnation
                    self.streamed += 1
                    if ev.kind == K.ROLE:
                        self._roles[ev.node] = (str(rec.get("role")), int(rec.get("term", 0)))
                    if ev.kind == K.FAILPOINT_FROZEN:
                        # The node has stopped and every event before the stop is in: now let
                        # the triggers see them, in order (the one that armed the failpoint
                        # crashes the node; a second matching event of the batch finds it busy).
                        n.frozen_at = str(rec.get("failpoint"))
                        for kind, held_rec in held:
                            self._fire_hooks(kind, held_rec)
                        held.clear()
                        self._watch_frozen(n, incarnation, str(rec.get("failpoint")))
                    elif held or "failpoint" in rec:
                        held.append((ev.kind, rec))  # hooks wait for the node to be frozen
                    else:
                        if self._armed_for(ev.kind, rec):
                            n.unfrozen_trigger = (ev.kind, int(ev.t))
                        self._fire_hooks(ev.kind, rec)
        except grpc.aio.AioRpcError as e:
            return f"failed ({e.code().name})"
        return "ended"

    def _armed_for(self, kind: str, rec: Mapping[str, Any]) -> bool:
        """Is a failpoint armed for this event (which nonetheless did not freeze its node)?"""
        return any(fp.kind == kind and all(k in rec and rec[k] == v for k, v in fp.where.items())
                   for fp in self.world.failpoints())

    # --- SchedulingEngine ---------------------------------------------------------------------

    def schedule(self, at_ms: int, fn: Callable[[], None]) -> object:
        delay = max(0.0, (at_ms - self.now_ms()) / 1000.0)

        def run() -> None:
            if self.closed:
                return
            try:
                fn()
            except Exception as e:
                self.errors.append(f"fault callback: {type(e).__name__}: {e}")
                self._emit(K.FAULT_ERROR, {"error": f"{type(e).__name__}: {e}"}, hooks=False)

        handle = self._loop.call_later(delay, run)
        self._handles.append(handle)
        return handle

    def add_event_hook(self, fn: Hook) -> None:
        self._hooks.append(fn)

    # --- Engine: who is there -----------------------------------------------------------------

    def node_ids(self) -> tuple[str, ...]:
        return self._ids

    def now_ms(self) -> int:
        return (time.monotonic_ns() - self.t0_ns) // 1_000_000

    @property
    def rng(self) -> random.Random:
        return self._rng

    def leader(self) -> str | None:
        """Highest-term node whose last streamed role event says leader (and is not down)."""
        best, best_term = None, -1
        for nid in self._ids:
            role = self._roles.get(nid)
            if role is None or self._nodes[nid].state == CRASHED:
                continue
            if role[0] == "leader" and role[1] > best_term:
                best, best_term = nid, role[1]
        return best

    def incarnation(self, node: str) -> int:
        """How many times ``node`` was restarted (0: the first process)."""
        return self._node(node).incarnation

    def node_state(self, node: str) -> str:
        return self._node(node).state

    def _node(self, node: str) -> NodeHandle:
        n = self._nodes.get(node)
        if n is None:
            raise ValueError(f"unknown node {node!r}; nodes are {', '.join(self._ids)}")
        return n

    def _externals(self) -> set[str]:
        return {nid for nid, n in self._nodes.items() if n.external is not None}

    # --- Engine: network ---------------------------------------------------------------------

    def cut(self, src: str, dst: str) -> None:
        self._node(src), self._node(dst)
        if not self.world.cut(src, dst):
            return
        self._emit(K.LINK, {"op": "cut", "src": src, "dst": dst}, hooks=False)
        self._push_link(src, dst)
        self._push_block(dst, src)

    def restore(self, src: str, dst: str) -> None:
        if not self.world.restore(src, dst):
            return
        self._emit(K.LINK, {"op": "restore", "src": src, "dst": dst}, hooks=False)
        self._push_block(dst, src)
        self._push_link(src, dst)

    def set_link(self, src: str, dst: str, *, loss: float = 0.0, delay_ms: float = 0.0,
                 jitter_ms: float = 0.0, duplicate: float = 0.0, reorder: float = 0.0) -> None:
        wanted = LinkSettings(loss=loss, delay_ms=delay_ms, jitter_ms=jitter_ms, duplicate=duplicate,
                              reorder=reorder)
        self.world.degrade(src, dst, wanted)
        self._emit(K.LINK, {"op": "set", "src": src, "dst": dst, **wanted.degradation()}, hooks=False)
        self._push_link(src, dst)

    def _push_link(self, src: str, dst: str) -> None:
        n = self._nodes[src]
        link = self.world.link(src, dst)
        if n.external is not None:  # the receiving node applies a link from the broker
            n, settings = self._nodes[dst], link_settings_proto(src, link, inbound=True)
            if n.external is not None:
                return
        else:
            settings = link_settings_proto(dst, link)
        self._rpc(n, lambda c: c.SetLink(settings, timeout=RPC_TIMEOUT_S))

    def _push_block(self, node: str, src: str) -> None:
        n = self._nodes[node]
        if n.external is not None:
            return
        req = control_pb2.InboundBlock(src=src, blocked=self.world.link(src, node).cut)
        self._rpc(n, lambda c: c.BlockInbound(req, timeout=RPC_TIMEOUT_S))

    # --- Engine: clocks ----------------------------------------------------------------------

    def set_clock(self, node: str, *, offset_ms: float = 0.0, rate: float = 1.0) -> None:
        n = self._node(node)
        self.world.set_clock(node, self.now_ms(), offset_ms, rate)
        self._emit_clock(node)
        if n.external is not None:
            return
        req = control_pb2.ClockSettings(offset_ms=offset_ms, rate=rate)
        self._rpc(n, lambda c: c.SetClock(req, timeout=RPC_TIMEOUT_S))

    def jump_clock(self, node: str, delta_ms: float) -> None:
        n = self._node(node)
        self.world.jump_clock(node, delta_ms)
        self._emit_clock(node, delta_ms=delta_ms)
        if n.external is not None:
            return
        req = control_pb2.ClockJump(delta_ms=delta_ms)
        self._rpc(n, lambda c: c.JumpClock(req, timeout=RPC_TIMEOUT_S))

    def _emit_clock(self, node: str, **extra: Any) -> None:
        clock = self.world.clock(node)
        self._emit(K.CLOCK, {"node": node, **clock.describe(), "local_ms": clock.read_ms(self.now_ms()),
                              "mono_ms": clock.read_mono_ms(self.now_ms()), **extra})

    # --- Engine: processes -------------------------------------------------------------------

    def crash(self, node: str) -> None:
        n = self._node(node)
        if n.state == CRASHED:
            return
        was = n.state
        n.state = CRASHED
        self._roles.pop(node, None)
        if n.external is not None:
            ext = n.external
            self._emit(K.CRASH, {"node": node, "pid": n.pid, "signal": "SIGKILL", "process": "broker"})
            self._enqueue(n, lambda: asyncio.to_thread(ext.kill))
            return
        if was in (UP, PAUSED) and n.pid:
            self._signal(n.id, n.pid, signal.SIGKILL)
        if n.events_task is not None:
            n.events_task.cancel()
        self._emit(K.CRASH, {"node": node, "pid": n.pid, "signal": "SIGKILL", **self._landing(n)})
        n.frozen_at = None
        n.unfrozen_trigger = None

    def _landing(self, n: NodeHandle) -> dict[str, Any]:
        """Where a crash landed, for the record: at a failpoint freeze, or while the node
        ran on after an event a failpoint was armed for (the checkers then know that
        what the node did in between really happened before the crash)."""
        if n.frozen_at is not None:
            return {"landed": "failpoint", "failpoint": n.frozen_at}
        if n.unfrozen_trigger is not None:
            kind, t = n.unfrozen_trigger
            late = self.now_ms() - t
            if late <= _LATE_WINDOW_MS:
                return {"landed": "running", "after_event": kind, "event_t": t, "late_ms": late}
        return {}

    def restart(self, node: str) -> None:
        n = self._node(node)
        if n.state != CRASHED:
            return
        n.incarnation += 1
        n.state = STARTING
        self._emit(K.RESTART, {"node": node, "incarnation": n.incarnation})
        self._enqueue(n, lambda: self._restart_external(n) if n.external is not None else self._restart(n))

    async def _restart_external(self, n: NodeHandle) -> None:
        assert n.external is not None
        incarnation = n.incarnation
        t = time.monotonic()
        await asyncio.to_thread(n.external.start)
        if n.state != STARTING or n.incarnation != incarnation:
            return  # crashed again meanwhile: that crash's kill is queued after us
        n.state = UP
        n.pid = next(iter(n.external.pids()), 0)
        self._emit(K.RESTARTED, {"node": n.id, "incarnation": incarnation, "pid": n.pid,
                                 "boot_ms": round((time.monotonic() - t) * 1000)})

    async def _restart(self, n: NodeHandle) -> None:
        incarnation = n.incarnation
        old = n.actor
        if old is not None:
            import ray

            with contextlib.suppress(Exception):
                ray.kill(old, no_restart=True)
        await n.close_channel()
        spec = replace(n.spec, incarnation=incarnation, clock=self.world.clock_history(n.id), t0_ns=self.t0_ns,
                       failpoints=self.world.failpoints())
        t = time.monotonic()
        spare = await self._take_spare(n)
        old_port = n.port
        if spare is not None:
            n.actor = spare
            info = await n.actor.start.remote(self.t0_ns, spec)
        else:
            n.actor = self._make_actor(spec)
            n.actors.append(n.actor)
            info = await n.actor.start.remote(self.t0_ns)
        if n.id in self._spares and not self.closed:
            self._make_spare(n)  # for the next crash, booting while this incarnation runs
        if n.state != STARTING or n.incarnation != incarnation:  # crashed again meanwhile
            self._signal(n.id, int(info["pid"]), signal.SIGKILL)
            return
        self._attach(n, info)
        try:
            await self._set_peers(n)
            # A new process on a loaded machine answers its first calls slowly: wiring it
            # may take the setup timeout, not the 2 s of a fault's control call.
            await n.push_world(self.world, self._externals(), timeout=SETUP_TIMEOUT_S)
            stale = [fp.id for fp in spec.failpoints if self.world.failpoint(fp.id) is None]
            for fp_id in stale:  # armed from its spec, disarmed while it started
                await n.control.SetFailpoint(control_pb2.Failpoint(id=fp_id, armed=False), timeout=SETUP_TIMEOUT_S)
            if stale:  # it may have frozen at one already, with no trigger left to act on it
                await n.control.Thaw(control_pb2.ThawRequest(rearm=False), timeout=SETUP_TIMEOUT_S)
        except grpc.aio.AioRpcError:
            if n.state == UP and n.incarnation == incarnation:
                raise
            return  # crashed again while being wired up (its failpoint fired at once): expected
        if n.port != old_port:
            for other in self._nodes.values():
                if other is not n and other.state == UP and other.external is None:
                    with contextlib.suppress(grpc.aio.AioRpcError):
                        await self._set_peers(other)
            if self._on_addresses is not None:
                await self._on_addresses(self.addresses())
        if n.state == CRASHED or n.incarnation != incarnation:
            return  # crashed again while its peers were told its new address
        # Recorded (and shown to the triggers) once the node is back in the cluster: wired,
        # and reachable by its peers and clients at its address.
        self._emit(K.RESTARTED, {"node": n.id, "incarnation": incarnation, "pid": n.pid,
                                 "boot_ms": round((time.monotonic() - t) * 1000), "spare": spare is not None})

    def pause(self, node: str) -> None:
        n = self._node(node)
        if n.state != UP:
            return
        n.state = PAUSED
        if n.external is not None:
            _signal_all(n.external.pids(), signal.SIGSTOP)
        else:
            self._signal(n.id, n.pid, signal.SIGSTOP)
        self._emit(K.PAUSE, {"node": node, "pid": n.pid})

    def resume(self, node: str) -> None:
        n = self._node(node)
        if n.state != PAUSED:
            return
        if n.external is not None:
            _signal_all(n.external.pids(), signal.SIGCONT)
        else:
            self._signal(n.id, n.pid, signal.SIGCONT)
        n.state = UP
        self._emit(K.RESUME, {"node": node})
        if n.dirty and n.external is None:
            self._enqueue(n, lambda: n.push_world(self.world, self._externals()))

    # --- Engine: observation -----------------------------------------------------------------

    def record(self, kind: str, data: dict[str, object]) -> None:
        self._emit(kind, dict(data), hooks=False)

    # --- failpoints --------------------------------------------------------------------------

    def arm_failpoint(self, fp_id: str, kind: str, where: Mapping[str, Any], delay_ms: int) -> None:
        """Every node freezes itself the moment it emits a matching event (see
        :meth:`NodeHost.set_failpoint`); the trigger that armed it crashes the node a few ms
        later, when the event reaches the driver.  Re-armed on every node incarnation."""
        fp = FailpointSpec(fp_id, kind, dict(where), delay_ms)
        self.world.arm(fp)
        msg = failpoint_proto(fp)
        for n in self._nodes.values():
            if n.external is None:
                self._rpc(n, lambda c: c.SetFailpoint(msg, timeout=RPC_TIMEOUT_S))

    def disarm_failpoint(self, fp_id: str) -> None:
        if not self.world.disarm(fp_id):
            return
        off = control_pb2.Failpoint(id=fp_id, armed=False)
        for n in self._nodes.values():
            if n.external is None:
                self._rpc(n, lambda c: c.SetFailpoint(off, timeout=RPC_TIMEOUT_S))

    def disarm_all_failpoints(self) -> None:
        for fp in self.world.failpoints():
            self.disarm_failpoint(fp.id)

    def wired(self) -> bool:
        """Every node is up and no command for it (a restart and its wiring) is pending."""
        return not self.unwired()

    def unwired(self) -> list[str]:
        """The nodes :meth:`wired` is waiting for (down, restarting, or with commands queued)."""
        return [nid for nid, n in self._nodes.items() if not (n.state == UP and not n.busy and n.queue.empty())]

    def thaw_all(self) -> None:
        """Thaw every node (the settle phase, once no fault acts any more).  A node can be
        frozen at a failpoint the driver has not heard of yet: its report waits for the
        broker calls before it, which take seconds on a loaded machine, and a restarted
        node arms its failpoints from its first instruction.  Left frozen, it would look
        like a live node that lost its work."""
        req = control_pb2.ThawRequest(rearm=False)
        for n in self._nodes.values():
            if n.external is not None or n.state != UP:
                continue
            if n.frozen_at is not None:
                self._emit(K.FAILPOINT_THAW, {"node": n.id, "failpoint": n.frozen_at}, hooks=False)
                n.frozen_at = None
            self._rpc(n, lambda c: c.Thaw(req, timeout=RPC_TIMEOUT_S))

    def _watch_frozen(self, n: NodeHandle, incarnation: int, fp_id: str) -> None:
        """A node froze on a failpoint.  If no fault kills it in time (its trigger was
        busy or used up, or the node froze while a restart was still wiring it, when no
        fault acts on it), thaw it: it was then only paused for a moment."""
        fp = self.world.failpoint(fp_id)
        delay = (fp.delay_ms if fp is not None else 0) / 1000.0 + _THAW_AFTER_S

        def check() -> None:
            if self.closed or n.incarnation != incarnation or n.state == CRASHED:
                return
            if n.state != UP:  # still being wired after a restart (or paused): thawed once up
                self._handles.append(self._loop.call_later(_THAW_AFTER_S, check))
                return
            n.frozen_at = None
            self._emit(K.FAILPOINT_THAW, {"node": n.id, "failpoint": fp_id}, hooks=False)
            # it was one-shot on the node: the node arms it again as it thaws, if still wanted
            req = control_pb2.ThawRequest(rearm=self.world.failpoint(fp_id) is not None)
            self._rpc(n, lambda c: c.Thaw(req, timeout=RPC_TIMEOUT_S))

        self._handles.append(self._loop.call_later(delay, check))

    # --- end of run --------------------------------------------------------------------------

    async def statuses(self) -> dict[str, control_pb2.NodeStatus]:
        out: dict[str, control_pb2.NodeStatus] = {}
        for nid in self._ids:
            n = self._nodes[nid]
            if n.state == UP and n.control is not None:
                with contextlib.suppress(grpc.aio.AioRpcError):
                    out[nid] = await n.control.Status(control_pb2.StatusRequest(), timeout=RPC_TIMEOUT_S)
        return out

    async def final_cores(self) -> dict[str, Any]:
        """Each live actor node's core object (the end-of-run records read the same
        attributes they read in the simulator: logs, saga phases, undrained outboxes)."""
        live = [n for n in self._nodes.values() if n.state == UP and n.actor is not None]
        cores = await asyncio.gather(*(n.actor.final_core.remote() for n in live), return_exceptions=True)
        return {n.id: c for n, c in zip(live, cores, strict=True) if not isinstance(c, BaseException)}

    async def broker_stats(self) -> dict[str, dict[str, Any]]:
        live = [n for n in self._nodes.values() if n.state == UP and n.actor is not None]
        got = await asyncio.gather(*(n.actor.broker_stats.remote() for n in live), return_exceptions=True)
        return {n.id: g for n, g in zip(live, got, strict=True) if isinstance(g, dict) and g}

    async def merged_trace(self) -> tuple[list[dict[str, Any]], dict[str, int]]:
        """The run's trace: the driver's records and every node's trace file, in time
        order (a stable sort: each source keeps its own order within a millisecond), and
        counts for the stats (records from the files, torn lines, and how many node
        records never reached the driver over the streams: what a crash would have cost)."""
        records: list[dict[str, Any]] = []
        torn = 0
        for n in self._nodes.values():
            if n.external is not None:
                continue
            got, bad = await self._node_trace(n)
            torn += bad
            for rec in got:
                rec.pop("inc", None)
                records.append(rec)
        counts = {"node_records": len(records), "streamed": self.streamed,
                  "unstreamed": max(0, len(records) - self.streamed), "torn": torn}
        return sorted(self.trace + records, key=lambda r: r.get("t", 0)), counts

    async def _node_trace(self, n: NodeHandle) -> tuple[list[dict[str, Any]], int]:
        path = os.path.join(n.spec.data_dir, TRACE_NAME)
        if os.path.exists(path):
            return read_trace_log(path)
        if n.state == UP and n.actor is not None:  # the node's disk is not ours to read
            import tempfile

            with contextlib.suppress(Exception):
                raw = await n.actor.trace_file.remote()
                with tempfile.NamedTemporaryFile(suffix=".jsonl") as fh:
                    fh.write(raw)
                    fh.flush()
                    return read_trace_log(fh.name)
        return [], 0

    def metrics_ports(self) -> dict[str, int]:
        return {nid: n.metrics_port for nid, n in self._nodes.items() if n.state in (UP, PAUSED) and n.metrics_port}

    def metrics_targets(self) -> dict[str, str]:
        """``host:port`` of every live node's metrics endpoint (the host differs from
        127.0.0.1 only in a run spread over a cluster)."""
        return {nid: n.metrics_address for nid, n in self._nodes.items()
                if n.state in (UP, PAUSED) and n.metrics_port}

    def _signal(self, node: str, pid: int, sig: int) -> None:
        if self._signaller is not None:
            self._signaller(node, pid, sig)
        else:
            _kill(pid, sig)

    def pids(self) -> dict[str, int]:
        return {nid: n.pid for nid, n in self._nodes.items() if n.state in (UP, PAUSED)}

    async def close(self) -> None:
        """Stop timers and background work, unfreeze, stop and kill every incarnation."""
        self.closed = True
        for h in self._handles:
            h.cancel()
        for n in self._nodes.values():
            if n.state == PAUSED and n.external is not None:
                _signal_all(n.external.pids(), signal.SIGCONT)
                n.state = UP
            elif n.state == PAUSED and n.pid:
                self._signal(n.id, n.pid, signal.SIGCONT)
                n.state = UP
        stops = [n.actor.stop.remote() for n in self._nodes.values() if n.state == UP and n.actor is not None]
        if stops:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.gather(*stops, return_exceptions=True), timeout=5.0)
        for task in list(self._bg):
            task.cancel()
        for task in list(self._bg):
            with contextlib.suppress(BaseException):
                await task
        import ray

        for n in self._nodes.values():
            for actor in n.actors:
                with contextlib.suppress(Exception):
                    ray.kill(actor, no_restart=True)
            await n.close_channel()


def _signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        _kill(pid, sig)


def _kill(pid: int, sig: int) -> None:
    if pid <= 0 or pid == os.getpid():
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


if TYPE_CHECKING:  # static check that RayEngine is a SchedulingEngine
    from faults.schedule import SchedulingEngine

    def _conforms(e: RayEngine) -> SchedulingEngine:
        return e
