"""Every fault model, applied by the real simulator to a real Raft cluster, does what it says."""

from __future__ import annotations

from typing import Any

import pytest

from faults.registry import known
from scenarios.runner import simulate
from scenarios.spec import from_dict

BASE: dict[str, Any] = {
    "name": "fault-probe",
    "summary": "one fault on a healthy cluster",
    "nodes": 5,
    "clients": 3,
    "duration_ms": 3000,
    "seed": 5,
    "checkers": [],
}

CASES: dict[str, tuple[dict[str, Any], Any]] = {
    "partition": ({"fault": "partition", "kind": "isolate", "target": "n1"},
                  lambda tr: any(r["kind"] == "drop" and r.get("reason") == "cut" and "n1" in (r.get("src"), r.get("dst"))
                                 for r in tr if 500 <= r["t"] <= 1500)),
    "crash": ({"fault": "crash", "node": "n2"},
              lambda tr: [r["t"] for r in tr if r["kind"] in ("crash", "restart") and r.get("node") == "n2"] == [500, 1500]),
    "crash-restart-loop": ({"fault": "crash-restart-loop", "node": "n3", "down_ms": 100, "up_ms": 200},
                           lambda tr: sum(1 for r in tr if r["kind"] == "crash" and r.get("node") == "n3") >= 3),
    "pause": ({"fault": "pause", "node": "n4"},
              lambda tr: [r["t"] for r in tr if r["kind"] in ("pause", "resume") and r.get("node") == "n4"] == [500, 1500]),
    "clock-skew": ({"fault": "clock-skew", "node": "n5", "offset_ms": 5000, "rate": 1.0},
                   lambda tr: any(r["kind"] == "clock" and r.get("node") == "n5" and r.get("offset_ms") == 5000 for r in tr)),
    "clock-strobe": ({"fault": "clock-strobe", "node": "n1", "delta_ms": 400, "period_ms": 100},
                     lambda tr: sum(1 for r in tr if r["kind"] == "clock" and r.get("node") == "n1") >= 5),
    "link": ({"fault": "link", "src": "*", "dst": "*", "loss": 0.5},
             lambda tr: any(r["kind"] == "drop" and r.get("reason") == "loss" for r in tr if 500 <= r["t"] <= 1500)),
}


def test_every_registered_fault_has_a_case() -> None:
    assert sorted(CASES) == sorted(known())


@pytest.mark.parametrize("name", sorted(CASES))
def test_fault_in_simulator(name: str) -> None:
    spec, effect = CASES[name]
    sc = from_dict({**BASE, "faults": [{"at": 500, "duration": 1000, "fault": spec}]})
    sim, _ = simulate(sc, trace_messages=True)
    tr = sim.trace
    starts = [r for r in tr if r["kind"] == "fault-start"]
    ends = [r for r in tr if r["kind"] == "fault-end"]
    assert len(starts) == 1 and starts[0]["t"] == 500, starts
    assert len(ends) == 1 and ends[0]["t"] == 1500, ends
    assert starts[0]["description"]
    assert effect(tr), f"{name}: effect not visible in the trace"
    # after healing, the cluster works again: some operation completes ok after the window
    assert any(e.type == "ok" and e.time is not None and e.time // 1_000_000 > 1600 for e in sim.history)
