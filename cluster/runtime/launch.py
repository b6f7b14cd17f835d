"""The real engine as a launcher: Ray actors, gRPC streams, real disks, brokers and faults.

``RayLauncher(RayOptions(...)).open(spec)`` is a context manager that starts the cluster a
:class:`~cluster.spec.ClusterSpec` describes and yields a :class:`RaySession`, the shape
``cluster/session.py`` gives every engine.  Starting means: a private broker when a node is
a broker (or the user's, probed first), a local Ray instance (or a connection to
``address``, or the caller's existing one), one node actor per node built from the spec's
factories (each prepares -- loads its model -- before the clock starts), one client actor
for the clients.  Leaving the context stops all of it and removes the run's temporary
folders, whatever happened (success, a checker error, Ctrl-C).

What a reader of a real run's results should know:

* time is real: ``duration_ms`` of wall-clock time after the cluster is up; ``t`` in the
  trace and ``time`` in the history are measured from the moment every node started;
* the trace holds core events, lifecycle and fault records, client invoke/complete records
  and what the system records at the end -- not per-message wire records, which at tens of
  thousands per second would cost more than the run;
* the same seed does *not* give the same history: scheduling is real;
* a broker node (saga, pipeline) is a real one: a private RabbitMQ node (``rabbitmq``) or
  Tansu broker (``kafka``) started and stopped by the run, or the user's (``amqp_url``,
  ``kafka_bootstrap``); it is crashed, restarted and paused as a process, and every other
  node talks to it with real client connections (:mod:`cluster.runtime.broker_link`).
  With ``model_broker`` the broker node runs its modelled core as an actor instead.

Node metrics are scraped at the end into the stats (``metrics``: per node, a dict of
``series -> value``) and every few seconds during the run (a crashed incarnation keeps its
last scrape, key ``"n3 (incarnation 0, crashed)"``); with ``metrics_port`` an aggregated
Prometheus endpoint serves every node's metrics (and the clients') during the run.

Factories defined in a module the worker processes cannot import (a plugin loaded from a
file path) reach them by value: the spec names such modules in ``by_value`` and opening
the session calls :func:`ship_by_value` on each.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

from analysis import trace_kinds as K
from analysis.history import Event
from cluster.core.types import Core
from cluster.runtime.engine import RayEngine
from cluster.runtime.errors import EngineSetupError
from cluster.runtime.leftovers import RUN_TAG_ENV, claim, run_root, sweep
from cluster.runtime.placement import Placement
from cluster.runtime.ray_local import connect, shutdown, start_local
from cluster.runtime.scrape import (
    node_up_series,
    rss_mb,
    scrape_all,
    scrape_periodically,
    serve_aggregate,
)
from cluster.session import Collected, Progress
from cluster.spec import ClusterSpec

__all__ = ["RayLauncher", "RayOptions", "RayReady", "RaySession", "check_metrics_port", "connect", "ray_connection",
           "ship_by_value"]

os.environ.setdefault("GRPC_VERBOSITY", "ERROR")  # keep gRPC core's INFO lines off the terminal

_CLOSE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class RayReady:
    """What a run holds once its cluster is up and its clients run (for ``on_ready``)."""

    engine: RayEngine
    client_pid: int
    client_metrics_port: int
    tmp: str
    broker: Any  # cluster.runtime.brokers.Endpoint, when a node is a real broker


@dataclass(frozen=True)
class RayOptions:
    """How to run on Ray.

    * ``address``: join this Ray cluster (``auto``, ``host:port``, ``ray://...``) instead of
      starting a local one; a process that already holds a Ray connection shares it;
    * ``metrics_port``: serve every node's metrics on 127.0.0.1:``metrics_port`` during runs;
    * ``amqp_url`` / ``kafka_bootstrap``: the user's broker instead of a private one (crash
      and pause faults on the broker node are then not applied: it is not ours to kill);
    * ``model_broker``: no real broker -- the broker node runs its modelled core;
    * ``on_ready``: called once the cluster is up and the clients run (tests use it);
    * ``spread``: deal the node actors over the cluster's Ray nodes, their servers bound to
      the address of the Ray node each runs on (:mod:`cluster.runtime.placement`; without
      it everything stays beside the driver, on 127.0.0.1).
    """

    address: str | None = None
    metrics_port: int | None = None
    amqp_url: str | None = None
    kafka_bootstrap: str | None = None
    model_broker: bool = False
    on_ready: Callable[[RayReady], None] | None = None
    spread: bool = False


def ship_by_value(module: ModuleType) -> None:
    """Pickle ``module``'s functions and classes by value when they travel to Ray workers.

    Ray ships a node's core factory (and a client's) to the worker process with
    cloudpickle, which pickles what a module defines *by reference* (module name and
    qualified name), assuming the worker can import the module.  A plugin loaded from a
    file path cannot be imported there; registered here, its code travels with the
    factory instead.  (Ray's ``runtime_env={"py_modules": ...}`` would upload packages --
    directories -- and cannot carry a single-file module; by-value pickling can, and works
    the same against a local or a remote cluster.)
    """
    import ray.cloudpickle as cloudpickle

    cloudpickle.register_pickle_by_value(module)


class RayLauncher:
    """Opens real-engine sessions (see the module doc)."""

    name = "ray"
    real_time = True

    def __init__(self, options: RayOptions | None = None) -> None:
        self.options = options or RayOptions()

    @contextmanager
    def open(self, spec: ClusterSpec) -> Iterator[RaySession]:
        opts = self.options
        for name in spec.by_value:
            module = sys.modules.get(name)
            if module is None:
                raise EngineSetupError(f"module {name!r} is to be shipped to the workers but is not loaded")
            ship_by_value(module)
        check_metrics_port(opts.metrics_port)  # one line now, not a traceback once Ray is up
        swept = sweep()  # what dead runs left (never a live run's): see cluster.runtime.leftovers
        tmp = tempfile.mkdtemp(prefix="sb-ray-", dir=run_root())
        tag = f"run-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        with contextlib.ExitStack() as stack:
            stack.callback(shutil.rmtree, tmp, True)  # last: after every process is gone
            claim(tmp, "real-engine run", tag_env=RUN_TAG_ENV, tag=tag)
            broker = None
            if spec.broker is not None and not opts.model_broker:
                broker = _start_broker(spec.broker.kind, opts, stack)  # closed after the nodes
            _init_ray(opts.address, tmp, tag, stack)
            loop = asyncio.new_event_loop()
            stack.callback(_close_loop, loop)
            session = RaySession(spec, opts, tmp=tmp, broker=broker, loop=loop)
            if swept.removed or swept.failed:
                session.stats["swept_leftovers"] = swept.to_dict()
            stack.callback(session.shutdown)
            loop.run_until_complete(session.start())
            yield session


def check_metrics_port(port: int | None) -> None:
    """Fail at once, in one line, when the aggregated metrics endpoint cannot be served on
    ``127.0.0.1:port`` (taken or out of range), before anything starts."""
    if port is None:
        return
    if not 1 <= port <= 65535:
        raise EngineSetupError(f"--metrics-port {port}: a port is a number from 1 to 65535")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError as e:
            raise EngineSetupError(f"--metrics-port {port}: cannot serve metrics on 127.0.0.1:{port} "
                                   f"({e.strerror or e}); pick a free port") from None


def _start_broker(kind: str, opts: RayOptions, stack: contextlib.ExitStack) -> Any:
    from cluster.runtime.brokers import broker_endpoint
    from cluster.runtime.brokers.adapters import probe

    external = opts.amqp_url if kind == "rabbitmq" else opts.kafka_bootstrap
    if external:
        probe(kind, external)
    return stack.enter_context(broker_endpoint(kind, amqp_url=opts.amqp_url, kafka_bootstrap=opts.kafka_bootstrap))


def _init_ray(address: str | None, tmp: str, tag: str, stack: contextlib.ExitStack, num_cpus: int = 2) -> None:
    """Start a private local Ray (stopped when ``stack`` closes), join ``address``, or
    share the connection the process already holds (tests, the bench)."""
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address not in (None, "", "local"):
        if ray.is_initialized():
            raise EngineSetupError("this process is already connected to Ray; cannot connect to another address")
        stack.callback(shutdown)
        connect(str(address))
        return
    if ray.is_initialized():
        return  # a caller (tests, bench) already holds a Ray connection: share it
    stack.enter_context(start_local(tmp, tag=tag, num_cpus=num_cpus))


@contextmanager
def ray_connection(address: str | None = None, *, num_cpus: int | None = None) -> Iterator[None]:
    """Ray for a command that runs Ray *tasks* (``sweep``, ``explore --workers``): a private
    local Ray started and stopped here (loopback, tagged and swept like a run's), or a
    connection to ``address``, or the connection this process already holds (tests, the
    bench), which is left open.  ``num_cpus`` is what a local Ray offers (default: this
    machine's cores), because a task pool sizes itself by the CPUs Ray sees."""
    sweep()  # what dead runs left (never a live run's): see cluster.runtime.leftovers
    tmp = tempfile.mkdtemp(prefix="sb-ray-", dir=run_root())
    tag = f"run-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, tmp, True)  # last: after every process is gone
        claim(tmp, "ray tasks", tag_env=RUN_TAG_ENV, tag=tag)
        _init_ray(address, tmp, tag, stack, num_cpus=num_cpus or os.cpu_count() or 1)
        yield


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what is still pending on the run's loop (an interrupted run leaves tasks)."""
    with contextlib.suppress(BaseException):
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for t in pending:
            t.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


_MAX_SETTLE_EXTRA_S = 30.0
"""How much longer than its window the settle phase waits for a working system to calm."""

_MAX_WIRE_WAIT_S = 180.0
"""How long the settle phase waits for every node to be up and wired before it thaws them
and starts watching for calm (a restarted worker reloads its model: tens of seconds under load)."""


class _Settling(Protocol):
    """What the settle phase needs of an engine (:class:`cluster.runtime.engine.RayEngine`)."""

    @property
    def streamed(self) -> int: ...

    def wired(self) -> bool: ...

    def unwired(self) -> list[str]: ...

    def thaw_all(self) -> None: ...


@dataclass(frozen=True)
class SettleOutcome:
    """How a settle phase ended: ``calm`` only when every node was up and wired and none
    reported an event for a whole window; ``unwired`` names the nodes that were not."""

    calm: bool
    settle_s: float
    window_s: float
    unwired: tuple[str, ...] = ()


async def settle_until_calm(engine: _Settling, settle_ms: int, deadline: float) -> SettleOutcome:
    """The quiet tail of a real run, after its faults are healed.

    The checkers call an unfinished item lost after ``settle_ms`` of calm, measured on the
    trace's clock.  Calm means the system stopped working, not that ``settle_ms`` passed: on
    a loaded machine a restarted consumer can take seconds to fetch what waits for it, and
    a restarted worker tens of seconds to reload its model.  So the tail first waits (up to
    :data:`_MAX_WIRE_WAIT_S`) for every node to be up and wired, thaws them, and then lasts
    until no node has reported an event for a whole window with every node wired, up to
    :data:`_MAX_SETTLE_EXTRA_S` past the window and never past ``deadline`` (the run's
    time limit).  A node still restarting at the end, or a window that was never watched
    in full, is not calm: the run's end was not quiet, and liveness is not judged."""
    t0 = time.monotonic()
    wire_by = min(deadline, t0 + _MAX_WIRE_WAIT_S)
    while time.monotonic() < wire_by and not engine.wired():
        await asyncio.sleep(0.1)
    engine.thaw_all()
    window = settle_ms / 1000.0 + 0.5
    calm_by = min(deadline, time.monotonic() + window + _MAX_SETTLE_EXTRA_S)
    seen, since = engine.streamed, time.monotonic()
    calm = False
    while True:  # looked at every 0.1 s: a node that is down for part of the window breaks it
        await asyncio.sleep(min(0.1, window - (time.monotonic() - since), max(0.0, calm_by - time.monotonic())))
        now = time.monotonic()
        if engine.streamed != seen or not engine.wired():
            seen, since = engine.streamed, now
        elif now - since >= window - 0.01:  # asyncio may wake a hair before the window ends
            calm = True
            break
        if now >= calm_by:
            break
    unwired = () if calm else tuple(engine.unwired())
    return SettleOutcome(calm=calm, settle_s=round(time.monotonic() - t0, 2), window_s=round(window, 2),
                         unwired=unwired)


class RaySession:
    """One run on Ray; its methods are the runner's (``cluster.session.Session``), each
    running the session's own asyncio loop until that step is done."""

    def __init__(self, spec: ClusterSpec, options: RayOptions, *, tmp: str, broker: Any,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.spec = spec
        self.options = options
        self.tmp = tmp
        self.data_dir = os.path.join(tmp, "data")
        self.broker = broker
        self.loop = loop
        self._engine: RayEngine | None = None
        self.client_actor: Any = None
        self._client_info: dict[str, Any] = {}
        self._client_out: dict[str, Any] = {"history": [], "trace": []}
        self._client_metrics: dict[str, dict[str, float]] = {}
        self._agg_server: Any = None
        self._scraper: asyncio.Task[None] | None = None
        self._scrapes: dict[tuple[str, int], dict[str, float]] = {}
        self._t_wall = time.perf_counter()
        self._ran_ms = 0
        self.placement: Placement | None = None
        self.stats: dict[str, Any] = {"engine": "ray"}

    @property
    def engine(self) -> RayEngine:
        assert self._engine is not None, "start() first"
        return self._engine

    # --- start ------------------------------------------------------------------------------

    async def start(self) -> None:
        import ray

        from cluster.runtime.client_host import ClientSpec, make_client_actor
        from cluster.runtime.node import NodeSpec, make_node_actor

        spec = self.spec
        available = {k: float(v) for k, v in ray.cluster_resources().items()}
        self.stats["gpus"] = available.get("GPU", 0.0)
        options = {nid: dict(spec.resources(nid, available)) for nid in spec.nodes} if spec.resources else {}
        link, externals = self._broker_link()
        placement = self.placement = self._place(options)
        node_actor = make_node_actor()
        client_actor = make_client_actor().options(scheduling_strategy=placement.strategy())
        actor_nodes = [nid for nid in spec.nodes if nid not in externals]
        specs = {
            nid: NodeSpec(node_id=nid, make_core=spec.make_core, seed=spec.seed,
                          data_dir=os.path.join(self.data_dir, nid), tick_ms=spec.tick_ms, broker=link,
                          prepare=spec.prepare, on_event=spec.on_event, host_from_ray=placement.spread)
            for nid in spec.nodes
        }
        self.client_actor = client_actor.remote(ClientSpec(
            make_client=spec.make_client, make_workload=spec.make_workload, clients=spec.clients,
            think_ms=spec.think_ms, seed=spec.seed, tick_ms=spec.tick_ms))

        # A node that asks for resources (a GPU share) gets no spare: the spare would hold
        # a second share, and wait for it forever where the machine has no more.
        spares = frozenset(nid for nid in spec.nodes if not options.get(nid)) if spec.may_crash else frozenset()

        def make_actor(s: NodeSpec) -> Any:
            opts = {**options.get(s.node_id, {}), "scheduling_strategy": placement.strategy(s.node_id)}
            return node_actor.options(**opts).remote(s)

        async def on_addresses(addrs: dict[str, str]) -> None:
            await self.client_actor.set_addresses.remote(addrs)

        if placement.spread:
            placement.start_agents()
            self.stats["placement"] = {nid: ip for nid, ip in placement.describe().items() if nid in actor_nodes}
        elif placement.note:
            self.stats["spread_note"] = placement.note
        self._engine = RayEngine(specs=specs, seed=spec.seed, make_actor=make_actor, loop=self.loop,
                                 on_addresses=on_addresses, externals=externals, spares=spares,
                                 signaller=placement.signal if placement.spread else None)
        self._t_wall = time.perf_counter()
        await self.client_actor.pid.remote()
        await self._engine.start()
        self.stats["startup_s"] = round(time.perf_counter() - self._t_wall, 3)
        if spec.network is not None:
            for a in spec.nodes:
                for b in spec.nodes:
                    if a != b:
                        self._engine.set_link(a, b, **spec.network.degradation())

    def _place(self, needs: Mapping[str, Mapping[str, float]]) -> Placement:
        """Where each node runs (see :mod:`cluster.runtime.placement`): a broker node
        stays beside the driver, and with a private broker nothing is spread."""
        plan = self.spec.broker
        private = self.broker is not None and self.broker.node is not None
        return Placement.plan(
            self.spec.nodes, spread=self.options.spread, needs=needs,
            beside_driver=() if plan is None else (plan.node,),
            not_spread_because=(f"not spread: the private {self.broker.kind} broker listens on 127.0.0.1 only, "
                                "so the nodes that talk to it stay beside it (give your own broker with "
                                "--amqp-url/--kafka-bootstrap to spread them)") if private else None)

    def _broker_link(self) -> tuple[Any, dict[str, Any]]:
        """The broker link spec every node gets, and the broker as an external node."""
        plan = self.spec.broker
        if self.broker is None or plan is None:
            return None, {}
        from cluster.runtime.broker_link import BrokerLinkSpec
        from cluster.runtime.brokers.managed import ManagedBroker, UserBroker

        link = BrokerLinkSpec(node=plan.node, kind=self.broker.kind, address=self.broker.address,
                              namespace=f"sb-{uuid.uuid4().hex[:8]}.", partitions=plan.partitions,
                              consumer_options=dict(plan.consumer_options))
        ext = ManagedBroker(self.broker.node) if self.broker.node is not None else UserBroker()
        return link, {plan.node: ext}

    # --- run ----------------------------------------------------------------------------------

    def run(self, duration_ms: int, *, deadline: float, progress: Progress | None = None) -> None:
        """Start the clients, run ``duration_ms`` of wall-clock time (or until ``deadline``),
        then stop issuing operations (open ones stay open: indeterminate)."""
        self.loop.run_until_complete(self._run(duration_ms, deadline, progress))

    async def _run(self, duration_ms: int, deadline: float, progress: Progress | None) -> None:
        engine = self.engine
        self._client_info = await self.client_actor.start.remote(engine.addresses(), engine.t0_ns)
        client_port = self._client_info["metrics_port"]
        if self.options.metrics_port is not None:
            self._agg_server = serve_aggregate(self.options.metrics_port, engine.metrics_targets, client_port,
                                               self._nodes_up)
        if self.options.on_ready is not None:
            self.options.on_ready(RayReady(engine, await self.client_actor.pid.remote(), client_port, self.tmp,
                                           self.broker))
        self._scraper = self.loop.create_task(scrape_periodically(self._live_ports, engine.incarnation, self._scrapes))
        # The workload gets its whole duration: the clock started when the nodes did, and
        # wiring them and starting the clients takes seconds on a loaded machine.
        started = engine.now_ms()
        end = started + duration_ms
        self.stats["clients_started_ms"] = started
        while engine.now_ms() < end and time.monotonic() < deadline:
            await asyncio.sleep(min(0.1, max(0.0, (end - engine.now_ms()) / 1000)))
            if progress is not None:
                progress(min(engine.now_ms() - started, duration_ms), duration_ms)
        self.stats["stopped_by_time_limit"] = engine.now_ms() < end
        self._ran_ms = engine.now_ms()
        self._client_metrics = await asyncio.to_thread(scrape_all, {}, client_port)
        self._client_out = await self.client_actor.stop.remote()

    def _nodes_up(self) -> dict[str, bool]:
        engine = self.engine
        return {nid: engine.node_state(nid) == "up" for nid in engine.node_ids()}

    def _live_ports(self) -> dict[str, str]:
        engine = self.engine
        return {nid: p for nid, p in engine.metrics_targets().items() if engine.node_state(nid) == "up"}

    def settle(self, heal_all: Callable[[], None], settle_ms: int, *, deadline: float) -> None:
        """A quiet tail: every fault healed, no failpoint armed, every node back up (real
        restarts take seconds: a worker reloads its model), then ``settle_ms`` of calm, so
        an undelivered event at the end is really lost and not merely in flight."""
        self.loop.run_until_complete(self._settle(heal_all, settle_ms, deadline))

    async def _settle(self, heal_all: Callable[[], None], settle_ms: int, deadline: float) -> None:
        engine = self.engine
        heal_all()
        engine.disarm_all_failpoints()
        outcome = await settle_until_calm(engine, settle_ms, deadline)
        self.stats["settle_s"] = outcome.settle_s
        self.stats["settle_calm"] = outcome.calm
        if not outcome.calm:
            # Evidence for the checkers (and for a later ``splitbrain check``): the end of
            # this run was not quiet, whatever the fault schedule says.
            data: dict[str, object] = {"settle_s": outcome.settle_s, "window_s": outcome.window_s}
            if outcome.unwired:
                data["unwired"] = list(outcome.unwired)
            engine.record(K.SETTLE_UNFINISHED, data)

    # --- the end ------------------------------------------------------------------------------

    def final_view(self) -> _RayFinalView:
        """Paused nodes are resumed so their state can be read (the history is already in)."""
        return self.loop.run_until_complete(self._final_view())

    async def _final_view(self) -> _RayFinalView:
        engine = self.engine
        for nid in engine.node_ids():
            if engine.node_state(nid) == "paused":
                engine.resume(nid)
        await asyncio.sleep(0.05)
        return _RayFinalView(engine, await engine.final_cores(), self.data_dir, self.placement)

    def collect(self) -> Collected:
        return self.loop.run_until_complete(self._collect())

    async def _collect(self) -> Collected:
        engine = self.engine
        stats = self.stats
        if self.broker is not None:
            stats["broker"] = {"kind": self.broker.kind, "managed": self.broker.node is not None,
                               "links": await engine.broker_stats()}
        statuses = await engine.statuses()
        stats["nodes"] = {nid: {"role": st.role, "term": st.term, "commit_index": st.commit_index,
                                "log_len": st.log_len, "pid": st.pid, "clock_offset_ms": st.clock_offset_ms,
                                "clock_rate": st.clock_rate, "local_minus_true_ms": st.local_ms - st.true_ms,
                                "lease_valid": st.lease_valid} for nid, st in statuses.items()}
        if self._scraper is not None:
            self._scraper.cancel()
        metrics = await asyncio.to_thread(scrape_all, engine.metrics_targets(), None)
        metrics.update(self._client_metrics)
        metrics["driver"] = node_up_series(self._nodes_up())
        for (nid, inc), snap in sorted(self._scrapes.items()):
            if nid not in metrics or engine.incarnation(nid) != inc:
                metrics[f"{nid} (incarnation {inc}, crashed)"] = snap
        stats["metrics"] = metrics
        placement = self.placement
        stats["rss_mb"] = rss_mb({n: pid for n, pid in engine.pids().items()
                                  if placement is None or placement.is_local(n)})
        stats["simulated_ms"] = self._ran_ms
        stats["wall_s"] = round(time.perf_counter() - self._t_wall, 3)
        stats["speedup"] = 1.0
        stats["engine_errors"] = list(engine.errors[:20])
        events = [Event(p, typ, f, value, key, t_ns, i, extra=tuple(map(tuple, extra)))
                  for i, (p, typ, f, value, key, t_ns, extra) in enumerate(self._client_out["history"])]
        merged, counts = await engine.merged_trace()
        trace = sorted(merged + list(self._client_out["trace"]), key=lambda r: r.get("t", 0))
        stats["trace_records"] = len(trace)
        stats["trace_sources"] = counts
        return Collected(events, trace, stats)

    def shutdown(self) -> None:
        """Stop the engine (every node incarnation), the client actor and the metrics server."""
        import ray

        engine = self._engine
        if engine is not None:

            async def close() -> None:
                await asyncio.wait_for(asyncio.shield(engine.close()), timeout=_CLOSE_TIMEOUT_S)

            with contextlib.suppress(BaseException):
                self.loop.run_until_complete(close())
        if self.client_actor is not None:
            with contextlib.suppress(BaseException):
                ray.kill(self.client_actor, no_restart=True)
        if self.placement is not None and self.placement.spread:
            with contextlib.suppress(BaseException):
                self.placement.close({nid: os.path.join(self.data_dir, nid) for nid in self.spec.nodes})
        if self._agg_server is not None:
            with contextlib.suppress(Exception):
                self._agg_server.shutdown()
                self._agg_server.server_close()


class _RayFinalView:
    """The end state for a system's final records, over the real engine: the live nodes'
    cores (fetched from their processes), durable state read from each node's WAL."""

    def __init__(self, engine: RayEngine, cores: dict[str, Any], data_dir: str,
                 placement: Placement | None = None) -> None:
        self._engine = engine
        self._cores = cores
        self._data_dir = data_dir
        self._placement = placement

    def node_ids(self) -> tuple[str, ...]:
        return tuple(self._engine.node_ids())

    def node_state(self, node: str) -> str:
        return str(self._engine.node_state(node))

    @property
    def nodes(self) -> Mapping[str, Core]:
        return self._cores

    def durable(self, node: str) -> Mapping[str, Any]:
        from cluster.runtime.disk import WAL_NAME, load_image

        path = os.path.join(self._data_dir, node, WAL_NAME)
        if self._placement is not None and not self._placement.is_local(node):
            return self._placement.load_image(node, path)  # the WAL is on the node's machine
        return load_image(path)

    def record(self, kind: str, data: dict[str, object]) -> None:
        self._engine.record(kind, data)
