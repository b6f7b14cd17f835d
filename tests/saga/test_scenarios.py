"""Each flawed saga scenario fails at its seed; each correct twin passes at 20 seeds."""

from __future__ import annotations

import pytest

from scenarios.runner import run_scenario, simulate
from scenarios.spec import catalog

CATALOG = catalog()
SAGA = {n: s for n, s in CATALOG.items() if s.system == "saga"}
FLAWED = sorted(n for n, s in SAGA.items() if s.flaws)
TWINS = sorted(n for n, s in SAGA.items() if not s.flaws)


def test_every_flaw_has_a_scenario_and_every_scenario_a_twin() -> None:
    from cluster.core.saga_config import SagaFlaws

    used = {f for n in FLAWED for f in SAGA[n].flaws}
    assert used == set(SagaFlaws.names())
    assert len(FLAWED) >= 8
    for n in FLAWED:
        assert SAGA[n].twin in TWINS and SAGA[n].expect == "invalid"


@pytest.mark.parametrize("name", FLAWED)
def test_flawed_saga_scenario_is_invalid_at_its_seed(name: str) -> None:
    out = run_scenario(SAGA[name], trace_messages=False)
    assert out.verdict == "invalid", [r["explanation"][:2] for r in out.results]


@pytest.mark.parametrize("name", TWINS)
def test_correct_saga_scenario_is_valid_at_20_seeds(name: str) -> None:
    for seed in range(1, 21):
        out = run_scenario(SAGA[name].with_overrides(seed=seed), trace_messages=False)
        assert out.verdict == "valid", (seed, [r["explanation"][:2] for r in out.results])


def test_same_seed_same_trace() -> None:
    sc = SAGA["outbox-relay-crash"]
    a, _ = simulate(sc)
    b, _ = simulate(sc)
    assert a.trace_jsonl() == b.trace_jsonl() and a.history_jsonl() == b.history_jsonl()


def test_a_saga_service_keeps_working_after_its_clock_is_stepped_back() -> None:
    """Issue 19: ``explore outbox-relay-crash-correct --no-flaws`` found this run.  A +10 s skew
    on the flight service healed, its clock stepped back 10 s, and every timer it ran on that
    clock (consumer heartbeats, relay polls) stopped for 10 s: a saga never ended.  Timers run
    on the monotonic clock now, so the correct design stays valid."""
    sc = SAGA["outbox-relay-crash-correct"]
    skew = {"at": 900, "duration": 4000,
            "fault": {"fault": "clock-skew", "node": "n3", "offset_ms": 10000}}
    out = run_scenario(sc.with_overrides(seed=0, faults=(*sc.faults, skew)), trace_messages=False)
    assert out.verdict == "valid", [r["explanation"][:2] for r in out.results]
    steps = [r for r in out.trace if r["kind"] == "clock" and r["node"] == "n3"]
    assert [r["local_ms"] - r["mono_ms"] for r in steps] == [10_000, 0]
