"""The simulator with the real fault schedules, and with the real Raft core and client.

These tie the simulator to other packages' current code, so each is kept to a smoke test:
the properties themselves are tested with stand-ins in ``test_world.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from analysis.history import History
from tests.sim import core, make_sim


def test_fault_schedules_drive_the_simulator() -> None:
    install = pytest.importorskip("faults.schedule").install
    sim = make_sim(ping=True)
    install(
        [
            {"at": 100, "duration": 100, "fault": {"fault": "crash", "node": "n2"}},
            {"on": "node-crashed", "delay": 10, "duration": 50, "fault": {"fault": "pause", "node": "n3"}},
        ],
        sim,
    )
    sim.run(400)
    kinds = [(r["t"], r["kind"], r.get("node")) for r in sim.trace
             if r["kind"] in ("crash", "restart", "pause", "resume", "fault-start", "fault-end")]
    assert (100, "crash", "n2") in kinds and (200, "restart", "n2") in kinds
    assert (110, "pause", "n3") in kinds and (160, "resume", "n3") in kinds
    assert [k for _, k, _ in kinds].count("fault-start") == 2
    assert core(sim, "n2").durable == {}


def _raft_sim(seed: int) -> Any:
    systems = pytest.importorskip("scenarios.systems")
    workloads = pytest.importorskip("scenarios.workloads")
    from cluster.sim.world import Simulation

    nodes = systems.node_ids(5)
    config = systems.build_config("raft-kv", {})
    return Simulation(
        seed=seed,
        node_ids=nodes,
        make_core=systems.core_factory("raft-kv", nodes, config, ()),
        make_client=systems.client_factory("raft-kv", nodes, {}),
        workload=workloads.make_workload(workloads.KV_OPS, {}),
        clients=3,
    )


def test_raft_elects_a_leader_and_replays_exactly() -> None:
    a, b = _raft_sim(11), _raft_sim(11)
    for sim in (a, b):
        sim.run(800)
        sim.schedule(sim.now_ms(), lambda s=sim: s.crash(s.leader()))
        sim.run(1200)
    assert a.trace_jsonl() == b.trace_jsonl() and a.history_jsonl() == b.history_jsonl()
    assert a.leader() is not None
    terms = {r["term"] for r in a.trace if r["kind"] == "role" and r["role"] == "leader"}
    assert len(terms) >= 2  # a new leader after the crash
    assert History.from_events(a.history).counts()["ok"] > 10


_REPLAY = """
import hashlib, sys
sys.path.insert(0, ".")
from tests.sim.test_world import _chaos
from tests.sim.test_integration import _raft_sim
h, t = _chaos(5)
sim = _raft_sim(5)
sim.run(1500)
print(hashlib.sha256((h + t + sim.history_jsonl() + sim.trace_jsonl()).encode()).hexdigest())
"""


def test_replay_is_identical_across_processes_with_different_hash_seeds() -> None:
    """String hashing is randomised per process; nothing may depend on it."""
    import os
    import subprocess
    import sys

    pytest.importorskip("scenarios.systems")
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run(
            [sys.executable, "-c", _REPLAY], capture_output=True, text=True, env=env, check=True
        )
        digests.add(out.stdout.strip())
    assert len(digests) == 1


def test_lease_reads_stay_linearizable_when_the_leader_wakes_from_a_pause() -> None:
    """A correct lease design under a process pause (issue 19): the leader is paused for
    1.5 s and isolated for 2 s; clients keep sending it reads, which queue.  When it wakes,
    time must advance before it answers them, so its lease check sees that 1.5 s passed and
    the lease has run out; handing it the backlog first let it serve stale reads at about
    half the seeds."""
    runner = pytest.importorskip("scenarios.runner")
    spec = pytest.importorskip("scenarios.spec")
    base = spec.load("raft-lease-skew-correct")
    faults = (
        {"at": 2000, "duration": 1500, "fault": {"fault": "pause", "node": "leader"}},
        {"at": 2000, "duration": 2000, "fault": {"fault": "partition", "kind": "isolate-leader"}},
    )
    assert base.config["read_mode"] == "lease" and base.nodes == 5
    verdicts = {}
    for seed in range(1, 21):
        sc = base.with_overrides(seed=seed, duration_ms=6000, faults=faults)  # honest clocks
        out = runner.run_scenario(sc, trace_messages=False)
        verdicts[seed] = out.verdict
        paused = [r for r in out.trace if r["kind"] in ("pause", "resume")]
        assert [(r["kind"], r["t"]) for r in paused] == [("pause", 2000), ("resume", 3500)], paused
    assert all(v == "valid" for v in verdicts.values()), verdicts
