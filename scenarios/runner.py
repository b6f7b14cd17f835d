"""Run a scenario on an engine, check it, and collect what happened: one runner for all.

The runner composes parts and special-cases nothing (design principle 3).  From the
scenario and its :class:`~scenarios.systems.System` it builds a
:class:`~cluster.spec.ClusterSpec` (core, client and workload factories; the starting
network; what the system asks of an engine), opens the engine it is given (a *launcher*:
:class:`~cluster.sim.session.SimLauncher` or :class:`~cluster.runtime.launch.RayLauncher`),
installs the fault schedule (:mod:`faults.schedule`), runs for the scenario's duration
within its wall-clock limit, settles, lets the system record the final state, collects the
history and the trace, and has the scenario's checkers judge them.  Which engine it holds
changes nothing here: the engine's differences live behind :class:`cluster.session.Session`.

The wall-clock limit (``time_limit_s``) covers the run from the moment the cluster is up
to the last checker: the run may use it until 80%, the settle phase until 95%, and the
checkers what is left.  A real engine's start-up (Ray, a broker, loading a model) comes
before it: on a busy machine it takes tens of seconds that say nothing about the
scenario, and counting them would cut short a correct run for the machine's sake (the
stats report it as ``startup_s``).  A run the limit stopped before its duration has a history
that ends early: a check that passes over it proves nothing about the rest, so such a
run is never ``valid`` -- a ``time-limit`` result says ``unknown`` and why (a violation
found in what did run stays ``invalid``).
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analysis import trace_kinds as K
from analysis.anomalies import check_tags
from analysis.history import Event, History
from analysis.verdicts import VERDICTS, overall
from cluster.session import Collected, Launcher, Progress, Session
from cluster.sim.gcpolicy import few_full_collections
from cluster.sim.session import SimLauncher, SimSession
from cluster.sim.world import Simulation
from cluster.spec import ClusterSpec, Workload
from faults.engine import LinkSettings
from faults.schedule import install
from scenarios.checkers import get_checker
from scenarios.coverage import coverage_records, fault_coverage
from scenarios.plugins import by_value_modules
from scenarios.script import ScriptWorkload, has_script, parse_script
from scenarios.spec import Scenario, ScenarioError, for_engine
from scenarios.systems import (
    RunInfo,
    System,
    build_config,
    check_flaws,
    client_factory,
    core_factory,
    get_system,
    node_ids,
    workload_factory,
)
from scenarios.workloads import think_ms

__all__ = [
    "Executed",
    "Progress",
    "RunOutcome",
    "check_run",
    "cluster_spec",
    "effective",
    "execute",
    "run_scenario",
    "simulate",
    "scenario_workload",
]


@dataclass
class RunOutcome:
    scenario: Scenario  # the effective scenario (seed, flaws and engine overrides as run)
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


# --- from a scenario to what an engine runs ------------------------------------------------------


def system_config(sc: Scenario, system: System, *, real_time: bool) -> Any:
    """The system's config object for ``sc``: its ``config`` table, over the system's
    real-time defaults when the engine runs in real time."""
    data = {**system.realtime_config, **sc.config} if real_time else dict(sc.config)
    try:
        return build_config(sc.system, data)
    except (ValueError, TypeError) as e:
        raise ScenarioError(f"{sc.name}: {e}") from None


def cluster_spec(sc: Scenario, *, real_time: bool = False) -> tuple[ClusterSpec, Any]:
    """What an engine runs for ``sc`` (and the system config it was built with).  Errors in
    the scenario's parts are one :class:`ScenarioError` line naming the scenario."""
    system = get_system(sc.system)
    nodes = node_ids(sc.nodes)
    config = system_config(sc, system, real_time=real_time)
    try:
        make_client = client_factory(sc.system, nodes, sc.client)
        make_workload = scenario_workload(sc, system)
        network = LinkSettings.from_mapping(sc.network) if sc.network else None
        broker = system.broker(nodes, config) if system.broker is not None else None
    except (ValueError, TypeError) as e:
        raise ScenarioError(f"{sc.name}: {e}") from None
    if system.requirements is not None:
        reason = system.requirements(config)
        if reason:
            raise ScenarioError(f"{sc.name}: {reason}")
    make_core = core_factory(sc.system, nodes, config, sc.flaws)
    try:  # a core checks its own config (quorum sizes against N...): fail here, in one line, not in an engine
        make_core(nodes[0], None, random.Random(0))
    except (ValueError, TypeError) as e:
        raise ScenarioError(f"{sc.name}: {e} (nodes = {len(nodes)})") from None
    spec = ClusterSpec(
        nodes=nodes,
        make_core=make_core,
        make_client=make_client,
        make_workload=make_workload,
        clients=sc.clients,
        seed=sc.seed,
        tick_ms=sc.tick_ms,
        think_ms=think_ms(sc.workload),
        network=network,
        on_event=system.event_records,
        prepare=None if system.prepare_node is None else _PerNode(system.prepare_node, nodes, config),
        resources=None if system.node_resources is None else _PerNode(system.node_resources, nodes, config),
        broker=broker,
        by_value=by_value_modules(sc.plugins),
        may_crash=may_crash(sc.faults),
    )
    return spec, config


