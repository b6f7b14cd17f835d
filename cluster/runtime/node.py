"""A node of the real runtime: a sans-IO core driven by real time, disk and gRPC.

:class:`NodeHost` runs one core in one asyncio loop (so the core is never touched by two
coroutines at once):

* every ``tick_ms`` of real time the core gets ``tick(monotonic, wall)``, both read from a
  :class:`~cluster.runtime.clock.SkewClock` that the control service skews at run time (the
  monotonic reading follows drift only; the wall reading takes offsets and steps too);
* envelopes arriving on inbound ``NodeLink`` streams and client requests arriving on
  ``Client`` sessions are decoded and ``step``-ped into the core;
* after every input the core's ``Ready`` batch is first *journaled* -- its events are
  appended to the node's own trace file (:mod:`cluster.runtime.trace_log`) -- and then
  goes through :func:`cluster.driver.drain_ready`, the one driver loop every engine
  shares: persist (to the WAL, ``fsync`` exactly when the batch asks, the trace file with
  it), then send (to the peer links), then client replies, then events (streamed to the
  driver for live progress and event-triggered faults).  Persisting synchronously
  before anything is sent is what keeps "a vote is sent only after it is persisted" true
  with a real disk; journaling before that is what keeps the record of a state change
  whenever the state change itself survives a crash.  The shared rule also means a batch
  with nothing to persist never syncs, so an unsynced write stays unsynced until a later
  batch syncs (a crash can lose it, as the ``no_fsync_log`` flaw teaches).

Inputs are batched the etcd way: an arriving message is stepped at once, but the drain
waits until the loop has handed over everything that arrived with it (one ``call_soon``),
so the messages of one loop turn share one ``Ready``: the leader's proposals go out as
one AppendEntries per follower, reads share one ReadIndex round, and the whole batch is
persisted with one ``fsync`` (group commit).  A tick drains at once (and takes whatever is
pending with it).

A synced write runs on the node's disk thread while the loop keeps serving the network:
what the batch does after its persist (sends, replies, events) waits for the ``fsync``,
and so does the core -- inputs that arrive meanwhile are held and stepped together when
it completes, as the next batch (ticks due meanwhile are skipped).  A batch whose core
allows it (``Ready.send_first``: a Raft leader's AppendEntries) sends before it persists,
so the followers write their copies while the leader writes its own.  The core never
sees an input while a write it asked for is still in flight, which is what both rules
rest on.

The core is built from the factory in its :class:`NodeSpec` (the same factory the
simulator calls), so a node knows nothing of scenarios or systems.  Its parts own their
own state: the peer links (:class:`~cluster.runtime.peers.PeerLinks`), the client
sessions (:class:`~cluster.runtime.sessions.ClientSessions`), the armed failpoints
(:class:`_Failpoints`) and the event stream to the driver (:class:`_EventOutbox`).

:class:`NodeActorImpl` hosts a ``NodeHost`` in a Ray actor (``num_cpus=0``: the actors are
I/O-bound and five nodes plus clients must fit on two cores).  A restart is a new actor on
the same data directory: the core is rebuilt from the WAL, exactly like ``Storage.load``
in the simulator.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import functools
import json
import os
import pickle
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import grpc.aio

from analysis import trace_kinds as K
from cluster.core.kv import jsonable
from cluster.core.types import ClientReply, Core, CoreEvent, Message, PersistOp
from cluster.driver import TwoClockTick, drain_ready, two_clock_tick
from cluster.runtime.broker_link import BrokerLinkSpec
from cluster.runtime.clock import ClockChange, RunClock, SkewClock
from cluster.runtime.codec_broker import register as _register_broker_messages
from cluster.runtime.codec_pipeline import register as _register_pipeline_messages
from cluster.runtime.disk import DiskStorage
from cluster.runtime.metrics import NodeMetrics, serve
from cluster.runtime.node_services import ClientService, ControlService, LinkService
from cluster.runtime.peers import PeerLinks
from cluster.runtime.sessions import ClientSessions
from cluster.runtime.trace_log import NodeTraceLog
from cluster.runtime.transport import SERVER_OPTIONS
from cluster.runtime.world import FailpointSpec
from cluster.spec import CoreFactory, EventRecords
from faults.engine import LinkSettings
from protos import control_pb2, node_pb2_grpc
from protos import control_pb2_grpc as control_grpc

__all__ = ["LOOPBACK", "NodeHost", "NodeSpec", "build_core", "make_node_actor", "ray_node_address"]

_register_pipeline_messages()
_register_broker_messages()

LOOPBACK = "127.0.0.1"
_EVENT_BACKLOG = 50_000
_FREEZE_FLUSH_S = 0.5


@dataclass(frozen=True)
class NodeSpec:
    """Everything a node process needs: its core's factory and where it lives.

    Shipped to the node's process by Ray (cloudpickle), factories included.
    """

    node_id: str
    make_core: CoreFactory
    seed: int
    data_dir: str
    t0_ns: int = 0
    tick_ms: int = 10
    incarnation: int = 0
    port: int = 0
    clock: tuple[ClockChange, ...] = ()
    """The machine's clock changes so far (a restarted node replays them)."""
    metrics: bool = True
    broker: BrokerLinkSpec | None = None
    """The real broker, when the run's broker node is a real RabbitMQ/Tansu process."""
    prepare: Callable[[str], None] | None = None
    """Slow setup before the run's clock starts (a worker loads its model)."""
    on_event: EventRecords | None = None
    """Records this node adds when its core emits an event (see ``cluster.spec``)."""
    failpoints: tuple[FailpointSpec, ...] = ()
    """Failpoints armed from the first instruction: a restarted relay republishes its
    unmarked rows the moment it starts, before any control RPC could arm them."""
    host: str = LOOPBACK
    """The address the node's gRPC and metrics servers bind (never ``0.0.0.0``)."""
    host_from_ray: bool = False
    """Bind the address of the Ray node the actor runs on instead (``--spread``: the
    node's peers and clients may be on other machines); resolved in the actor."""


