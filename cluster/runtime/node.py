"""A node of the real runtime: the same sans-IO core, driven by real time, disk and gRPC.

:class:`NodeHost` is the simulator's driver loop (``cluster/sim/world_nodes.py``) with real parts, in one
asyncio loop (so the core is never touched by two coroutines at once):

* every ``tick_ms`` of wall-clock time the core gets ``tick(local clock)``; the local clock
  is a :class:`~cluster.runtime.clock.SkewClock` that the control service skews at run time;
* envelopes arriving on inbound ``NodeLink`` streams and client requests arriving on
  ``Client`` sessions are decoded and ``step``-ped into the core;
* after every input, ``ready()`` is done in the simulator's order: persist (to the WAL,
  ``fsync`` exactly when ``Ready.sync``), then send (to per-peer outbound streams), then
  client replies, then events (streamed to the driver for the trace and event-triggered
  faults).  Persisting synchronously before anything is sent is what keeps "a vote is sent
  only after it is persisted" true with a real disk.

:class:`NodeActor` hosts a ``NodeHost`` in a Ray actor (``num_cpus=0``: the actors are
I/O-bound and five nodes plus clients must fit on two cores).  A restart is a new actor on
the same data directory: the core is rebuilt from the WAL, exactly like ``Storage.load``
in the simulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import os
import random
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio

from cluster.core.kv import jsonable
from cluster.core.types import ClientReply, Core, CoreEvent, Message
from cluster.runtime.broker_link import BrokerLink, BrokerLinkSpec
from cluster.runtime.clock import RunClock, SkewClock
from cluster.runtime.codec import (
    CodecError,
    encode,
)
from cluster.runtime.codec_pipeline import register as _register_pipeline_messages
from cluster.runtime.disk import DiskStorage
from cluster.runtime.metrics import NodeMetrics, serve
from cluster.runtime.node_services import ClientService, ControlService, LinkService
from cluster.runtime.transport import SERVER_OPTIONS, OutboundStream
from faults.engine import LinkSettings
from protos import control_pb2, node_pb2_grpc
from protos import control_pb2_grpc as control_grpc

__all__ = ["NodeHost", "NodeSpec", "make_node_actor"]

_register_pipeline_messages()

_EVENT_BACKLOG = 50_000
_FREEZE_FLUSH_S = 0.5


@dataclass(frozen=True)
class NodeSpec:
    """Everything a node process needs to build its core; plain data so Ray can ship it."""

    node_id: str
    nodes: tuple[str, ...]
    system: str
    config: dict[str, Any]
    flaws: tuple[str, ...]
    seed: int
    data_dir: str
    t0_ns: int
    tick_ms: int = 10
    incarnation: int = 0
    port: int = 0
    clock_state: dict[str, float] = field(default_factory=dict)
    metrics: bool = True
    broker: BrokerLinkSpec | None = None
    """The real broker, for systems whose broker node is a real RabbitMQ/Tansu process."""


def build_core(spec: NodeSpec, durable: dict[str, Any] | None) -> Core:
    """The same factory the simulator uses (``scenarios.systems``), same rng naming."""
    from scenarios.systems import build_config, core_factory

    config = build_config(spec.system, spec.config)
    make = core_factory(spec.system, spec.nodes, config, spec.flaws)
    name = f"node:{spec.node_id}" if spec.incarnation == 0 else f"node:{spec.node_id}:{spec.incarnation}"
    return make(spec.node_id, durable, random.Random(f"{spec.seed}:{name}"))


class NodeHost:
    """One node's driver loop, gRPC servers and link layer (usable without Ray in tests)."""

    def __init__(self, spec: NodeSpec) -> None:
        self.spec = spec
        self.node_id = spec.node_id
        self.run_clock = RunClock(spec.t0_ns)
        self.clock = SkewClock(self.run_clock, spec.clock_state)
        self.storage = DiskStorage(spec.data_dir)
        self.metrics = NodeMetrics(spec.node_id) if spec.metrics else None
        self.core: Core | None = None
        self.port = 0
        self.metrics_port = 0
        self._metrics_server: Any = None
        self._server: grpc.aio.Server | None = None
        self._links: dict[str, OutboundStream] = {}
        self._blocked_in: set[str] = set()
        self._sessions: dict[str, asyncio.Queue[ClientReply]] = {}
        self._open_sessions: list[asyncio.Queue[ClientReply]] = []
        self._unrouted: deque[ClientReply] = deque(maxlen=1000)
        self._events: deque[control_pb2.TraceEvent] = deque(maxlen=_EVENT_BACKLOG)
        self._events_ready = asyncio.Event()
        self._tick_task: asyncio.Task[None] | None = None
        self.broker: BrokerLink | None = None
        self._failpoints: dict[str, tuple[str, dict[str, Any], int]] = {}  # id -> (kind, where, delay)
        self.frozen = False
        self._hold_events = False  # after a failpoint hit: events wait for pending broker calls
        self._rng = random.Random(f"{spec.seed}:links:{spec.node_id}:{spec.incarnation}")
        self._stopped = False
        self.stats = {"received": 0, "decode_errors": 0, "unroutable": 0}

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> dict[str, Any]:
        """Load the WAL, build the core, bind the gRPC server, start ticking."""
        image = self.storage.load()
        self.core = build_core(self.spec, image or None)
        server = grpc.aio.server(options=SERVER_OPTIONS)
        node_pb2_grpc.add_NodeLinkServicer_to_server(LinkService(self), server)
        node_pb2_grpc.add_ClientServicer_to_server(ClientService(self), server)
        control_grpc.add_ControlServicer_to_server(ControlService(self), server)
        port = 0
        if self.spec.port:
            with contextlib.suppress(RuntimeError):  # taken: fall back to a fresh port
                port = server.add_insecure_port(f"127.0.0.1:{self.spec.port}")
        if not port:
            port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        self._server, self.port = server, port
        if self.metrics is not None:
            self._metrics_server, self.metrics_port = serve(self.metrics.registry)
        if self.spec.broker is not None and self.spec.broker.node != self.node_id:
            self.broker = self._new_broker_link(self.spec.broker)
            self.broker.start()
        self._drain()
        self._tick_task = asyncio.get_running_loop().create_task(self._tick_loop())
        return {"node": self.node_id, "port": port, "metrics_port": self.metrics_port, "pid": os.getpid()}

    async def stop(self) -> None:
        """Graceful stop (end of run); a crash is a SIGKILL and runs none of this."""
        self._stopped = True
        if self._tick_task is not None:
            self._tick_task.cancel()
        for link in list(self._links.values()):
            await link.close()
        self._links.clear()
        if self.broker is not None:
            await self.broker.close()
        if self._server is not None:
            await self._server.stop(grace=None)
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
            self._metrics_server.server_close()
        self.storage.close()

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
            if core is None or self.frozen:
                continue
            core.tick(self.clock.read_ms())
            self._drain()
            self._update_gauges()

    def deliver(self, msg: Message) -> None:
        """Step one input into the core and do its Ready batch."""
        core = self.core
        if core is None or self._stopped or self.frozen:
            return
        core.step(msg)
        self._drain()

    def _drain(self) -> None:
        core = self.core
        assert core is not None
        r = core.ready()
        if r.persist:
            self.storage.write(r.persist, r.sync)
        elif r.sync and self.storage.pending:
            self.storage.flush()
        for m in r.messages:
            self._send(m)
        for reply in r.replies:
            self._reply(reply)
        if r.events:
            self._record_events(r.events)

    def _send(self, m: Message) -> None:
        if isinstance(m, ClientReply):
            self._reply(m)
            return
        if self.broker is not None and m.dst == self.broker.spec.node:
            self.broker.send(m)
            if self.metrics is not None:
                self.metrics.sent.labels(self.node_id, m.dst).inc()
            return
        link = self._links.get(m.dst)
        if link is None:
            self.stats["unroutable"] += 1
            return
        try:
            env = encode(m)
        except CodecError:
            self.stats["decode_errors"] += 1
            return
        link.send(env)

    def _reply(self, reply: ClientReply) -> None:
        """Route a reply by client id.  A client whose request reached an earlier
        incarnation of this node (before a crash) has no session here yet: the reply goes
        to every open client session (a client host ignores ids it does not own), or waits
        for the next one, like a reply addressed to the client in the simulator."""
        q = self._sessions.get(reply.dst)
        if q is not None:
            q.put_nowait(reply)
            return
        if not self._open_sessions:
            self._unrouted.append(reply)
            return
        self.stats["unroutable"] += 1
        for oq in self._open_sessions:
            oq.put_nowait(reply)

    def _session_opened(self, q: asyncio.Queue[ClientReply]) -> None:
        self._open_sessions.append(q)
        while self._unrouted:
            q.put_nowait(self._unrouted.popleft())

    def _session_closed(self, q: asyncio.Queue[ClientReply]) -> None:
        if q in self._open_sessions:
            self._open_sessions.remove(q)
        for cid in [c for c, sq in self._sessions.items() if sq is q]:
            del self._sessions[cid]

    def _record_events(self, events: tuple[CoreEvent, ...]) -> None:
        t = self.run_clock.true_ms()
        m = self.metrics
        frozen_now: list[str] = []
        for ev in events:
            fp = self._failpoint_hit(ev, frozen_now) if self._failpoints else None
            self._emit_trace(ev.kind, ev.node, t, ev.data if fp is None else {**ev.data, "failpoint": fp})
            if m is not None:
                if ev.kind == "role":
                    m.set_role(str(ev.data.get("role")))
                    if ev.data.get("role") == "leader":
                        m.leader_changes.inc()
                elif ev.kind == "election":
                    m.elections.inc()
            if ev.kind == "role" and ev.data.get("role") == "leader":
                # What the simulator's on_setup hook records from the core at this moment:
                # the new leader's log terms, for the leader-completeness check.
                log = getattr(self.core, "log", None)
                if log is not None:
                    self._push_event(
                        "leader-log", ev.node, t,
                        {"term": ev.data.get("term"), "terms": [e.term for e in log]},
                    )
        for fp_id in frozen_now:
            self._freeze_at(fp_id)

    def _emit_trace(self, kind: str, node: str, t: int, data: dict[str, Any]) -> None:
        if self.broker is not None and self._hold_events:
            # After a failpoint hit, tell the driver (which kills this process) only once the
            # broker calls made so far have completed: "crash right after the publish" means
            # after it reached the broker, not while its connection was still opening.
            self.broker.after_pending(functools.partial(self._push_event, kind, node, t, data))
        else:
            self._push_event(kind, node, t, data)

    # --- failpoints (see control.proto: Failpoint) -------------------------------------------

    def set_failpoint(self, fp_id: str, kind: str, where: dict[str, Any], delay_ms: int, armed: bool) -> None:
        if armed:
            self._failpoints[fp_id] = (kind, where, delay_ms)
        else:
            self._failpoints.pop(fp_id, None)

    def _failpoint_hit(self, ev: CoreEvent, frozen_now: list[str]) -> str | None:
        """Match ``ev`` against the armed failpoints; a hit freezes the node at the end of
        this batch (delay 0: the rest of the batch happened before the "crash", as in the
        simulator) or ``delay_ms`` later, and then says so with a ``failpoint-frozen`` event,
        which is what the driver waits for before it kills the process."""
        data = {**ev.data, "node": ev.node}
        for fp_id, (kind, where, delay_ms) in list(self._failpoints.items()):
            if ev.kind == kind and all(k in data and data[k] == v for k, v in where.items()):
                del self._failpoints[fp_id]
                self._hold_events = self.broker is not None
                if delay_ms <= 0:
                    frozen_now.append(fp_id)
                else:
                    asyncio.get_running_loop().call_later(delay_ms / 1000.0, self._freeze_at, fp_id)
                return fp_id
        return None

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
        while loop.time() < deadline and any(link.queued for link in self._links.values()):
            await asyncio.sleep(0.002)
        await asyncio.sleep(0.005)  # the last write leaves the gRPC buffer
        self._emit_trace("failpoint-frozen", self.node_id, t, {"failpoint": fp_id})

    def freeze(self) -> None:
        """Stop dead: no ticks, no inputs, no broker traffic (what a crash looks like from
        outside, while the driver's SIGKILL is on its way)."""
        self.frozen = True
        if self.broker is not None:
            self.broker.frozen = True

    def thaw(self) -> None:
        self.frozen = False
        if self.broker is not None:
            self.broker.frozen = False

    def _push_event(self, kind: str, node: str, t: int, data: dict[str, Any]) -> None:
        raw = json.dumps(jsonable(data), separators=(",", ":"), default=repr).encode()
        self._events.append(control_pb2.TraceEvent(kind=kind, node=node, t=t, data_json=raw))
        self._events_ready.set()

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
        m.fsyncs.set(self.storage.fsyncs)
        d = self.clock.describe()
        m.clock_offset.set(self.clock.read_ms() - self.run_clock.true_ms())
        m.faults.labels(self.node_id, "clock").set(
            0 if (d["offset_ms"] == 0 and d["rate"] == 1 and d["jumps_ms"] == 0) else 1
        )

    # --- peers and faults -----------------------------------------------------------------

    def set_peers(self, addresses: dict[str, str]) -> None:
        for peer, addr in addresses.items():
            if peer == self.node_id:
                continue
            link = self._links.get(peer)
            if link is None:
                link = self._new_link(peer, addr)
                self._links[peer] = link
                link.start()
            else:
                link.set_address(addr)

    def _new_link(self, peer: str, addr: str) -> OutboundStream:
        m = self.metrics
        node = self.node_id

        def dropped(reason: str) -> None:
            if m is not None:
                m.dropped.labels(node, peer, reason).inc()

        def sent() -> None:
            if m is not None:
                m.sent.labels(node, peer).inc()

        return OutboundStream(
            f"{node}->{peer}", addr,
            lambda ch: node_pb2_grpc.NodeLinkStub(ch).Exchange(),
            rng=self._rng, on_drop=dropped, on_sent=sent,
        )

    def _new_broker_link(self, spec: BrokerLinkSpec) -> BrokerLink:
        m = self.metrics
        node = self.node_id

        def dropped(reason: str) -> None:
            if m is not None:
                m.dropped.labels(node, spec.node, reason).inc()

        rng = random.Random(f"{self.spec.seed}:broker-link:{node}:{self.spec.incarnation}")
        return BrokerLink(node, spec, rng=rng, on_message=self.deliver, on_drop=dropped)

    def set_link(self, dst: str, settings: LinkSettings, *, inbound: bool = False) -> None:
        if self.broker is not None and dst == self.broker.spec.node:
            self.broker.configure(settings, inbound=inbound)
        link = self._links.get(dst)
        if link is not None and not inbound:
            link.configure(settings)
        if self.metrics is not None:
            active = sum(1 for lk in self._links.values() if not lk.settings.healthy())
            self.metrics.faults.labels(self.node_id, "link").set(active)

    def block_inbound(self, src: str, blocked: bool) -> None:
        if self.broker is not None and src == self.broker.spec.node:
            self.broker.configure(dataclasses.replace(self.broker.inbound, cut=blocked), inbound=True)
        if blocked:
            self._blocked_in.add(src)
        else:
            self._blocked_in.discard(src)
        if self.metrics is not None:
            self.metrics.faults.labels(self.node_id, "inbound_block").set(len(self._blocked_in))

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

    async def events(self) -> AsyncIterator[control_pb2.TraceEvent]:
        while not self._stopped:
            while self._events:
                yield self._events.popleft()
            self._events_ready.clear()
            await self._events_ready.wait()