def scenario_workload(sc: Scenario, system: System) -> Callable[[], Workload]:
    """How an engine builds the scenario's workload for one run: its explicit script, or
    the generator of its ``workload`` table's kind (the system's own or a plugin's)."""
    if has_script(sc.workload):
        try:
            ops = parse_script(sc.workload, clients=sc.clients, system=sc.system, vocabulary=system.script)
        except ValueError as e:
            raise ScenarioError(f"{sc.name}: {e}") from None
        return functools.partial(ScriptWorkload, tuple(ops), sc.clients)
    return workload_factory(sc.system, dict(sc.workload), sc.clients)


_CRASHING = ("crash", "crash-restart-loop")


def may_crash(faults: Any) -> bool:
    """Whether a fault schedule can crash a node: a crash fault item, or a random item
    that may draw one."""
    for item in faults:
        if not isinstance(item, Mapping):
            continue
        fault = item.get("fault")
        if isinstance(fault, Mapping) and fault.get("fault") in _CRASHING:
            return True
        kinds = item.get("kinds")
        if isinstance(kinds, (list, tuple)) and any(str(k).split(":")[0] in _CRASHING for k in kinds):
            return True
    return False


class _PerNode:
    """``fn(node, nodes, config, *rest)`` as ``(node, *rest)``: a system's per-node hook
    bound to this run (a class, so it pickles for the real engine's node processes)."""

    def __init__(self, fn: Callable[..., Any], nodes: tuple[str, ...], config: Any) -> None:
        self.fn = fn
        self.nodes = nodes
        self.config = config

    def __call__(self, node: str, *rest: Any) -> Any:
        return self.fn(node, self.nodes, self.config, *rest)


# --- running ----------------------------------------------------------------------------------


@dataclass
class Executed:
    """A finished run before checking: what it left, and the (closed) session it ran in."""

    collected: Collected
    session: Session
    started: float
    """``time.monotonic()`` when the cluster was up: where the time limit counts from."""


def execute(sc: Scenario, launcher: Launcher, *, progress: Progress | None = None,
            export_dir: Path | None = None) -> Executed:
    """Run ``sc`` (already :func:`~scenarios.spec.for_engine`-ed) on ``launcher``'s engine.

    Full garbage collections wait for the whole run, set-up and collection included, not only
    the engine's loop: a full pass that started while the cluster was being built walked the
    previous run's trace and history too, which a caller running many runs (explore, a sweep,
    a benchmark) still holds at that moment -- 140-270 ms each, a third of a checked 30-s run.
    """
    with few_full_collections():
        return _execute(sc, launcher, progress, export_dir)


def _execute(sc: Scenario, launcher: Launcher, progress: Progress | None, export_dir: Path | None) -> Executed:
    system = get_system(sc.system)
    spec, config = cluster_spec(sc, real_time=launcher.real_time)
    with launcher.open(spec) as session:
        t0 = time.monotonic()
        faults = install(list(sc.faults), session.engine)
        session.run(sc.duration_ms, deadline=t0 + 0.8 * sc.time_limit_s, progress=progress)
        faults.stopped = True
        if system.settle_ms:
            session.settle(faults.heal_all, system.settle_ms, deadline=t0 + 0.95 * sc.time_limit_s)
        view = session.final_view()
        if system.final_records is not None:
            system.final_records(view)
        exported: Mapping[str, Any] = {}
        if export_dir is not None and system.export is not None:
            exported = system.export(view, config, export_dir, RunInfo(sc.name, sc.seed, launcher.name))
        collected = session.collect()
    collected.stats.update(exported)
    return Executed(collected, session, t0)


