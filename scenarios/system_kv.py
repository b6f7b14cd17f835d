"""The two key-value systems: a Raft-replicated KV store and a leaderless quorum register."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from cluster.core.quorum import QuorumConfig, QuorumFlaws, QuorumNode
from cluster.core.raft import RaftConfig, RaftFlaws, RaftNode
from cluster.core.types import Core
from scenarios.systems import CoreFactory, System, register_system
from scenarios.workloads import check_workload, make_workload

RAFT_FAULTS: tuple[dict[str, Any], ...] = (
    {"fault": "partition", "kind": "isolate-leader"},
    {"fault": "partition", "kind": "halves"},
    {"fault": "partition", "kind": "isolate", "target": "random"},
    {"fault": "partition", "kind": "majorities-ring"},
    {"fault": "partition", "kind": "bridge"},
    {"fault": "crash", "node": "leader"},
    {"fault": "crash", "node": "random"},
    {"fault": "pause", "node": "leader"},
    {"fault": "clock-skew", "node": "leader", "offset_ms": 0, "rate": 0.5},
    {"fault": "link", "src": "*", "dst": "*", "loss": 0.3},
    {"fault": "link", "src": "*", "dst": "*", "delay_ms": 40, "jitter_ms": 40, "reorder": 0.3},
)
QUORUM_FAULTS: tuple[dict[str, Any], ...] = (
    {"fault": "partition", "kind": "halves"},
    {"fault": "partition", "kind": "isolate", "target": "random"},
    {"fault": "partition", "kind": "majorities-ring"},
    {"fault": "crash", "node": "random"},
    {"fault": "pause", "node": "random"},
    {"fault": "link", "src": "*", "dst": "*", "delay_ms": 40, "jitter_ms": 60, "reorder": 0.5},
)


def _raft_core(nodes: tuple[str, ...], config: Any, flaws: Any) -> CoreFactory:
    def make(node_id: str, durable: Mapping[str, Any] | None, rng: random.Random) -> Core:
        return RaftNode(node_id, nodes, config, rng, durable=durable, flaws=flaws)

    return make


def _quorum_core(nodes: tuple[str, ...], config: Any, flaws: Any) -> CoreFactory:
    def make(node_id: str, durable: Mapping[str, Any] | None, rng: random.Random) -> Core:
        return QuorumNode(node_id, nodes, config, rng, durable=durable, flaws=flaws)

    return make


def _snapshot_leader_logs(sim: Any) -> None:
    """When a node wins an election, record the terms of its log (for leader completeness)."""

    def hook(kind: str, data: dict[str, Any]) -> None:
        if kind == "role" and data.get("role") == "leader":
            core = sim.nodes.get(data.get("node"))
            log = getattr(core, "log", None)
            if log is not None:
                sim.record("leader-log", {"node": data["node"], "term": data.get("term"), "terms": [e.term for e in log]})

    sim.add_event_hook(hook)


def _final_logs(sim: Any) -> None:
    for nid, core in sorted(sim.nodes.items()):
        log = getattr(core, "log", None)
        if log is not None:
            sim.record("final-log", {"node": nid, "terms": [e.term for e in log]})


register_system(
    System(
        name="raft-kv",
        summary="a key-value store replicated with Raft (get/put/cas, ReadIndex/lease/log reads)",
        flaws=RaftFlaws,
        config=RaftConfig,
        build_core=_raft_core,
        build_workload=lambda spec, clients: make_workload("raft-kv", spec, clients),
        check_workload=lambda spec: check_workload("raft-kv", spec),
        checkers=("linearizability", "raft-safety"),
        fault_menu=RAFT_FAULTS,
        triggers=("leader-elected", "write-acked", "lease-read"),
        on_setup=_snapshot_leader_logs,
        on_finish=_final_logs,
    )
)

register_system(
    System(
        name="quorum",
        summary="a leaderless ABD register: N replicas, R/W quorums, read write-back",
        flaws=QuorumFlaws,
        config=QuorumConfig,
        build_core=_quorum_core,
        build_workload=lambda spec, clients: make_workload("quorum", spec, clients),
        check_workload=lambda spec: check_workload("quorum", spec),
        checkers=("linearizability",),
        fault_menu=QUORUM_FAULTS,
    )
)
