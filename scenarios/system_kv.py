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
    {"fault": "link", "src": "*", "dst": "*", "loss": 0.1, "delay_ms": 40, "jitter_ms": 40, "reorder": 0.3},
)
QUORUM_FAULTS: tuple[dict[str, Any], ...] = (
    {"fault": "partition", "kind": "halves"},
    {"fault": "partition", "kind": "isolate", "target": "random"},
    {"fault": "partition", "kind": "majorities-ring"},
    {"fault": "crash", "node": "random"},
    {"fault": "pause", "node": "random"},
    {"fault": "link", "src": "*", "dst": "*", "loss": 0.1, "delay_ms": 40, "jitter_ms": 60, "reorder": 0.5},
)


def raft_inert_flaw(flaw: str, config: RaftConfig, flaws: tuple[str, ...]) -> str | None:
    """Why a Raft flaw changes nothing under ``config`` (see :mod:`scenarios.flawfit`)."""
    mode = config.read_mode
    if flaw == "lease_ignores_clock_skew":
        if mode != "lease":
            return (f"it changes how long a leader lease lasts, and read_mode = {mode!r} uses no lease "
                    "(set config read_mode = \"lease\")")
        if "leader_reads_without_quorum" in flaws:
            return "leader_reads_without_quorum already answers every read without looking at the lease"
    if flaw == "leader_reads_without_quorum" and mode == "log":
        return "with read_mode = 'log' every read goes through the log, so the leader never answers one locally"
    return None


def quorum_inert_flaw(flaw: str, config: QuorumConfig, flaws: tuple[str, ...]) -> str | None:
    """Why a quorum flaw changes nothing under ``config`` (see :mod:`scenarios.flawfit`)."""
    if flaw == "sloppy_quorum" and config.r == 1 and config.w == 1:
        return "it forces R = W = 1, and the config already has r = 1 and w = 1"
    if flaw == "skip_write_back" and not config.write_back:
        return "it skips the read write-back, and the config already has write_back = false"
    return None


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
        inert_flaw=raft_inert_flaw,
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
        inert_flaw=quorum_inert_flaw,
    )
)
