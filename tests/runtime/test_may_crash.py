"""Which runs keep warm spare processes: those whose fault schedule can crash a node."""

from __future__ import annotations

from scenarios.runner import cluster_spec, may_crash
from scenarios.spec import load


def test_crash_items_random_crash_kinds_and_restart_loops_can_crash() -> None:
    assert may_crash([{"at": 1, "fault": {"fault": "crash", "node": "n1"}}])
    assert may_crash([{"on": "publish", "fault": {"fault": "crash-restart-loop", "node": "leader"}}])
    assert may_crash([{"random": 1.0, "kinds": ["partition:halves", "crash"]}])
    assert not may_crash([{"at": 1, "fault": {"fault": "partition", "kind": "halves"}},
                          {"random": 1.0, "kinds": ["pause", "clock-skew"]}])
    assert not may_crash([])


def test_the_cluster_spec_says_so_for_catalog_scenarios() -> None:
    assert cluster_spec(load("outbox-relay-crash-correct"), real_time=True)[0].may_crash
    assert not cluster_spec(load("raft-election-storm-correct"))[0].may_crash
