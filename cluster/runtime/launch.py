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
file path) reach them by value: call :func:`ship_by_value` on the module first.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from analysis.history import Event
from cluster.core.types import Core
from cluster.runtime.engine import RayEngine
from cluster.runtime.errors import EngineSetupError
from cluster.runtime.scrape import rss_mb, scrape_all, scrape_periodically, serve_aggregate
from cluster.session import Collected, Progress
from cluster.spec import ClusterSpec

__all__ = ["RayLauncher", "RayOptions", "RayReady", "RaySession", "connect", "ship_by_value"]

os.environ.setdefault("GRPC_VERBOSITY", "ERROR")  # keep gRPC core's INFO lines off the terminal

_OBJECT_STORE_BYTES = 80 * 1024 * 1024
_CONNECT_TIMEOUT_S = 30.0
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
    * ``on_ready``: called once the cluster is up and the clients run (tests use it).
    """

    address: str | None = None
    metrics_port: int | None = None
    amqp_url: str | None = None
    kafka_bootstrap: str | None = None
    model_broker: bool = False
    on_ready: Callable[[RayReady], None] | None = None


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
        tmp = tempfile.mkdtemp(prefix="sb-ray-")
        with contextlib.ExitStack() as stack:
            stack.callback(shutil.rmtree, tmp, True)  # last: after every process is gone
            broker = None
            if spec.broker is not None and not opts.model_broker:
                broker = _start_broker(spec.broker.kind, opts, stack)  # closed after the nodes
            if _init_ray(opts.address, tmp):
                stack.callback(_ray_shutdown)
            loop = asyncio.new_event_loop()
            stack.callback(_close_loop, loop)
            session = RaySession(spec, opts, tmp=tmp, broker=broker, loop=loop)
            stack.callback(session.shutdown)
            loop.run_until_complete(session.start())
            yield session


def _start_broker(kind: str, opts: RayOptions, stack: contextlib.ExitStack) -> Any:
    from cluster.runtime.brokers import broker_endpoint
    from cluster.runtime.brokers.adapters import probe

    external = opts.amqp_url if kind == "rabbitmq" else opts.kafka_bootstrap
    if external:
        probe(kind, external)
    return stack.enter_context(broker_endpoint(kind, amqp_url=opts.amqp_url, kafka_bootstrap=opts.kafka_bootstrap))


def _init_ray(address: str | None, tmp: str) -> bool:
    """Start or join Ray; True when this run must shut the connection down at the end."""
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address not in (None, "", "local"):
        if ray.is_initialized():
            raise EngineSetupError("this process is already connected to Ray; cannot connect to another address")
        connect(str(address))
        return True
    if ray.is_initialized():
        return False  # a caller (tests, bench) already holds a Ray connection: share it
    ray.init(
        num_cpus=2,
        object_store_memory=_OBJECT_STORE_BYTES,
        include_dashboard=False,
        log_to_driver=False,
        _temp_dir=os.path.join(tmp, "ray"),
        configure_logging=False,
        runtime_env={"env_vars": {"GRPC_VERBOSITY": "ERROR"}},
    )
    return True


def _ray_shutdown() -> None:
    import ray

    with contextlib.suppress(Exception):
        ray.shutdown()


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


def connect(address: str) -> None:
    """Connect to an existing cluster, or fail with one clear line within 30 s."""
    import ray

    target = address[len("ray://"):] if address.startswith("ray://") else address
    if address != "auto":
        host, _, port = target.rpartition(":")
        try:
            with socket.create_connection((host or "127.0.0.1", int(port)), timeout=5.0):
                pass
        except (OSError, ValueError) as e:
            raise EngineSetupError(f"cannot reach the Ray cluster at {address!r}: {e}") from None
    box: dict[str, BaseException | None] = {"error": None}

    def go() -> None:
        try:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        except BaseException as e:  # noqa: BLE001 - reported below as one line
            box["error"] = e

    t = threading.Thread(target=go, daemon=True)
    t.start()
    t.join(_CONNECT_TIMEOUT_S)
    if t.is_alive():
        raise EngineSetupError(f"cannot connect to the Ray cluster at {address!r}: no answer in {_CONNECT_TIMEOUT_S:.0f} s")
    if box["error"] is not None:
        msg = str(box["error"]).strip().splitlines()[0] if str(box["error"]).strip() else type(box["error"]).__name__
        raise EngineSetupError(f"cannot connect to the Ray cluster at {address!r}: {msg}")


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
        self.stats: dict[str, Any] = {"engine": "ray"}

    @property
    def engine(self) -> RayEngine:
        assert self._engine is not None, "start() first"
        return self._engine

    # --- start ------------------------------------------------------------------------------

    async def start(self) -> None:
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from cluster.runtime.client_host import ClientSpec, make_client_actor
        from cluster.runtime.node import NodeSpec, make_node_actor

        spec = self.spec
        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        node_actor = make_node_actor().options(scheduling_strategy=here)
        client_actor = make_client_actor().options(scheduling_strategy=here)
        link, externals = self._broker_link()
        specs = {
            nid: NodeSpec(node_id=nid, make_core=spec.make_core, seed=spec.seed,
                          data_dir=os.path.join(self.data_dir, nid), tick_ms=spec.tick_ms, broker=link,
                          prepare=spec.prepare, on_event=spec.on_event)
            for nid in spec.nodes
        }
        self.client_actor = client_actor.remote(ClientSpec(
            make_client=spec.make_client, make_workload=spec.make_workload, clients=spec.clients,
            think_ms=spec.think_ms, seed=spec.seed, tick_ms=spec.tick_ms))
        available = {k: float(v) for k, v in ray.cluster_resources().items()}
        self.stats["gpus"] = available.get("GPU", 0.0)
        options = {nid: dict(spec.resources(nid, available)) for nid in spec.nodes} if spec.resources else {}

        def make_actor(s: NodeSpec) -> Any:
            opts = options.get(s.node_id)
            return (node_actor.options(**opts) if opts else node_actor).remote(s)

        async def on_addresses(addrs: dict[str, str]) -> None:
            await self.client_actor.set_addresses.remote(addrs)

        self._engine = RayEngine(specs=specs, seed=spec.seed, make_actor=make_actor, loop=self.loop,
                                 on_addresses=on_addresses, externals=externals)
        self._t_wall = time.perf_counter()
        await self.client_actor.pid.remote()
        await self._engine.start()
        self.stats["startup_s"] = round(time.perf_counter() - self._t_wall, 3)
        if spec.network is not None:
            for a in spec.nodes:
                for b in spec.nodes:
                    if a != b:
                        self._engine.set_link(a, b, **spec.network.degradation())

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
            self._agg_server = serve_aggregate(self.options.metrics_port, engine.metrics_ports, client_port)
        if self.options.on_ready is not None:
            self.options.on_ready(RayReady(engine, await self.client_actor.pid.remote(), client_port, self.tmp,
                                           self.broker))
        self._scraper = self.loop.create_task(scrape_periodically(self._live_ports, engine.incarnation, self._scrapes))
        while engine.now_ms() < duration_ms and time.monotonic() < deadline:
            await asyncio.sleep(min(0.1, max(0.0, (duration_ms - engine.now_ms()) / 1000)))
            if progress is not None:
                progress(min(engine.now_ms(), duration_ms), duration_ms)
        self.stats["stopped_by_time_limit"] = engine.now_ms() < duration_ms
        self._ran_ms = engine.now_ms()
        self._client_metrics = await asyncio.to_thread(scrape_all, {}, client_port)
        self._client_out = await self.client_actor.stop.remote()

    def _live_ports(self) -> dict[str, int]:
        engine = self.engine
        return {nid: p for nid, p in engine.metrics_ports().items() if engine.node_state(nid) == "up"}

    def settle(self, heal_all: Callable[[], None], settle_ms: int, *, deadline: float) -> None:
        """A quiet tail: every fault healed, no failpoint armed, every node back up (real
        restarts take seconds: a worker reloads its model), then ``settle_ms`` of calm, so
        an undelivered event at the end is really lost and not merely in flight."""
        self.loop.run_until_complete(self._settle(heal_all, settle_ms, deadline))

    async def _settle(self, heal_all: Callable[[], None], settle_ms: int, deadline: float) -> None:
        engine = self.engine
        t0 = time.monotonic()
        heal_all()
        engine.disarm_all_failpoints()
        deadline = min(deadline, time.monotonic() + 60.0)
        while time.monotonic() < deadline and any(engine.node_state(n) != "up" for n in engine.node_ids()):
            await asyncio.sleep(0.1)
        await asyncio.sleep(min(settle_ms / 1000.0 + 0.5, max(0.0, deadline - time.monotonic())))
        self.stats["settle_s"] = round(time.monotonic() - t0, 2)

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
        return _RayFinalView(engine, await engine.final_cores(), self.data_dir)

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
        metrics = await asyncio.to_thread(scrape_all, engine.metrics_ports(), None)
        metrics.update(self._client_metrics)
        for (nid, inc), snap in sorted(self._scrapes.items()):
            if nid not in metrics or engine.incarnation(nid) != inc:
                metrics[f"{nid} (incarnation {inc}, crashed)"] = snap
        stats["metrics"] = metrics
        stats["rss_mb"] = rss_mb(engine.pids())
        stats["simulated_ms"] = self._ran_ms
        stats["wall_s"] = round(time.perf_counter() - self._t_wall, 3)
        stats["speedup"] = 1.0
        stats["engine_errors"] = list(engine.errors[:20])
        events = [Event(p, typ, f, value, key, t_ns, i, extra=tuple(map(tuple, extra)))
                  for i, (p, typ, f, value, key, t_ns, extra) in enumerate(self._client_out["history"])]
        trace = sorted(engine.trace + list(self._client_out["trace"]), key=lambda r: r.get("t", 0))
        stats["trace_records"] = len(trace)
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
        if self._agg_server is not None:
            with contextlib.suppress(Exception):
                self._agg_server.shutdown()
                self._agg_server.server_close()


class _RayFinalView:
    """The end state for a system's final records, over the real engine: the live nodes'
    cores (fetched from their processes), durable state read from each node's WAL."""

    def __init__(self, engine: RayEngine, cores: dict[str, Any], data_dir: str) -> None:
        self._engine = engine
        self._cores = cores
        self._data_dir = data_dir

    def node_ids(self) -> tuple[str, ...]:
        return tuple(self._engine.node_ids())

    def node_state(self, node: str) -> str:
        return str(self._engine.node_state(node))

    @property
    def nodes(self) -> Mapping[str, Core]:
        return self._cores

    def durable(self, node: str) -> Mapping[str, Any]:
        from cluster.runtime.disk import WAL_NAME, load_image

        return load_image(os.path.join(self._data_dir, node, WAL_NAME))

    def record(self, kind: str, data: dict[str, object]) -> None:
        self._engine.record(kind, data)
