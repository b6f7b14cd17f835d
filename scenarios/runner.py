"""Run a scenario in the deterministic simulator, check it, and collect what happened.

The runner composes parts and special-cases nothing (design principle 3): the system
builds cores and clients, the workload draws operations, the fault schedule is installed
on the engine, and the checkers named by the scenario judge the history and the trace.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from analysis.history import Event, History
from analysis.verdicts import overall
from scenarios.checkers import get_checker
from scenarios.coverage import fault_coverage
from scenarios.spec import Scenario, ScenarioError
from scenarios.systems import (
    build_config,
    check_flaws,
    client_factory,
    core_factory,
    get_system,
    node_ids,
)
from scenarios.workloads import think_ms

Progress = Callable[[int, int], None]  # (simulated ms so far, total simulated ms)


@dataclass
class RunOutcome:
    scenario: Scenario  # the effective scenario (seed and flaws as run)
    events: list[Event]
    trace: list[dict[str, Any]]
    results: list[dict[str, Any]]
    verdict: str
    stats: dict[str, Any]
    coverage: list[str] = field(default_factory=list)

    @property
    def history(self) -> History:
        return History.from_events(self.events, source="history.jsonl")


def effective(sc: Scenario, *, seed: int | None, flaws: tuple[str, ...] | None,
              time_limit_s: float | None, duration_ms: int | None = None) -> Scenario:
    """The scenario as it will actually run, with command-line overrides applied."""
    kw: dict[str, Any] = {}
    if seed is not None:
        kw["seed"] = seed
    if flaws is not None:
        try:
            check_flaws(sc.system, flaws)
        except ValueError as e:
            raise ScenarioError(str(e)) from None
        kw["flaws"] = tuple(flaws)
    if time_limit_s is not None:
        if time_limit_s <= 0:
            raise ScenarioError(f"--time-limit must be greater than 0, got {time_limit_s:g}")
        kw["time_limit_s"] = float(time_limit_s)
    if duration_ms is not None:
        if duration_ms <= 0:
            raise ScenarioError(f"--duration must be greater than 0, got {duration_ms}")
        kw["duration_ms"] = duration_ms
    return sc.with_overrides(**kw) if kw else sc


def simulate(sc: Scenario, *, progress: Progress | None = None, trace_messages: bool = True) -> tuple[Any, dict[str, Any]]:
    """Run the simulation only.  Returns the Simulation and run statistics."""
    from cluster.sim.world import Simulation
    from faults.schedule import install

    system = get_system(sc.system)
    nodes = node_ids(sc.nodes)
    try:
        config = build_config(sc.system, sc.config)
        make_client = client_factory(sc.system, nodes, sc.client)
    except (ValueError, TypeError) as e:
        raise ScenarioError(f"{sc.name}: {e}") from None
    make_core = core_factory(sc.system, nodes, config, sc.flaws)
    workload = system.build_workload(sc.workload, sc.clients)
    sim = Simulation(
        seed=sc.seed,
        node_ids=nodes,
        make_core=make_core,
        make_client=make_client,
        workload=workload,
        clients=sc.clients,
        tick_ms=sc.tick_ms,
        think_ms=think_ms(sc.workload),
        trace_messages=trace_messages,
    )
    _apply_network(sim, nodes, sc.network)
    install(list(sc.faults), sim)
    if system.on_setup is not None:
        system.on_setup(sim)
    deadline = time.monotonic() + sc.time_limit_s * 0.8
    stopped = {"by_limit": False}

    def should_stop() -> bool:
        if time.monotonic() > deadline:
            stopped["by_limit"] = True
            return True
        return False

    t0 = time.perf_counter()
    if progress is None:
        sim.run(sc.duration_ms, should_stop=should_stop)
    else:
        step = max(sc.duration_ms // 50, 100)
        done = 0
        while done < sc.duration_ms and not stopped["by_limit"]:
            chunk = min(step, sc.duration_ms - done)
            sim.run(chunk, should_stop=should_stop)
            done += chunk
            progress(done, sc.duration_ms)
    wall = time.perf_counter() - t0
    if system.on_finish is not None:
        system.on_finish(sim)
    sim_ms = sim.now_ms()
    stats = {
        "engine": "sim",
        "simulated_ms": sim_ms,
        "wall_s": round(wall, 3),
        "speedup": round(sim_ms / 1000 / wall, 1) if wall > 0 else None,
        "stopped_by_time_limit": stopped["by_limit"],
        "trace_records": len(sim.trace),
    }
    return sim, stats


def _apply_network(sim: Any, nodes: tuple[str, ...], spec: dict[str, Any]) -> None:
    if not spec:
        return
    allowed = {"loss", "delay_ms", "jitter_ms", "duplicate", "reorder"}
    bad = sorted(set(spec) - allowed)
    if bad:
        raise ScenarioError(f"network: unknown field {bad[0]!r}; allowed: {', '.join(sorted(allowed))}")
    for a in nodes:
        for b in nodes:
            if a != b:
                sim.set_link(a, b, **{k: float(v) for k, v in spec.items()})


def check_run(sc: Scenario, events: list[Event], trace: list[dict[str, Any]],
              timeout_s: float) -> list[dict[str, Any]]:
    """Run the scenario's checkers on a history and trace."""
    history = History.from_events(events, source="history.jsonl")
    return [get_checker(name)(sc, history, trace, timeout_s) for name in sc.checkers]


def run_scenario(
    sc: Scenario,
    *,
    progress: Progress | None = None,
    trace_messages: bool = True,
) -> RunOutcome:
    """Simulate, then check.  The time limit bounds both."""
    t0 = time.monotonic()
    sim, stats = simulate(sc, progress=progress, trace_messages=trace_messages)
    remaining = max(5.0, sc.time_limit_s - (time.monotonic() - t0))
    results = check_run(sc, list(sim.history), sim.trace, timeout_s=remaining)
    history = History.from_events(sim.history, source="history.jsonl")
    stats.update(_stats(history, sim.trace))
    stats["check_s"] = round(time.monotonic() - t0 - stats["wall_s"], 3)
    coverage = fault_coverage(history, sim.trace)
    return RunOutcome(sc, list(sim.history), sim.trace, results, overall(results), stats, coverage)


def _stats(history: History, trace: list[dict[str, Any]]) -> dict[str, Any]:
    counts = history.counts()
    leaders = [(r["t"], r["term"], r["node"]) for r in trace if r.get("kind") == "role" and r.get("role") == "leader"]
    elections = sum(1 for r in trace if r.get("kind") == "election")
    faults = [r.get("description", r.get("fault")) for r in trace if r.get("kind") == "fault-start"]
    return {
        "operations": len(history.operations),
        "ok": counts["ok"],
        "fail": counts["fail"],
        "info": counts["info"],
        "leader_changes": len(leaders),
        "elections": elections,
        "faults_applied": len(faults),
        "fault_descriptions": faults[:50],
    }
