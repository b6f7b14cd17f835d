"""Clock skew changes what lease reads return, on real Ray processes (marked ``ray``).

The catalog pair raft-lease-skew-real / -correct runs with real time: every new leader's
clock runs at half speed and the leader is isolated.  With the flaw the old leader keeps
serving lease reads after the majority elected someone else and wrote; with the correct
lease (shortened by the drift bound) it stops in time.
"""

from __future__ import annotations

import pytest

from scenarios.spec import load

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("ray_local")]


def _lease_reads_by_old_leader(trace: list[dict[str, object]]) -> int:
    return sum(1 for r in trace if r.get("kind") == "read" and r.get("mode") == "lease")


def test_skewed_lease_serves_stale_reads_and_the_correct_lease_does_not() -> None:
    from cluster.runtime.launch import RayLauncher
    from scenarios.runner import run_scenario

    correct = run_scenario(load("raft-lease-skew-real-correct"), RayLauncher())
    assert correct.verdict == "valid", [r["explanation"][:3] for r in correct.results]
    assert _lease_reads_by_old_leader(correct.trace) > 100  # leases were really used
    assert any(r.get("kind") == "clock" or r.get("kind") == "fault-start" and "clock" in str(r.get("description"))
               for r in correct.trace)
    # Real processes are not deterministic: the flawed lease must be caught in most runs.
    verdicts = []
    for seed in (1, 2):
        out = run_scenario(load("raft-lease-skew-real").with_overrides(seed=seed), RayLauncher())
        verdicts.append(out.verdict)
        if out.verdict == "invalid":
            lin = next(r for r in out.results if r["checker"] == "linearizability")
            assert any("lease" in s or "believed it was leader" in s for s in lin["explanation"]), lin["explanation"]
            break
    assert "invalid" in verdicts, verdicts
