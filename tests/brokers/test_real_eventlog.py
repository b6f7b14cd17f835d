"""The event-log lessons on the real engine: Ray actors and a private Tansu broker (marked
``ray`` and ``broker``; about a minute per run).

Each flawed scenario must be judged invalid for the reason its lesson names, and its
correct twin valid, under the same faults (the scenarios' ``[ray]`` tables stretch their
timings to real time).  Each pair runs at its catalog seed; ``SPLITBRAIN_RAY_SEEDS=1,2,3``
runs it at those seeds instead (docs/eventlog.md, "On the real engine", gives the verdicts
measured that way).
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from scenarios.spec import load

pytestmark = [pytest.mark.ray, pytest.mark.broker, pytest.mark.usefixtures("ray_local")]


SEEDS: list[int | None] = [int(s) for s in os.environ.get("SPLITBRAIN_RAY_SEEDS", "").split(",") if s.strip()] or [None]
"""Seeds to run each pair at (``None``: the scenario's own)."""


FLAW_TRIES = 3
"""On real processes a flaw bites when the timing lets it (its detection rate is measured in
the simulator and by bench/verdicts.py), so a flawed twin is run at up to this many seeds and
one run must catch it.  A correct twin gets no such slack: its run must be valid."""


def _run(name: str, tansu: Any, seed: int | None) -> Any:
    from cluster.runtime.launch import RayLauncher, RayOptions
    from scenarios.runner import run_scenario

    sc = load(name) if seed is None else load(name).with_overrides(seed=seed)
    return run_scenario(sc, RayLauncher(RayOptions(kafka_bootstrap=tansu.bootstrap)))


def _caught(name: str, tansu: Any, seed: int | None) -> Any:
    """The first of up to :data:`FLAW_TRIES` runs (seed, seed + 1, ...) that is invalid, or the last."""
    first = load(name).seed if seed is None else seed
    for k in range(FLAW_TRIES):
        out = _run(name, tansu, first + k)
        if out.verdict == "invalid":
            break
    return out


def _by(out: Any) -> dict[str, dict[str, Any]]:
    return {r["checker"]: r for r in out.results}


def _found(result: dict[str, Any]) -> set[str]:
    return set(result.get("anomalies", {})) | set(result.get("violation_counts", {}))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("name", "anomaly"), [
    ("kafka-commit-before-process", "lost-message"),
    ("kafka-producer-retry-duplicates", "duplicate-effect"),
    ("poison-message-no-dlq", "stuck-partition"),
])
def test_event_log_pair_on_tansu(tansu: Any, name: str, anomaly: str, seed: int | None) -> None:
    """The flawed twin is caught for its lesson's reason -- the anomaly its question's answer
    names, whichever checker finds it -- and the correct twin is valid."""
    from analysis.anomalies import tags_of

    flawed = _caught(name, tansu, seed)
    explained = [(r["checker"], r["verdict"], r["explanation"][:2]) for r in flawed.results]
    assert flawed.verdict == "invalid", explained
    assert anomaly in tags_of(flawed.results), explained
    assert load(name).question["answer"] == f"invalid:{anomaly}"
    correct = _run(f"{name}-correct", tansu, seed)
    assert correct.verdict == "valid", [(r["checker"], r["explanation"][:2]) for r in correct.results]
    assert correct.stats["broker"]["kind"] == "kafka"
