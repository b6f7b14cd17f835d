"""The real runtime end to end: Ray actors, gRPC streams, disks, signals (marked ``ray``).

One local Ray instance is shared by the module (starting Ray costs seconds on two cores);
each test runs a short 3-node scenario through the runner on the Ray engine and reads the
outcome exactly as ``splitbrain run --engine ray`` would.
"""

from __future__ import annotations

from typing import Any

import pytest

from scenarios.spec import Scenario

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("ray_local")]

CONFIG = {"election_timeout_ms": [300, 600], "heartbeat_ms": 50}


def _scenario(**kw: Any) -> Scenario:
    base: dict[str, Any] = dict(
        name="runtime-test", summary="runtime test", system="raft-kv", engines=("ray",),
        nodes=3, clients=3, duration_ms=4000, time_limit_s=60.0, seed=1, config=dict(CONFIG),
        client={"timeout_ms": 1000}, workload={"keys": 2, "read_ratio": 0.5, "cas_ratio": 0.0},
        checkers=("linearizability", "raft-safety"),
    )
    base.update(kw)
    return Scenario(**base)


def _run(sc: Scenario) -> Any:
    from cluster.runtime.launch import RayLauncher
    from scenarios.runner import run_scenario

    return run_scenario(sc, RayLauncher())


def _of(trace: list[dict[str, Any]], kind: str, **where: Any) -> list[dict[str, Any]]:
    return [r for r in trace if r.get("kind") == kind and all(r.get(k) == v for k, v in where.items())]


def test_leader_elected_writes_commit_and_metrics() -> None:
    out = _run(_scenario(duration_ms=3000))
    assert out.verdict == "valid", out.results
    assert _of(out.trace, "role", role="leader")
    assert _of(out.trace, "commit")
    puts = [e for e in out.events if e.type == "ok" and e.f == "put"]
    assert len(puts) > 10
    m = out.stats["metrics"]
    for nid in ("n1", "n2", "n3"):
        assert any(k.startswith("splitbrain_term{") for k in m[nid])
        assert any(k.startswith("splitbrain_messages_sent_total{") for k in m[nid])
        assert m[nid][f'splitbrain_fsyncs_total{{node="{nid}"}}'] > 0
        assert abs(m[nid][f'splitbrain_clock_offset_seconds{{node="{nid}"}}']) < 1.0
        assert m["driver"][f'splitbrain_node_up{{node="{nid}"}}'] == 1.0
    assert any(k.startswith("splitbrain_client_op_latency_seconds_bucket") for k in m["clients"])
    assert all(60 < mb < 400 for mb in out.stats["rss_mb"].values())


def test_leader_crash_new_leader_no_acked_write_lost_and_restart_from_disk() -> None:
    sc = _scenario(duration_ms=5500, faults=(
        {"at": 1500, "duration": 2000, "fault": {"fault": "crash", "node": "leader"}},
    ))
    out = _run(sc)
    crash = _of(out.trace, "crash")
    assert len(crash) == 1
    victim, t_crash = crash[0]["node"], crash[0]["t"]
    assert _of(out.trace, "restart", node=victim)
    new_leaders = [r for r in _of(out.trace, "role", role="leader") if r["t"] > t_crash and r["node"] != victim]
    assert new_leaders, "no new leader after the crash"
    assert any(e.type == "ok" and e.f == "put" and e.time and e.time > new_leaders[0]["t"] * 1_000_000
               for e in out.events)
    lin = [r for r in out.results if r.get("checker", r.get("name")) == "linearizability"]
    assert out.verdict == "valid", out.results
    assert lin
    # the restarted node rebuilt its log from its WAL and caught up with the others
    finals = {r["node"]: r["terms"] for r in _of(out.trace, "final-log")}
    assert victim in finals and len(finals[victim]) > 0
    longest = max(finals.values(), key=len)
    assert finals[victim] == longest[: len(finals[victim])]
    # the killed process's counters are kept from the last scrape before the crash
    dead = out.stats["metrics"].get(f"{victim} (incarnation 0, crashed)")
    assert dead and any(k.startswith("splitbrain_messages_sent_total{") for k in dead)


def test_leader_partition_majority_elects_old_leader_cannot_commit() -> None:
    sc = _scenario(duration_ms=5000, faults=(
        {"at": 1500, "duration": 2500, "fault": {"fault": "partition", "kind": "isolate-leader"}},
    ))
    out = _run(sc)
    start = _of(out.trace, "fault-start")[0]
    end = _of(out.trace, "fault-end")[0]
    old = start["targets"][0]
    during = [r for r in _of(out.trace, "role", role="leader") if start["t"] < r["t"] < end["t"]]
    assert any(r["node"] != old for r in during), "majority side elected no leader"
    before = [r["index"] for r in _of(out.trace, "commit", node=old) if r["t"] <= start["t"]]
    late = [r for r in _of(out.trace, "commit", node=old)
            if start["t"] + 100 < r["t"] < end["t"] and r["index"] > max(before, default=0)]
    assert not late, f"isolated old leader committed {late}"
    assert out.verdict == "valid", out.results


def test_clock_skew_visible_in_status_and_trace() -> None:
    sc = _scenario(duration_ms=2500, config={**CONFIG, "read_mode": "lease"}, faults=(
        {"at": 300, "duration": None, "fault": {"fault": "clock-skew", "node": "n1", "offset_ms": 3000, "rate": 1.0}},
        {"at": 300, "duration": None, "fault": {"fault": "pause", "node": "n3"}},
    ))
    out = _run(sc)
    assert _of(out.trace, "clock", node="n1")
    n1 = out.stats["nodes"]["n1"]
    assert n1["clock_offset_ms"] == 3000.0
    assert 2900 <= n1["local_minus_true_ms"] <= 3100
    assert _of(out.trace, "pause", node="n3") and _of(out.trace, "resume", node="n3")
    assert all("lease_valid" in v for v in out.stats["nodes"].values())
    assert out.verdict in ("valid", "unknown"), out.results


def test_quorum_system_runs() -> None:
    sc = _scenario(system="quorum", duration_ms=2500, config={"r": 2, "w": 2},
                   client={"retry_after_ambiguous": False, "timeout_ms": 1000},
                   workload={"keys": 2, "read_ratio": 0.5, "cas_ratio": 0.0},
                   checkers=("linearizability",))
    out = _run(sc)
    assert out.verdict == "valid", out.results
    assert sum(1 for e in out.events if e.type == "ok") > 10
