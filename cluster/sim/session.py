"""The simulator as a launcher: the same shape as the real engine's (``cluster/session.py``).

``SimLauncher().open(spec)`` builds a :class:`~cluster.sim.world.Simulation` from the
cluster spec (cores, clients and workload from its factories; the starting network; the
per-event records) and yields a session the runner drives exactly as it drives the real
engine.  Nothing is started outside this process, so leaving the context stops nothing; it
closes the simulation (:meth:`~cluster.sim.world.Simulation.close`), which frees it as soon
as the caller lets go.  The shape is the same so that the runner never asks which engine it
holds.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from cluster.core.types import Core
from cluster.session import Collected, Progress
from cluster.sim.world import Simulation
from cluster.spec import ClusterSpec

__all__ = ["SimLauncher", "SimSession"]


class SimLauncher:
    """Opens simulator sessions.  ``trace_messages=False`` leaves wire records out of the
    trace (``explore`` runs thousands of schedules and reads only the verdicts)."""

    name = "sim"
    real_time = False

    def __init__(self, *, trace_messages: bool = True) -> None:
        self.trace_messages = trace_messages

    @contextmanager
    def open(self, spec: ClusterSpec) -> Iterator[SimSession]:
        session = SimSession(spec, trace_messages=self.trace_messages)
        try:
            yield session
        finally:
            session.sim.close()


class SimSession:
    """One simulated run.  ``sim`` is the :class:`Simulation` (the engine faults act on)."""

    def __init__(self, spec: ClusterSpec, *, trace_messages: bool = True) -> None:
        if spec.prepare is not None:
            for nid in spec.nodes:
                spec.prepare(nid)
        self.spec = spec
        self.sim = Simulation(
            seed=spec.seed,
            node_ids=spec.nodes,
            make_core=spec.make_core,
            make_client=spec.make_client,
            workload=spec.make_workload(),
            clients=spec.clients,
            tick_ms=spec.tick_ms,
            think_ms=spec.think_ms,
            trace_messages=trace_messages,
        )
        if spec.network is not None:
            for a in spec.nodes:
                for b in spec.nodes:
                    if a != b:
                        self.sim.set_link(a, b, **spec.network.degradation())
        self.sim.set_event_records(spec.on_event)
        self._engine: Simulation = weakref.proxy(self.sim)
        self._wall_s = 0.0
        self._stopped_by_limit = False

    @property
    def engine(self) -> Simulation:
        """The simulation as fault schedules see it: a weak proxy.  A schedule's callbacks
        often refer to themselves (a fault that reschedules its next arrival), and what they
        hold must not keep the simulation -- trace, history, every node's log -- alive past
        its run (:meth:`Simulation.close`).  The session holds the simulation itself."""
        return self._engine

    def run(self, duration_ms: int, *, deadline: float, progress: Progress | None = None) -> None:
        """Advance virtual time by ``duration_ms``; a run cut short by ``deadline`` is no
        longer a pure function of the seed (the stats say so)."""
        sim = self.sim

        def should_stop() -> bool:
            if time.monotonic() > deadline:
                self._stopped_by_limit = True
                return True
            return False

        t0 = time.perf_counter()
        if progress is None:
            sim.run(duration_ms, should_stop=should_stop)
        else:
            step = max(duration_ms // 50, 100)
            done = 0
            while done < duration_ms and not self._stopped_by_limit:
                chunk = min(step, duration_ms - done)
                sim.run(chunk, should_stop=should_stop)
                done += chunk
                progress(done, duration_ms)
        self._wall_s += time.perf_counter() - t0

    def settle(self, heal_all: Callable[[], None], settle_ms: int, *, deadline: float) -> None:
        """Nothing to do: the simulator's clock stops at the scenario's duration, and a
        scenario that checks liveness ends its faults early enough that its last
        ``settle_ms`` are quiet (the checkers verify that from the trace).  Running on
        would change the history every seed is known by."""

    def final_view(self) -> _SimFinalView:
        return _SimFinalView(self.sim)

    def collect(self) -> Collected:
        sim = self.sim
        sim_ms = sim.now_ms()
        wall = self._wall_s
        stats: dict[str, Any] = {
            "engine": "sim",
            "simulated_ms": sim_ms,
            "wall_s": round(wall, 3),
            "speedup": round(sim_ms / 1000 / wall, 1) if wall > 0 else None,
            "stopped_by_time_limit": self._stopped_by_limit,
            "trace_records": len(sim.trace),
        }
        return Collected(list(sim.history), sim.trace, stats)


class _SimFinalView:
    def __init__(self, sim: Simulation) -> None:
        self._sim = sim

    def node_ids(self) -> tuple[str, ...]:
        return self._sim.node_ids()

    def node_state(self, node: str) -> str:
        return self._sim.node_state(node)

    @property
    def nodes(self) -> Mapping[str, Core]:
        return self._sim.nodes

    def durable(self, node: str) -> Mapping[str, Any]:
        return self._sim.storage[node].load()

    def record(self, kind: str, data: dict[str, object]) -> None:
        self._sim.record(kind, data)