def build_core(spec: NodeSpec, durable: dict[str, Any] | None) -> Core:
    """The spec's core, with the same rng naming as the simulator's nodes."""
    name = f"node:{spec.node_id}" if spec.incarnation == 0 else f"node:{spec.node_id}:{spec.incarnation}"
    return spec.make_core(spec.node_id, durable, random.Random(f"{spec.seed}:{name}"))


class _Failpoints:
    """Failpoints armed on this node (see ``control.proto``: ``Failpoint``): "freeze the
    moment you emit an event like this", one-shot, re-armed by the driver."""

    def __init__(self, armed: tuple[FailpointSpec, ...] = ()) -> None:
        self._armed: dict[str, tuple[str, dict[str, Any], int]] = {}  # id -> (kind, where, delay)
        self._hit: dict[str, tuple[str, dict[str, Any], int]] = {}  # fired, until a thaw re-arms them
        for fp in armed:
            self.set(fp.id, fp.kind, dict(fp.where), fp.delay_ms, True)

    def set(self, fp_id: str, kind: str, where: dict[str, Any], delay_ms: int, armed: bool) -> None:
        if armed:
            self._armed[fp_id] = (kind, where, delay_ms)
        else:
            self._armed.pop(fp_id, None)
            self._hit.pop(fp_id, None)

    def hit(self, ev: CoreEvent) -> tuple[str, int] | None:
        """The failpoint ``ev`` trips (disarming it) and its delay, if any."""
        if not self._armed:
            return None
        data = {**ev.data, "node": ev.node}
        for fp_id, (kind, where, delay_ms) in list(self._armed.items()):
            if ev.kind == kind and all(k in data and data[k] == v for k, v in where.items()):
                self._hit[fp_id] = self._armed.pop(fp_id)
                return fp_id, delay_ms
        return None

    def rearm(self) -> None:
        """Arm again what fired: the node was thawed because no fault killed it, and the
        driver still wants the failpoint (re-arming here, not by a later RPC, leaves no
        window in which a matching event slips through unfrozen)."""
        self._armed.update(self._hit)
        self._hit.clear()


class _EventOutbox:
    """Trace events waiting for the driver's ``Events`` stream (bounded: a driver that
    stops reading loses the oldest, never blocks the node)."""

    def __init__(self) -> None:
        self._events: deque[control_pb2.TraceEvent] = deque(maxlen=_EVENT_BACKLOG)
        self._ready = asyncio.Event()

    def push(self, kind: str, node: str, t: int, data: dict[str, Any]) -> None:
        raw = json.dumps(jsonable(data), separators=(",", ":"), default=repr).encode()
        self._events.append(control_pb2.TraceEvent(kind=kind, node=node, t=t, data_json=raw))
        self._ready.set()

    async def stream(self, running: Callable[[], bool]) -> AsyncIterator[control_pb2.TraceEvents]:
        """Everything queued when the stream gets its turn, as one message (a stream write
        costs far more than an event; a batch of Raft inputs emits several per node)."""
        events = self._events
        while running():
            if events:
                batch = list(events)
                events.clear()
                yield control_pb2.TraceEvents(events=batch)
                continue
            self._ready.clear()
            await self._ready.wait()


