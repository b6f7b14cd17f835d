"""The event-log lessons on the real engine: Ray actors and a private Tansu broker (marked
``ray`` and ``broker``; about a minute per run).

Each flawed scenario must be judged invalid for the reason its lesson names, and its
correct twin valid, under the same faults (the scenarios' ``[ray]`` tables stretch their
timings to real time).  Measured at seeds 1-3: the same verdicts every time
(docs/eventlog.md, "On the real engine").
"""

from __future__ import annotations

from typing import Any

import pytest

from scenarios.spec import load

pytestmark = [pytest.mark.ray, pytest.mark.broker, pytest.mark.usefixtures("ray_local")]


def _run(name: str, tansu: Any) -> Any:
    from cluster.runtime.launch import RayLauncher, RayOptions
    from scenarios.runner import run_scenario

    return run_scenario(load(name), RayLauncher(RayOptions(kafka_bootstrap=tansu.bootstrap)))


def _by(out: Any) -> dict[str, dict[str, Any]]:
    return {r["checker"]: r for r in out.results}


def _found(result: dict[str, Any]) -> set[str]:
    return set(result.get("anomalies", {})) | set(result.get("violation_counts", {}))


@pytest.mark.parametrize(("name", "checker", "anomaly"), [
    ("kafka-commit-before-process", "kafka", "lost-write"),
    ("kafka-producer-retry-duplicates", "kafka", "duplicate"),
    ("poison-message-no-dlq", "liveness", "no-stuck-partition"),
])
def test_event_log_pair_on_tansu(tansu: Any, name: str, checker: str, anomaly: str) -> None:
    flawed = _run(name, tansu)
    assert flawed.verdict == "invalid", [(r["checker"], r["explanation"][:2]) for r in flawed.results]
    assert anomaly in _found(_by(flawed)[checker]), _by(flawed)[checker]["explanation"][:3]
    correct = _run(f"{name}-correct", tansu)
    assert correct.verdict == "valid", [(r["checker"], r["explanation"][:2]) for r in correct.results]
    assert correct.stats["broker"]["kind"] == "kafka"
