"""An explicit script on the real engine: operations start at their due ms of the run's clock."""

from __future__ import annotations

import pytest

from scenarios.script import ScriptOp, script_entries
from scenarios.spec import Scenario

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("ray_local")]


def test_a_script_runs_in_order_at_its_due_times_on_ray() -> None:
    from cluster.runtime.launch import RayLauncher
    from scenarios.runner import run_scenario

    ops = [ScriptOp(1500, 0, "put", "k1", 1), ScriptOp(1500, 0, "get", "k1"), ScriptOp(2200, 1, "get", "k1"),
           ScriptOp(2600, 1, "cas", "k1", (1, 2)), ScriptOp(3000, 0, "get", "k1")]
    sc = Scenario(name="ray-script", summary="a script on ray", system="raft-kv", engines=("ray",), nodes=3,
                  clients=2, duration_ms=4500, time_limit_s=60.0, seed=1,
                  config={"election_timeout_ms": [300, 600], "heartbeat_ms": 50}, client={"timeout_ms": 1000},
                  workload={"script": script_entries(ops)})
    out = run_scenario(sc, RayLauncher())
    invokes = [e for e in out.events if e.type == "invoke"]
    assert [(e.process, e.f, e.key, e.value) for e in invokes] == [
        (0, "put", "k1", 1), (0, "get", "k1", None), (1, "get", "k1", None), (1, "cas", "k1", [1, 2]),
        (0, "get", "k1", None)]
    due = [1500, 1500, 2200, 2600, 3000]
    assert all(e.time is not None and e.time >= at * 1_000_000 for e, at in zip(invokes, due, strict=True)), \
        "no operation starts before its due time"
    put_done = next(e for e in out.events if e.type != "invoke" and e.f == "put")
    assert invokes[1].time is not None and put_done.time is not None and invokes[1].time >= put_done.time, \
        "a client's next operation waits for its previous one"
    assert out.verdict == "valid", out.results
