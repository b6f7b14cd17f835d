"""``splitbrain explore``: let hypothesis search fault schedules and shrink a failure.

Hypothesis generates a seed and a fault schedule (timed faults and protocol-triggered
faults) on top of the scenario's workload, the simulator runs it, the checkers judge it.
On the first violation hypothesis *shrinks*: fewer faults, earlier, shorter, smaller seeds,
until no simpler schedule still fails.  The result is saved as a scenario file plus seed,
so the minimal failing run replays exactly with ``splitbrain run FILE``.

Why hypothesis rather than plain random search: the shrinker.  A random failing schedule
with nine faults teaches little; the same bug with one "isolate the leader right after it
is elected" teaches the lesson.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, find, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

from scenarios.runner import RunOutcome, run_scenario
from scenarios.spec import Scenario
from scenarios.systems import get_system


class _BudgetSpent(Exception):
    pass


@dataclass
class ExploreResult:
    scenario: Scenario
    found: bool
    runs: int
    elapsed_s: float
    minimal: Scenario | None = None
    outcome: RunOutcome | None = None
    shrink_runs: int = 0
    first_found_s: float | None = None
    quiet_runs: int = 0  # runs in which no fault overlapped any operation
    notes: list[str] = field(default_factory=list)


def schedules(sc: Scenario) -> st.SearchStrategy[dict[str, Any]]:
    """Seeds and fault schedules for a scenario (shrinks toward fewer, earlier, shorter faults)."""
    system = get_system(sc.system)
    menu = list(system.fault_menu)
    horizon = max(sc.duration_ms - 500, 1000)
    timed = st.builds(
        lambda at, dur, f: {"at": at, "duration": dur, "fault": dict(menu[f])},
        st.integers(0, horizon // 100).map(lambda x: x * 100),
        st.integers(1, 40).map(lambda x: x * 100),
        st.integers(0, len(menu) - 1),
    )
    items: st.SearchStrategy[dict[str, Any]] = timed
    if system.triggers:
        triggered = st.builds(
            lambda on, dur, f, delay: {"on": on, "duration": dur, "delay": delay, "fault": dict(menu[f])},
            st.sampled_from(system.triggers),
            st.integers(1, 40).map(lambda x: x * 100),
            st.integers(0, len(menu) - 1),
            st.integers(0, 10).map(lambda x: x * 50),
        )
        items = st.one_of(timed, triggered)
    return st.fixed_dictionaries(
        {
            "seed": st.integers(0, 10_000),
            "faults": st.lists(items, min_size=0, max_size=6),
            # shrinks towards False: keep the scenario's own faults, add as few as possible
            "drop_scenario_faults": st.booleans(),
        }
    )


def _materialize(sc: Scenario, ex: dict[str, Any]) -> Scenario:
    faults = tuple(ex["faults"])
    if not ex["drop_scenario_faults"]:
        faults = tuple(sc.faults) + faults
    return sc.with_overrides(seed=ex["seed"], faults=faults)


def explore(
    sc: Scenario,
    *,
    budget_s: float = 60.0,
    seed: int = 0,
    on_run: Callable[[int, float, bool], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ExploreResult:
    """Search for a violating schedule within ``budget_s``; shrink it if found.

    ``should_stop`` is asked before every run: True ends the search as if the budget were
    spent (a parallel search stops its other shards this way once one has found a
    failure; see :mod:`scenarios.explore_shards`)."""
    t0 = time.monotonic()
    deadline = t0 + budget_s
    res = ExploreResult(sc, False, 0, 0.0)
    best: dict[str, Any] = {}

    def condition(ex: dict[str, Any]) -> bool:
        if time.monotonic() > deadline or (should_stop is not None and should_stop()):
            raise _BudgetSpent()
        cand = _materialize(sc, ex)
        # every run gets a share of the budget so one slow run cannot eat it all
        remaining = max(1.0, deadline - time.monotonic())
        cand = cand.with_overrides(time_limit_s=min(cand.time_limit_s, remaining))
        out = run_scenario(cand, trace_messages=False)
        res.runs += 1
        if res.first_found_s is not None:
            res.shrink_runs += 1
        bad = out.verdict == "invalid"
        if on_run:
            on_run(res.runs, time.monotonic() - t0, bad)
        if bad:
            if res.first_found_s is None:
                res.first_found_s = time.monotonic() - t0
            best["scenario"], best["outcome"] = cand, out
        return bad

    cfg = settings(
        max_examples=100_000,
        deadline=None,
        database=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    try:
        find(schedules(sc), condition, settings=cfg, random=random.Random(seed))
    except (_BudgetSpent, NoSuchExample):
        pass
    res.elapsed_s = time.monotonic() - t0
    if best:
        res.found = True
        res.minimal = best["scenario"].with_overrides(time_limit_s=sc.time_limit_s)
        res.outcome = best["outcome"]
    return res
