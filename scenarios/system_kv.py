"""The two key-value systems: a Raft-replicated KV store and a leaderless quorum register."""

from __future__ import annotations

import functools
import random
from collections.abc import Iterator, Mapping
from typing import Any

from analysis import trace_kinds as K
from cluster.core.quorum import QuorumConfig, QuorumFlaws, QuorumNode
from cluster.core.raft import RaftConfig, RaftFlaws, RaftNode
from cluster.core.types import Core, CoreEvent
from cluster.session import FinalView
from scenarios.systems import CoreFactory, System, register_system
from scenarios.workloads import KV_OPS, REGISTER_OPS, check_workload, make_workload

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


def _leader_log(core: Core, event: CoreEvent) -> Iterator[tuple[str, dict[str, Any]]]:
    """When a node wins an election, its log's terms at that moment (leader completeness)."""
    if event.kind == K.ROLE and event.data.get("role") == "leader":
        log = getattr(core, "log", None)
        if log is not None:
            yield K.LEADER_LOG, {"term": event.data.get("term"), "terms": [e.term for e in log]}


def _final_logs(view: FinalView) -> None:
    for nid, core in sorted(view.nodes.items()):
        log = getattr(core, "log", None)
        if log is not None:
            view.record(K.FINAL_LOG, {"node": nid, "terms": [e.term for e in log]})


register_system(
    System(
        name="raft-kv",
        summary="a key-value store replicated with Raft (get/put/cas, ReadIndex/lease/log reads)",
        flaws=RaftFlaws,
        config=RaftConfig,
        build_core=_raft_core,
        build_workload=functools.partial(make_workload, KV_OPS),
        check_workload=functools.partial(check_workload, KV_OPS),
        checkers=("linearizability", "raft-safety"),
        fault_menu=RAFT_FAULTS,
        triggers=("leader-elected", "write-acked", "lease-read"),
        event_records=_leader_log,
        final_records=_final_logs,
    )
)

register_system(
    System(
        name="quorum",
        summary="a leaderless ABD register: N replicas, R/W quorums, read write-back",
        flaws=QuorumFlaws,
        config=QuorumConfig,
        build_core=_quorum_core,
        build_workload=functools.partial(make_workload, REGISTER_OPS),
        check_workload=functools.partial(check_workload, REGISTER_OPS),
        checkers=("linearizability",),
        fault_menu=QUORUM_FAULTS,
    )
)