def run_scenario(
    sc: Scenario,
    launcher: Launcher | None = None,
    *,
    progress: Progress | None = None,
    trace_messages: bool = True,
    export_dir: Path | None = None,
) -> RunOutcome:
    """Run, then check.  ``launcher`` defaults to the simulator (``trace_messages=False``
    leaves its wire records out); ``export_dir`` is where a system may export something a
    later command reads (the pipeline's vector store for ``splitbrain query``)."""
    if launcher is None:
        launcher = SimLauncher(trace_messages=trace_messages)
    elif not trace_messages:
        raise ValueError("trace_messages is a simulator option: give it to SimLauncher")
    sc = for_engine(sc, launcher.name)
    done = execute(sc, launcher, progress=progress, export_dir=export_dir)
    got = done.collected
    remaining = max(_MIN_CHECK_S, sc.time_limit_s - (time.monotonic() - done.started))
    t_check = time.monotonic()
    with few_full_collections():
        history = History.from_events(got.events, source="history.jsonl")
        results = check_run(sc, history, got.trace, timeout_s=remaining)
        stats = got.stats
        picked = coverage_records(got.trace)
        stats.update(_stats(history, picked))
        coverage = fault_coverage(history, got.trace, picked)
    cut = time_limit_result(sc, stats)
    if cut is not None:
        results.append(cut)
    stats["check_s"] = round(time.monotonic() - t_check, 3)
    return RunOutcome(sc, got.events, got.trace, results, overall(results), stats, coverage)


_MIN_CHECK_S = 0.5
"""The checkers always get this long, even when the run used up its limit: without a
check there is no verdict at all (a slow checker then answers ``unknown`` itself)."""

TIME_LIMIT = "time-limit"
"""The name of the result that marks a run its time limit cut short."""


def time_limit_result(sc: Scenario, stats: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ``unknown`` result of a run its wall-clock limit stopped early, or None."""
    if not stats.get("stopped_by_time_limit"):
        return None
    ran = int(stats.get("simulated_ms") or 0)
    clock = "simulated" if stats.get("engine", "sim") == "sim" else "of real time"
    return {
        "checker": TIME_LIMIT,
        "verdict": "unknown",
        "explanation": [
            f"The wall-clock time limit ({sc.time_limit_s:g} s) stopped the run after {ran} of its "
            f"{sc.duration_ms} ms {clock}. The history was checked as far as it got, and a check that "
            "passes over part of a run proves nothing about the rest, so the run is not valid. "
            "Give it more time with --time-limit (or time_limit_s in the scenario)."
        ],
        "stats": {"ran_ms": ran, "duration_ms": sc.duration_ms, "time_limit_s": sc.time_limit_s},
    }


def simulate(sc: Scenario, *, progress: Progress | None = None,
             trace_messages: bool = True) -> tuple[Simulation, dict[str, Any]]:
    """Run ``sc`` in the simulator without checking: the simulation itself and its stats
    (``replay`` compares its history with a saved one; tests read its internals)."""
    done = execute(sc, SimLauncher(trace_messages=trace_messages), progress=progress)
    session = done.session
    assert isinstance(session, SimSession)
    return session.sim, done.collected.stats


def check_run(sc: Scenario, events: History | list[Event], trace: list[dict[str, Any]],
              timeout_s: float) -> list[dict[str, Any]]:
    """Run the scenario's checkers on a history (or its events, paired here) and a trace."""
    history = events if isinstance(events, History) else History.from_events(events, source="history.jsonl")
    results = []
    for name in sc.checkers:
        r = get_checker(name)(sc, history, trace, timeout_s)
        if r.get("verdict") not in VERDICTS:
            raise ValueError(f"checker {name!r} returned verdict {r.get('verdict')!r}; "
                             f"a checker answers one of {', '.join(VERDICTS)}")
        r["anomaly_tags"] = check_tags(name, r.get("anomaly_tags", []))
        results.append(r)
    return results


def _stats(history: History, trace: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's counts: operations by outcome, leader changes, elections and faults.  It reads
    only ``role``, ``election`` and ``fault-start`` records, so ``trace`` may be the whole trace
    or any part of it that keeps those (such as :func:`~scenarios.coverage.coverage_records`)."""
    counts = history.counts()
    leaders = 0
    elections = 0
    faults = []
    for r in trace:
        kind = r.get("kind")
        if kind == K.ROLE:
            if r.get("role") == "leader":
                leaders += 1
        elif kind == K.ELECTION:
            elections += 1
        elif kind == K.FAULT_START:
            faults.append(r.get("description", r.get("fault")))
    return {
        "operations": len(history.operations),
        "ok": counts["ok"],
        "fail": counts["fail"],
        "info": counts["info"],
        "leader_changes": leaders,
        "elections": elections,
        "faults_applied": len(faults),
        "fault_descriptions": faults[:50],
    }
