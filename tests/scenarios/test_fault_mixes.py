"""The ``random`` fault mix leaves a liveness-judging system the quiet tail its checkers need.

Without it, a liveness flaw (a partition stuck behind a poison event) went unjudged whenever
a random fault fell into the run's last seconds, and the flawed design "passed".
"""

from __future__ import annotations

from analysis.faultwindows import fault_windows
from analysis.idempotency import settle_window
from scenarios.fault_mixes import with_fault_mix
from scenarios.runner import run_scenario, simulate
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


def test_poison_flaw_is_caught_under_random_faults_and_its_twin_is_not() -> None:
    """The stuck partition is named at seeds where the short tail hid it (2, 4, 5)."""
    for seed in (2, 4, 5):
        flawed = run_scenario(with_fault_mix(CATALOG["poison-message-no-dlq"], "random").with_overrides(seed=seed),
                              trace_messages=False)
        stuck = [r for r in flawed.results if r["checker"] == "liveness"]
        assert flawed.verdict == "invalid" and stuck and stuck[0]["verdict"] == "invalid", seed
        assert "stuck behind offset" in " ".join(stuck[0]["explanation"])
        twin = run_scenario(with_fault_mix(CATALOG["poison-message-no-dlq-correct"], "random").with_overrides(
            seed=seed), trace_messages=False)
        assert twin.verdict == "valid", (seed, [r["explanation"][:2] for r in twin.results])