# --- the Ray actor ---------------------------------------------------------------------------


class NodeActorImpl:
    """Ray async actor body: one node process.  ``pid`` lets the driver SIGKILL/SIGSTOP it."""

    def __init__(self, spec: NodeSpec) -> None:
        self.spec = spec
        self.host: NodeHost | None = None

    async def start(self, t0_ns: int | None = None) -> dict[str, Any]:
        """Start serving; ``t0_ns`` (the run's start) is given late so actor spawn time
        (seconds on a small machine) does not count as run time."""
        spec = self.spec if t0_ns is None else dataclasses.replace(self.spec, t0_ns=t0_ns)
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
        from scenarios.systems import build_config, get_system

        hook = get_system(self.spec.system).extra.get("prepare_node")
        if hook is not None:
            config = build_config(self.spec.system, self.spec.config)
            await asyncio.to_thread(hook, self.spec.node_id, self.spec.nodes, config)

    def final_core(self) -> Any:
        """The core object itself (pickled by Ray), for the system's end-of-run records
        (``System.on_finish`` reads the same attributes it reads in the simulator)."""
        return None if self.host is None else self.host.core

    def broker_stats(self) -> dict[str, Any]:
        link = None if self.host is None else self.host.broker
        return {} if link is None else {**link.stats, "last_error": link.last_error}

    def ping(self) -> float:
        return time.time()


def make_node_actor() -> Any:
    """The Ray remote class, created lazily so importing this module does not need Ray."""
    import ray

    return ray.remote(num_cpus=0, max_restarts=0, max_task_retries=0)(NodeActorImpl)
