"""The two key-value systems: a Raft-replicated KV store and a leaderless quorum register."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from analysis import trace_kinds as K
from cluster.core.quorum import QuorumConfig, QuorumFlaws, QuorumNode
from cluster.core.raft import RaftConfig, RaftFlaws, RaftNode
from cluster.core.types import Core, CoreEvent
from cluster.session import FinalView
from cluster.spec import RecordsOn
from scenarios.systems import CoreFactory, PeerCores, System, register_system
from scenarios.txn_workloads import TXN_KINDS, check_txn_workload, make_txn_workload
from scenarios.workloads import (
    KINDS,
    KV_OPS,
    KV_SCRIPT,
    REGISTER_OPS,
    REGISTER_SCRIPT,
    check_workload,
    make_workload,
)

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


RAFT_WORKLOADS: tuple[str, ...] = ("register", *TXN_KINDS)
"""What clients of the Raft KV can do: single-key get/put/cas, or transactions."""


def check_raft_workload(spec: dict[str, Any]) -> None:
    kind = spec.get("kind", "register")
    if kind in TXN_KINDS:
        check_txn_workload(spec)
    elif kind == "register":
        check_workload(KV_OPS, spec)
    else:
        raise ValueError(f"workload: unknown kind {kind!r}; known: {', '.join(RAFT_WORKLOADS)}")


def make_raft_workload(spec: dict[str, Any], clients: int = 1) -> Any:
    check_raft_workload(spec)
    if spec.get("kind", "register") in TXN_KINDS:
        return make_txn_workload(spec, clients)
    return make_workload(KV_OPS, spec, clients)


def raft_inert_flaw(flaw: str, config: RaftConfig, flaws: tuple[str, ...]) -> str | None:
    """Why a Raft flaw changes nothing under ``config`` (see :mod:`scenarios.flawfit`)."""
    mode = config.read_mode
    if flaw in ("txn_no_read_validation", "txn_lost_update") and config.txn_mode != "optimistic":
        return (f"it leaves keys out of an optimistic transaction's commit check, and txn_mode = "
                f"{config.txn_mode!r} runs every transaction whole in the log, with no check to skip "
                "(set config txn_mode = \"optimistic\")")
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
    return PeerCores(RaftNode, nodes, config, flaws)


def _quorum_core(nodes: tuple[str, ...], config: Any, flaws: Any) -> CoreFactory:
    return PeerCores(QuorumNode, nodes, config, flaws)


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
        summary=("a key-value store replicated with Raft (get/put/cas, ReadIndex/lease/log reads, "
                 "transactions in the log or optimistic)"),
        flaws=RaftFlaws,
        config=RaftConfig,
        build_core=_raft_core,
        build_workload=make_raft_workload,
        check_workload=check_raft_workload,
        checkers=("linearizability", "raft-safety"),
        workload_kinds=RAFT_WORKLOADS,
        fault_menu=RAFT_FAULTS,
        triggers=("leader-elected", "write-acked", "lease-read"),
        event_records=RecordsOn(frozenset({K.ROLE}), _leader_log),
        final_records=_final_logs,
        inert_flaw=raft_inert_flaw,
        script=KV_SCRIPT,
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
        workload_kinds=KINDS,
        fault_menu=QUORUM_FAULTS,
        inert_flaw=quorum_inert_flaw,
        script=REGISTER_SCRIPT,
    )
)
