"""The ``random`` fault mix leaves a liveness-judging system the quiet tail its checkers need.

Without it, a liveness flaw (a partition stuck behind a poison event) went unjudged whenever
a random fault fell into the run's last seconds, and the flawed design "passed".
"""

from __future__ import annotations

from analysis.faultwindows import fault_windows
from analysis.idempotency import settle_window
from scenarios.fault_mixes import with_fault_mix
from scenarios.runner import RunOutcome, run_scenario, simulate
from scenarios.spec import catalog
from scenarios.systems import get_system

CATALOG = catalog()


def _mix_item(name: str) -> dict[str, object]:
    sc = with_fault_mix(CATALOG[name], "random")
    assert len(sc.faults) == len(CATALOG[name].faults) + 1
    return dict(sc.faults[-1])


def test_the_mix_stops_before_the_systems_settle_window() -> None:
    sc = CATALOG["poison-message-no-dlq"]
    settle = get_system(sc.system).settle_ms
    assert settle > 0
    assert _mix_item(sc.name)["stop"] == sc.duration_ms - 500 - settle


def test_a_system_without_liveness_checks_keeps_the_short_tail() -> None:
    sc = CATALOG["raft-leader-partition"]
    assert get_system(sc.system).settle_ms == 0
    assert _mix_item(sc.name)["stop"] == sc.duration_ms - 500


def test_a_run_with_the_mix_ends_quiet_enough_to_judge_liveness() -> None:
    """Seed 2 drew a fault into the last 4 s when the tail was 500 ms: nothing was judged."""
    sc = with_fault_mix(CATALOG["poison-message-no-dlq"], "random").with_overrides(seed=2)
    sim, _ = simulate(sc)
    trace = list(sim.trace)
    mixed = [w for w in fault_windows(trace) if "'effect' event" not in w["description"]]
    assert mixed, "the mix added no fault: the test would prove nothing"
    assert max(w["end"] for w in mixed) <= sc.duration_ms - 500 - get_system(sc.system).settle_ms
    _, quiet = settle_window(trace)
    assert quiet


def _mixed(name: str, seed: int) -> RunOutcome:
    return run_scenario(with_fault_mix(CATALOG[name], "random").with_overrides(seed=seed), trace_messages=False)


def test_poison_flaw_is_caught_under_random_faults_at_most_seeds() -> None:
    """With a 500 ms tail it was caught at 5 of seeds 1-20; the stuck partition is what is named."""
    caught = []
    for seed in range(1, 21):
        out = _mixed("poison-message-no-dlq", seed)
        live = next(r for r in out.results if r["checker"] == "liveness")
        if live["verdict"] == "invalid":
            assert "stuck behind offset" in " ".join(live["explanation"]), seed
            caught.append(seed)
    assert len(caught) >= 16, f"caught at {caught} only"


def test_poison_correct_twin_stays_valid_under_random_faults() -> None:
    for seed in range(1, 21):
        out = _mixed("poison-message-no-dlq-correct", seed)
        assert out.verdict == "valid", (seed, [r["explanation"][:2] for r in out.results])
        live = next(r for r in out.results if r["checker"] == "liveness")
        assert live["stats"]["quiet"] and not live["unsettled"], f"seed {seed}: liveness was not judged"