class NodeHost:
    """One node's driver loop, gRPC servers and link layer (usable without Ray in tests)."""

    def __init__(self, spec: NodeSpec) -> None:
        self.spec = spec
        self.node_id = spec.node_id
        self.run_clock = RunClock(spec.t0_ns)
        self.clock = SkewClock(self.run_clock, spec.clock)
        self.storage = DiskStorage(spec.data_dir)
        self.trace_log = NodeTraceLog(spec.data_dir)
        self.metrics = NodeMetrics(spec.node_id) if spec.metrics else None
        self.core: Core | None = None
        self._tick: TwoClockTick | None = None
        self.port = 0
        self.metrics_port = 0
        self._metrics_server: Any = None
        self._server: grpc.aio.Server | None = None
        self.peers = PeerLinks(spec.node_id, seed=spec.seed, incarnation=spec.incarnation,
                               metrics=self.metrics, deliver=self.deliver)
        self.sessions = ClientSessions()
        self._outbox = _EventOutbox()
        self._tick_task: asyncio.Task[None] | None = None
        self._failpoints = _Failpoints(spec.failpoints)
        self.frozen = False
        self._hold_events = False  # after a failpoint hit: events wait for pending broker calls
        self._frozen_now: list[tuple[str, int]] = []  # (failpoint, delay ms) hit in this batch
        self._journaled: list[tuple[str, str, int, dict[str, Any]]] = []  # this batch's, to stream
        self._stopped = False
        self._received = 0
        self._decode_errors = 0
        self._drain_pending = False  # inputs stepped, their Ready not drained yet
        self.batches = 0
        self.batched_inputs = 0
        # A synced write in flight on the disk thread, what its batch does after it, and
        # the inputs that arrived meanwhile.
        self._disk = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"disk-{spec.node_id}")
        self._syncing: asyncio.Future[None] | None = None
        self._after_sync: list[tuple[Callable[[Any], None], Any]] = []
        self._held: list[Message] = []

    @property
    def stats(self) -> dict[str, int]:
        return {"received": self._received, "decode_errors": self._decode_errors + self.peers.encode_errors,
                "unroutable": self.peers.unroutable + self.sessions.broadcast}

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> dict[str, Any]:
        """Load the WAL, build the core, bind the gRPC server, start ticking."""
        image = self.storage.load()
        self.core = build_core(self.spec, image or None)
        self._tick = two_clock_tick(self.core)
        server = grpc.aio.server(options=SERVER_OPTIONS)
        node_pb2_grpc.add_NodeLinkServicer_to_server(LinkService(self.node_id, self), server)
        node_pb2_grpc.add_ClientServicer_to_server(ClientService(self, self.sessions), server)
        control_grpc.add_ControlServicer_to_server(ControlService(self), server)
        host = self.spec.host
        port = 0
        if self.spec.port:
            try:  # taken: fall back to a fresh port
                port = server.add_insecure_port(f"{host}:{self.spec.port}")
            except RuntimeError:
                port = 0
        if not port:
            port = server.add_insecure_port(f"{host}:0")
        await server.start()
        self._server, self.port = server, port
        if self.metrics is not None:
            self._metrics_server, self.metrics_port = serve(self.metrics.registry, host)
        if self.spec.broker is not None and self.spec.broker.node != self.node_id:
            self.peers.start_broker(self.spec.broker)
        self._drain()
        self._tick_task = asyncio.get_running_loop().create_task(self._tick_loop())
        return {"node": self.node_id, "host": host, "port": port, "metrics_port": self.metrics_port,
                "pid": os.getpid()}

    async def stop(self) -> None:
        """Graceful stop (end of run); a crash is a SIGKILL and runs none of this."""
        self._stopped = True
        if self._tick_task is not None:
            self._tick_task.cancel()
        await self.peers.close()
        if self._server is not None:
            await self._server.stop(grace=None)
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
            self._metrics_server.server_close()
        if self._syncing is not None:
            await asyncio.gather(self._syncing, return_exceptions=True)
        self._disk.shutdown(wait=True)
        self.storage.close()
        self.trace_log.close()

    # --- the driver loop ------------------------------------------------------------------

    async def _tick_loop(self) -> None:
        loop = asyncio.get_running_loop()
        period = self.spec.tick_ms / 1000.0
        nxt = loop.time()
        while not self._stopped:
            nxt += period
            now = loop.time()
            if nxt < now:  # woke from a pause (SIGSTOP): do not replay missed ticks in a burst
                nxt = now + period
            await asyncio.sleep(nxt - now)
            core = self.core
            if core is None or self.frozen or self._syncing is not None:
                continue
            tick = self._tick or two_clock_tick(core)
            tick(*self.clock.readings())
            self._drain()
            self._update_gauges()

    def deliver(self, msg: Message) -> None:
        """Step one input into the core; its Ready is drained with the rest of this loop
        turn's inputs (see the module doc)."""
        core = self.core
        if core is None or self._stopped or self.frozen:
            return
        if self._syncing is not None:
            self._held.append(msg)  # stepped when the write in flight is done
            return
        core.step(msg)
        self.batched_inputs += 1
        if not self._drain_pending:
            self._drain_pending = True
            asyncio.get_running_loop().call_soon(self._drain_batch)

    def _drain_batch(self) -> None:
        if not self._drain_pending:
            return  # a tick drained the batch already
        if self.core is None or self._stopped:
            self._drain_pending = False
            return
        if self.frozen or self._syncing is not None:
            # A frozen node does nothing; what it stepped is drained when it thaws (a
            # crash loses it, as it loses any process's unfinished work), or when the
            # write in flight is done.
            return
        self._drain()

    def inbound_blocked(self, src: str) -> bool:
        return self.peers.inbound_blocked(src)

    def received(self, *, client: bool, decode_error: bool = False) -> None:
        if decode_error:
            self._decode_errors += 1
            return
        if client:
            if self.metrics is not None:
                self.metrics.client_requests.inc()
            return
        self._received += 1
        if self.metrics is not None:
            self.metrics.received.inc()

    def _drain(self) -> None:
        core = self.core
        assert core is not None
        if self._syncing is not None:
            return  # the batch in flight finishes first, then drains what is pending
        if self._drain_pending:
            self._drain_pending = False
            self.batches += 1
        r = core.ready()
        if r.events:
            self._journal(r.events)
        drain_ready(r, self)
        if self._syncing is None:
            self._end_batch()

    def _end_batch(self) -> None:
        """The batch's persist, sends, replies and records are done: now a failpoint it hit
        freezes the node, at once or its delay later.  The delay counts from here, not from
        the event: the simulator does a batch in no time, and a real one waits for its disk
        (a synced write takes tens of ms on a busy machine), so "1 ms after the vote" frozen
        mid-write would hold back the very reply and record the fault is timed after."""
        frozen_now, self._frozen_now = self._frozen_now, []
        for fp_id, delay_ms in frozen_now:
            if delay_ms <= 0:
                self._freeze_at(fp_id)
            else:
                asyncio.get_running_loop().call_later(delay_ms / 1000.0, self._freeze_at, fp_id)

    def _synced(self, done: asyncio.Future[None]) -> None:
        """The disk thread finished a batch's synced write: do the rest of the batch, then
        step the inputs that arrived meanwhile as the next one."""
        self._syncing = None
        if done.cancelled() or done.exception() is not None:
            # The write may not be on disk: acting on it would promise what the disk does
            # not hold.  Stop dead, as a node whose disk failed should.
            self.freeze()
            if not done.cancelled():
                asyncio.get_running_loop().call_exception_handler(
                    {"message": f"{self.node_id}: WAL write failed; node frozen", "exception": done.exception()})
            return
        if self._stopped:
            return
        if self.frozen:
            return  # thaw() finishes the batch
        self._release()

    def _release(self) -> None:
        after, self._after_sync = self._after_sync, []
        for fn, arg in after:
            fn(arg)
        self._end_batch()
        held, self._held = self._held, []
        for msg in held:
            self.deliver(msg)
        if self._drain_pending:
            asyncio.get_running_loop().call_soon(self._drain_batch)

    def _write_synced(self, ops: tuple[PersistOp, ...]) -> None:
        """On the disk thread: the batch's WAL write and the trace file, both made durable."""
        self.storage.write(ops, True)
        self.trace_log.sync()

    def _journal(self, events: tuple[CoreEvent, ...]) -> None:
        """Turn a batch's events into trace records and append them to the node's trace
        file *before* the batch's persist, sends and replies (see the module doc), noting
        which failpoint an event trips.  :meth:`record` streams them after the sends."""
        t = self.run_clock.true_ms()
        on_event = self.spec.on_event
        out = self._journaled
        for ev in events:
            hit = self._failpoints.hit(ev)
            data = ev.data
            if hit is not None:
                fp, delay_ms = hit
                data = {**data, "failpoint": fp}
                self._hold_events = self.peers.broker is not None
                self._frozen_now.append(hit)  # frozen when this batch ends, or its delay after
            out.append((ev.kind, ev.node, t, jsonable(data)))
            if on_event is not None and self.core is not None:
                for kind, extra in on_event(self.core, ev):
                    out.append((kind, ev.node, t, jsonable(extra)))
        self.trace_log.append(_file_record(k, n, tt, d, self.spec.incarnation) for k, n, tt, d in out)

    # ReadySink: where a batch's parts go (called by cluster.driver.drain_ready, in this order)

    def persist(self, ops: tuple[PersistOp, ...], sync: bool) -> None:
        if not sync:
            self.storage.write(ops, sync)  # buffered in memory: nothing to wait for
            return
        fut = asyncio.wrap_future(self._disk.submit(self._write_synced, ops))
        self._syncing = fut
        fut.add_done_callback(self._synced)

    def send(self, msg: Message) -> None:
        if self._syncing is not None:
            self._after_sync.append((self.send, msg))
        elif isinstance(msg, ClientReply):
            self.sessions.route(msg)
        else:
            self.peers.send(msg)

    def reply(self, msg: ClientReply) -> None:
        if self._syncing is not None:
            self._after_sync.append((self.reply, msg))
        else:
            self.sessions.route(msg)

    def record(self, events: tuple[CoreEvent, ...]) -> None:
        """Stream the batch's journaled records to the driver and count them in metrics
        (after the batch's synced write, when it has one)."""
        if self._syncing is not None:
            self._after_sync.append((self.record, events))
            return
        journaled, self._journaled = self._journaled, []
        for kind, node, t, data in journaled:
            self._emit_trace(kind, node, t, data)
        m = self.metrics
        if m is None:
            return
        for ev in events:
            if ev.kind == K.ROLE:
                m.set_role(str(ev.data.get("role")))
                if ev.data.get("role") == "leader":
                    m.leader_changes.inc()
            elif ev.kind == K.ELECTION:
                m.elections.inc()

    def _emit_trace(self, kind: str, node: str, t: int, data: dict[str, Any]) -> None:
        broker = self.peers.broker
        if broker is not None and self._hold_events:
            # After a failpoint hit, tell the driver (which kills this process) only once the
            # broker calls made so far have completed: "crash right after the publish" means
            # after it reached the broker, not while its connection was still opening.
            broker.after_pending(functools.partial(self._outbox.push, kind, node, t, data))
        else:
            self._outbox.push(kind, node, t, data)

    # --- failpoints (see control.proto: Failpoint) -------------------------------------------

    def set_failpoint(self, fp_id: str, kind: str, where: dict[str, Any], delay_ms: int, armed: bool) -> None:
        """A hit freezes the node at the end of the batch that emitted the event (delay 0:
        the rest of the batch happened before the "crash", as in the simulator) or
        ``delay_ms`` after that end, and then says so with a ``failpoint-frozen`` event,
        which is what the driver waits for before it kills the process: it follows the
        batch's own events on the stream, so the trigger has seen them by then."""
        self._failpoints.set(fp_id, kind, where, delay_ms, armed)

    def _freeze_at(self, fp_id: str) -> None:
        if self._stopped:
            return
        self.freeze()
        asyncio.get_running_loop().create_task(self._report_frozen(fp_id, self.run_clock.true_ms()))

    async def _report_frozen(self, fp_id: str, t: int) -> None:
        """Say ``failpoint-frozen`` (the driver then kills this process) once what the
        frozen batch sent to peers has left: "crash right after the batch was embedded"
        means after its upsert went out, as in the simulator, where a sent message is in
        the network whatever happens to its sender."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _FREEZE_FLUSH_S
        while loop.time() < deadline and self.peers.queued():
            await asyncio.sleep(0.002)
        await asyncio.sleep(0.005)  # the last write leaves the gRPC buffer
        data = {"failpoint": fp_id}
        self.trace_log.append([_file_record(K.FAILPOINT_FROZEN, self.node_id, t, data, self.spec.incarnation)])
        self._emit_trace(K.FAILPOINT_FROZEN, self.node_id, t, data)

    def freeze(self) -> None:
        """Stop dead: no ticks, no inputs, no broker traffic (what a crash looks like from
        outside, while the driver's SIGKILL is on its way)."""
        self.frozen = True
        self.peers.freeze(True)

    def thaw(self, rearm: bool = False) -> None:
        """Run again after a failpoint freeze no fault acted on; ``rearm`` arms the
        failpoints that fired again (the driver still wants them)."""
        if rearm:
            self._failpoints.rearm()
        self.frozen = False
        self.peers.freeze(False)
        if self.core is None or self._stopped or self._syncing is not None:
            return
        if self._after_sync or self._held:
            self._release()  # a batch whose write finished while frozen
        if self._drain_pending:
            self._drain()  # whatever was stepped before the freeze

    # --- what the driver asks (NodeControl) -------------------------------------------------

    def set_peers(self, addresses: dict[str, str]) -> None:
        self.peers.set_peers(addresses)

    def set_link(self, dst: str, settings: LinkSettings, *, inbound: bool = False) -> None:
        self.peers.configure(dst, settings, inbound=inbound)

    def block_inbound(self, src: str, blocked: bool) -> None:
        self.peers.block_inbound(src, blocked)

    def set_clock(self, offset_ms: float, rate: float) -> None:
        self.clock.set(offset_ms, rate)

    def jump_clock(self, delta_ms: float) -> None:
        self.clock.jump(delta_ms)

    def events(self) -> AsyncIterator[control_pb2.TraceEvents]:
        return self._outbox.stream(lambda: not self._stopped)

    def status(self) -> control_pb2.NodeStatus:
        core = self.core
        d = self.clock.describe()
        st = control_pb2.NodeStatus(
            node=self.node_id,
            clock_offset_ms=d["offset_ms"], clock_rate=d["rate"], clock_jumps_ms=d["jumps_ms"],
            local_ms=self.clock.read_ms(), true_ms=self.run_clock.true_ms(), pid=os.getpid(),
            pending_writes=self.storage.pending,
        )
        if core is None:
            return st
        st.role = str(getattr(core, "role", "") or "")
        st.term = int(getattr(core, "term", 0) or 0)
        st.commit_index = int(getattr(core, "commit_index", 0) or 0)
        st.last_applied = int(getattr(core, "last_applied", 0) or 0)
        st.leader_id = str(getattr(core, "leader_id", "") or "")
        lease = getattr(core, "lease_valid", None)
        if callable(lease):
            st.lease_valid = bool(lease())
        log = getattr(core, "log", None)
        if log is not None:
            st.has_log = True
            st.log_len = len(log)
            st.log_terms.extend(e.term for e in log)
        return st

    def _update_gauges(self) -> None:
        m, core = self.metrics, self.core
        if m is None or core is None:
            return
        term = getattr(core, "term", None)
        if isinstance(term, int):
            m.term.set(term)
        ci = getattr(core, "commit_index", None)
        if isinstance(ci, int):
            m.commit.set(ci)
        la = getattr(core, "last_applied", None)
        if isinstance(la, int):
            m.applied.set(la)
        m.count_fsyncs(self.storage.fsyncs)
        m.batches.set(self.batches)
        m.batched_inputs.set(self.batched_inputs)
        d = self.clock.describe()
        m.clock_offset.set((self.clock.read_ms() - self.run_clock.true_ms()) / 1000.0)
        m.faults.labels(self.node_id, "clock").set(
            0 if (d["offset_ms"] == 0 and d["rate"] == 1 and d["jumps_ms"] == 0) else 1
        )


def _file_record(kind: str, node: str, t: int, data: dict[str, Any], incarnation: int) -> dict[str, Any]:
    """A trace-file line: the run's trace record plus the node's incarnation."""
    return {**data, "t": t, "kind": kind, "node": node, "inc": incarnation}


# --- the Ray actor ---------------------------------------------------------------------------



@dataclass
class CoreSnapshot:
    """A core's public attributes, for a driver that cannot receive the core itself.

    A core compiled with mypyc (``cluster.native``: the Raft core) is a native class whose
    constructor cannot be skipped, so pickle cannot rebuild it in another process.  Its
    end-of-run readers only read attributes (``core.log`` for the final logs), so the node
    sends what they can read: every public attribute, property included, whose value
    pickles.  ``core_class`` names what it was taken from."""

    core_class: str
    attrs: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # pickle's and copy's probes: the dataclass answers them
            raise AttributeError(name)
        try:
            return self.__dict__["attrs"][name]
        except KeyError:
            raise AttributeError(f"{self.__dict__.get('core_class', 'core')} snapshot has no {name!r}") from None


def shippable_core(core: Any) -> Any:
    """``core`` if pickle can rebuild it elsewhere, else its :class:`CoreSnapshot`."""
    try:
        pickle.loads(pickle.dumps(core))
        return core
    except Exception:  # noqa: BLE001 - whatever stops a round trip makes a snapshot
        attrs: dict[str, Any] = {}
        for name in dir(core):
            if name.startswith("_"):
                continue
            try:
                value = getattr(core, name)
                if callable(value):
                    continue
                pickle.loads(pickle.dumps(value))
            except Exception:  # noqa: BLE001 - an attribute that cannot travel is left out
                continue
            attrs[name] = value
        return CoreSnapshot(f"{type(core).__module__}.{type(core).__qualname__}", attrs)


class NodeActorImpl:
    """Ray async actor body: one node process.  ``pid`` lets the driver SIGKILL/SIGSTOP it."""

    def __init__(self, spec: NodeSpec) -> None:
        self.spec = spec
        self.host: NodeHost | None = None

    async def start(self, t0_ns: int | None = None, spec: NodeSpec | None = None) -> dict[str, Any]:
        """Start serving; ``t0_ns`` (the run's start) is given late so actor spawn time
        (seconds on a small machine) does not count as run time.  ``spec`` replaces the
        one the actor was made with: a warm spare, spawned and prepared ahead of a crash,
        becomes the node's next incarnation."""
        spec = spec or self.spec
        if t0_ns is not None:
            spec = dataclasses.replace(spec, t0_ns=t0_ns)
        if spec.host_from_ray:
            spec = dataclasses.replace(spec, host=ray_node_address())
        self.spec = spec
        self.host = NodeHost(spec)
        return await self.host.start()

    async def stop(self) -> None:
        if self.host is not None:
            await self.host.stop()

    def pid(self) -> int:
        return os.getpid()

    async def prepare(self) -> None:
        """Slow one-time setup before the run's clock starts (the pipeline's workers load
        the embedding model here), so setup time never counts as run time."""
        if self.spec.prepare is not None:
            await asyncio.to_thread(self.spec.prepare, self.spec.node_id)

    def final_core(self) -> Any:
        """The core object itself (pickled by Ray), for the system's end-of-run records
        (they read the same attributes they read in the simulator); a core that cannot be
        pickled comes as a :class:`CoreSnapshot` of its public attributes."""
        if self.host is None or self.host.core is None:
            return None
        return shippable_core(self.host.core)

    def trace_file(self) -> bytes:
        """The node's trace file, for a driver that cannot read this node's disk."""
        if self.host is None or not self.host.trace_log.path.exists():
            return b""
        return self.host.trace_log.path.read_bytes()

    def broker_stats(self) -> dict[str, Any]:
        link = None if self.host is None else self.host.peers.broker
        return {} if link is None else {**link.stats, "last_error": link.last_error}

    def ping(self) -> float:
        return time.time()


def ray_node_address() -> str:
    """The address of the Ray node this process runs on: what a spread node binds, so its
    peers on other machines reach it, and nothing else (never the wildcard address)."""
    import ray

    ip = str(ray.util.get_node_ip_address())
    if ip in ("", "0.0.0.0", "::"):
        raise RuntimeError(f"the Ray node's address is {ip!r}; a spread node binds a concrete address only")
    return ip


def make_node_actor() -> Any:
    """The Ray remote class, created lazily so importing this module does not need Ray."""
    import ray

    return ray.remote(num_cpus=0, max_restarts=0, max_task_retries=0)(NodeActorImpl)
