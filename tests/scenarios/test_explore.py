"""``explore`` draws operations as well as faults, and shrinks a failure to a handful of them.

Every exploration here has a budget in runs (and seconds to spare), so it is the same on
any machine: hypothesis's own randomness is fixed by ``seed``, the simulator by the drawn
seed.  The bounds are what the issue asks of a shrunk run: at most about ten operations
and one or two faults.
"""

from __future__ import annotations

import json
import multiprocessing
import tomllib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings

from analysis.records import history_jsonl, open_text
from scenarios.explore import explore, materialize, runs
from scenarios.runner import run_scenario
from scenarios.spec import from_dict, load
from scenarios.systems import get_system
from splitbrain.cli import main

GENEROUS_S = 600.0  # never the limit: the run counts are


def _explore_fresh(name: str) -> Any:
    return explore(load(name), budget_s=GENEROUS_S, shrink_budget_s=GENEROUS_S, seed=0, max_runs=300,
                   max_shrink_runs=200)


@pytest.mark.parametrize(("name", "checker"), [
    ("raft-ack-before-commit", "linearizability"),
    ("duplicate-charge-on-retry", "idempotency"),
    ("raft-follower-reads", "linearizability"),
])
def test_explore_finds_and_shrinks_to_a_handful(name: str, checker: str) -> None:
    # In a fresh interpreter, as `splitbrain explore` runs: what earlier tests registered in
    # this process (plugin faults, systems, scenarios) stays out of the search.
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        res = pool.submit(_explore_fresh, name).result()
    assert res.found and res.drew_workload
    assert res.failing_checker == checker
    assert res.first_size is not None and res.minimal_size is not None and res.minimal is not None
    size = res.minimal_size
    assert size.operations <= 4 and size.faults <= 2 and size.fault_entries <= 2
    assert size.simulated_ms <= res.first_size.simulated_ms
    assert size.operations <= res.first_size.operations
    # the minimal run is a scenario with an explicit script, and it replays exactly
    script = res.minimal.workload["script"]
    assert len(script) >= size.operations
    again = run_scenario(res.minimal, trace_messages=False)
    assert res.outcome is not None
    assert history_jsonl(again.events) == history_jsonl(res.outcome.events)
    assert any(r["checker"] == checker and r["verdict"] == "invalid" for r in again.results)


def test_the_same_seed_explores_the_same_runs() -> None:
    sc = load("duplicate-charge-on-retry")
    a = explore(sc, budget_s=GENEROUS_S, seed=3, max_runs=60, max_shrink_runs=40)
    b = explore(sc, budget_s=GENEROUS_S, seed=3, max_runs=60, max_shrink_runs=40)
    assert a.runs == b.runs and a.found == b.found
    assert a.minimal == b.minimal


def test_the_correct_design_survives_drawn_runs() -> None:
    res = explore(load("raft-leader-partition"), budget_s=GENEROUS_S, seed=0, max_runs=30, fallback=False)
    assert not res.found and res.runs == 30 and res.minimal is None


SPLIT_BRAIN = load("raft-split-brain-reads")


@settings(max_examples=25, deadline=None, database=None)
@given(runs(SPLIT_BRAIN))
def test_a_drawn_run_is_the_scenario_that_runs(drawn: dict[str, Any]) -> None:
    sc = SPLIT_BRAIN
    m = materialize(sc, drawn)
    assert m.seed == drawn["seed"]
    busy = [ops for ops in drawn["clients"] if ops]
    assert m.clients == max(1, len(busy))
    script = m.workload["script"]
    assert len(script) == sum(map(len, busy))
    assert [e["at"] for e in script] == sorted(e["at"] for e in script)
    written = [e["value"] if e["f"] == "put" else e["value"][1] for e in script if e["f"] in ("put", "cas")]
    assert written == list(range(1, len(written) + 1)), "written values are numbered 1, 2, 3 in due order"
    kept = [f for f, k in zip(sc.faults, drawn["keep"], strict=True) if k]
    assert list(m.faults) == kept + drawn["faults"]
    assert from_dict(m.to_dict()) == m


POISON = load("poison-message-no-dlq-correct")


@settings(max_examples=40, deadline=None, database=None)
@given(runs(POISON, draw_workload=False))
def test_drawn_timed_faults_leave_a_liveness_system_its_settle_window(drawn: dict[str, Any]) -> None:
    """A timed fault that ran into the last settle_ms left every liveness question of the run
    unjudged, so explore could not find a stuck partition there."""
    settle = get_system(POISON.system).settle_ms
    assert settle > 0
    for f in drawn["faults"]:
        if "at" in f:
            assert f["at"] + f["duration"] <= POISON.duration_ms - settle - 400, f


@settings(max_examples=40, deadline=None, database=None)
@given(runs(SPLIT_BRAIN))
def test_a_system_without_liveness_checks_draws_faults_up_to_the_end(drawn: dict[str, Any]) -> None:
    for f in drawn["faults"]:
        if "at" in f:
            assert f["at"] <= SPLIT_BRAIN.duration_ms - 500 and 100 <= f["duration"] <= 4000, f


def test_over_the_scenario_s_own_workload_the_operations_shrink_too() -> None:
    sc = load("pipeline-stale-version-overwrite")
    res = explore(sc, budget_s=GENEROUS_S, shrink_budget_s=GENEROUS_S, seed=0, draw_workload=False,
                  max_runs=60, max_shrink_runs=200)
    assert res.found and not res.drew_workload and res.found_by == "the scenario's own workload"
    assert res.first is not None and "script" not in res.first.workload
    assert res.first_size is not None and res.first_size.operations > 30
    # the failing run became a script of the operations it invoked, and most of them went
    assert res.minimal is not None and res.minimal_size is not None
    assert "script" in res.minimal.workload
    assert res.minimal_size.operations <= 10


def test_cli_explore_saves_a_minimal_toml_that_replays_byte_for_byte(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["explore", "consumer-crash-before-ack", "--max-runs", "100", "--max-shrink-runs", "60",
                 "--budget", "10m", "--shrink-budget", "10m", "--store", str(tmp_path / "a"), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1 and data["found"]
    saved = Path(data["scenario_file"])
    assert saved.name == "minimal.toml"
    raw = tomllib.loads(saved.read_text())
    assert raw["name"] == "consumer-crash-before-ack-minimal" and raw["workload"]["script"]
    assert data["after"]["operations"] <= data["before"]["operations"]
    assert data["after"]["operations"] <= 3 and data["after"]["faults"] <= 2
    assert main(["run", str(saved), "--store", str(tmp_path / "b"), "-q"]) == 1
    capsys.readouterr()
    first, again = Path(data["dir"]), (tmp_path / "b" / "latest").resolve()
    for f in ("history.jsonl", "trace.jsonl", "results.json"):
        with open_text(first / f) as a, open_text(again / f) as b:
            assert a.read() == b.read(), f


def test_cli_explore_names_a_bad_run_budget(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explore", "raft-vote-twice", "--max-runs", "0"]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["splitbrain: error: --max-runs must be at least 1, got 0"]
