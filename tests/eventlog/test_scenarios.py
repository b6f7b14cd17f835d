"""The event-log lessons end to end in the simulator: each flaw caught, each twin valid, and
the history a run writes is the log checker's native format (re-checkable from the file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analysis.history import History
from analysis.log_consumer import check
from analysis.log_history import read_log_history
from analysis.records import history_jsonl
from scenarios.runner import run_scenario
from scenarios.spec import catalog

CATALOG = catalog()
EVENTLOG = {n: s for n, s in CATALOG.items() if s.system == "event-log"}
FLAWED = sorted(n for n, s in EVENTLOG.items() if s.flaws)
TWINS = sorted(n for n, s in EVENTLOG.items() if not s.flaws)

EXPECTED = {
    "kafka-commit-before-process": {"kafka": "lost-write", "delivery": "ack-after-processing",
                                    "liveness": "no-skipped-event"},
    "kafka-producer-retry-duplicates": {"kafka": "duplicate", "idempotency": "at-most-once",
                                        "delivery": "exactly-once"},
    "poison-message-no-dlq": {"liveness": "no-stuck-partition", "delivery": "at-least-once"},
}


@pytest.mark.parametrize("name", FLAWED)
def test_flawed_event_log_scenario_is_invalid_at_seeds_1_to_5(name: str) -> None:
    for seed in range(1, 6):
        out = run_scenario(EVENTLOG[name].with_overrides(seed=seed), trace_messages=False)
        assert out.verdict == "invalid", (seed, [r["explanation"][:2] for r in out.results])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_checker_names_the_anomaly_the_lesson_is_about(name: str) -> None:
    out = run_scenario(EVENTLOG[name], trace_messages=False)
    by = {r["checker"]: r for r in out.results}
    for checker, anomaly in EXPECTED[name].items():
        r = by[checker]
        assert r["verdict"] == "invalid", checker
        found = set(r.get("anomalies", {})) | set(r.get("violation_counts", {}))
        assert anomaly in found, (checker, found)


@pytest.mark.parametrize("name", TWINS)
def test_correct_event_log_scenario_is_valid_at_seeds_1_to_5(name: str) -> None:
    for seed in range(1, 6):
        out = run_scenario(EVENTLOG[name].with_overrides(seed=seed), trace_messages=False)
        assert out.verdict == "valid", (seed, [r["explanation"][:2] for r in out.results])


def test_a_poison_event_is_reported_stuck_behind_its_offset_and_dead_lettered_in_the_twin() -> None:
    bad = run_scenario(EVENTLOG["poison-message-no-dlq"], trace_messages=False)
    live = next(r for r in bad.results if r["checker"] == "liveness")
    assert "is stuck behind offset" in live["explanation"][1] and "failed processing" in live["explanation"][1]
    good = run_scenario(EVENTLOG["poison-message-no-dlq-correct"], trace_messages=False)
    outcomes = next(r for r in good.results if r["checker"] == "liveness")["stats"]["outcomes"]
    assert outcomes["dead-lettered"] == outcomes["parked"] >= 1


def test_the_written_history_carries_groups_and_rebalance_logs_and_rechecks_the_same(tmp_path: Path) -> None:
    out = run_scenario(EVENTLOG["kafka-commit-before-process"], trace_messages=False)
    path = tmp_path / "history.jsonl"
    path.write_text(history_jsonl(out.events))
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert any(r.get("group") == "n3" and r.get("auto_commit") is False for r in lines if r["f"] == "subscribe")
    assert any("rebalance_log" in r for r in lines if r["f"] == "poll")
    from_file = check(read_log_history(path), rebalances_recorded=True)
    in_run = check(History.from_events(out.events), rebalances_recorded=True)
    assert from_file["verdict"] == in_run["verdict"] == "invalid"
    assert from_file["anomalies"].keys() == in_run["anomalies"].keys()
