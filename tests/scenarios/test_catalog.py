"""The scenario catalog: every flawed scenario is caught at its seed, every correct one passes."""

from __future__ import annotations

import os

import pytest

from analysis.records import dumps_record, history_records
from scenarios.runner import run_scenario, simulate
from scenarios.spec import catalog

CATALOG = catalog()
FLAWED = sorted(n for n, s in CATALOG.items() if s.flaws)
CORRECT = sorted(n for n, s in CATALOG.items() if not s.flaws)


def test_catalog_is_big_enough_and_every_flaw_has_a_twin() -> None:
    assert len(CATALOG) >= 12
    for name in FLAWED:
        sc = CATALOG[name]
        assert sc.expect == "invalid", name
        assert sc.twin in CATALOG, f"{name} has no correct twin"
        twin = CATALOG[sc.twin]
        assert not twin.flaws and twin.expect == "valid"
        assert twin.system == sc.system
        assert sc.description and sc.teaches and sc.predict, name
    for name in CORRECT:
        assert CATALOG[name].expect == "valid"


@pytest.mark.parametrize("name", FLAWED)
def test_flawed_scenario_is_caught_at_its_seed(name: str) -> None:
    out = run_scenario(CATALOG[name], trace_messages=False)
    assert out.verdict == "invalid", f"{name} seed {CATALOG[name].seed}: {out.results}"
    bad = [r for r in out.results if r["verdict"] == "invalid"]
    assert bad and all(r["explanation"] for r in bad)


@pytest.mark.parametrize("name", CORRECT)
def test_correct_scenario_passes_at_its_seed(name: str) -> None:
    out = run_scenario(CATALOG[name], trace_messages=False)
    assert out.verdict == "valid", f"{name}: {[r['explanation'] for r in out.results]}"


SWEEP = int(os.environ.get("SPLITBRAIN_SWEEP", "8"))
# Random faults added on top of each correct scenario's own schedule.  Clock faults are left
# out: a clock stepped backwards stretches a lease by design (see raft-lease-skew-correct).
RANDOM_FAULTS = {"random": 0.5, "mean_duration": 600, "max_concurrent": 2, "start": 200,
                 "kinds": ["partition:halves", "partition:isolate", "partition:majorities-ring", "crash", "pause", "link"]}


@pytest.mark.parametrize("name", CORRECT)
def test_correct_scenario_passes_seeded_sweep(name: str) -> None:
    """A short sweep in every run; SPLITBRAIN_SWEEP=200 gives the full one."""
    sc = CATALOG[name]
    sc = sc.with_overrides(faults=(*sc.faults, {**RANDOM_FAULTS, "stop": sc.duration_ms - 500}))
    for seed in range(100, 100 + SWEEP):
        out = run_scenario(sc.with_overrides(seed=seed), trace_messages=False)
        assert out.verdict == "valid", f"{name} seed {seed}: {[r['explanation'][:2] for r in out.results]}"


@pytest.mark.parametrize("name", ["raft-healthy-random", "quorum-majority", "raft-figure8"])
def test_same_seed_same_bytes(name: str) -> None:
    sc = CATALOG[name]
    runs = []
    for _ in range(2):
        sim, _ = simulate(sc)
        hist = "".join(dumps_record(r) + "\n" for r in history_records(sim.history))
        trace = "".join(dumps_record(r) + "\n" for r in sim.trace)
        runs.append((hist, trace))
    assert runs[0] == runs[1]
    other, _ = simulate(sc.with_overrides(seed=sc.seed + 1))
    assert "".join(dumps_record(r) + "\n" for r in history_records(other.history)) != runs[0][0]
