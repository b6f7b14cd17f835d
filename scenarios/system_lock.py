"""The ``lock-service`` system: a lease-based lock on the Raft KV, workers, and a storage service.

Nodes by position: the first three run the Raft KV (unchanged :class:`cluster.core.raft.RaftNode`
cores) that holds the lock; the last one is the storage service
(:class:`cluster.core.fenced_storage.FencedStorage`); the ones between are workers
(:class:`cluster.core.lock_worker.LockWorker`) that take the lock and write to storage.
Client slot ``i`` sends ``job`` operations (a unique value to write) to worker
``i mod workers``.  The checker ``fencing`` (:mod:`analysis.fencing`) judges the storage's
accepted writes against the lock's grants.

Workload fields: ``kind = "jobs"``, ``ops_per_client``, ``think_ms``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cluster.core.client import ClientConfig, ClientCore
from cluster.core.fenced_storage import FencedStorage, FencingFlaws
from cluster.core.lock_worker import LockConfig, LockWorker
from cluster.core.raft import RaftConfig, RaftNode
from cluster.core.types import Core
from cluster.spec import ClientFactory
from faults.schedule import EventTrigger, register_triggers
from scenarios.systems import CoreFactory, RoutedClients, System, client_timeout_ms, register_system
from scenarios.workload_parts import (
    check_fields,
    check_kind,
    check_positive_int,
    check_think_ms,
    take_turn,
)

LOCK_TRIGGERS: dict[str, EventTrigger] = {
    "lock-granted": EventTrigger("lock-granted", {}, bind_leader="node"),
    "lease-checked": EventTrigger("lease-checked", {}, bind_leader="node"),
}
register_triggers(LOCK_TRIGGERS)

LOCK_FAULTS: tuple[dict[str, Any], ...] = (
    {"fault": "pause", "node": "leader"},  # with a trigger: the worker that got the lock
    {"fault": "pause", "node": "n4"},
    {"fault": "crash", "node": "n5"},
    {"fault": "crash", "node": "random"},
    {"fault": "partition", "kind": "isolate", "target": "n4"},
    {"fault": "partition", "kind": "isolate", "target": "n1"},
    {"fault": "link", "src": "*", "dst": "*", "loss": 0.1, "delay_ms": 30, "jitter_ms": 60},
)

RAFT_MEMBERS = 3


def roles(nodes: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...], str]:
    """``(raft nodes, workers, storage)`` by position."""
    if len(nodes) < RAFT_MEMBERS + 2:
        raise ValueError(f"the lock-service system needs at least {RAFT_MEMBERS + 2} nodes "
                         f"({RAFT_MEMBERS} Raft, a worker, the storage), got {len(nodes)}")
    return nodes[:RAFT_MEMBERS], nodes[RAFT_MEMBERS:-1], nodes[-1]


_WL_ALLOWED = {"kind", "ops_per_client", "think_ms"}


def check_workload(spec: dict[str, Any]) -> None:
    check_fields(spec, _WL_ALLOWED)
    check_kind(spec, "lock-service", "jobs")
    check_positive_int(spec, "ops_per_client")
    check_think_ms(spec)


@dataclass
class JobWorkload:
    """Every operation is a ``job`` that writes a unique value."""

    clients: int = 1
    ops_per_client: int | None = None
    _issued: dict[int, int] = field(default_factory=dict)
    _values: int = 0

    def next_op(self, process: int, rng: random.Random) -> tuple[str, str | None, Any] | None:
        slot = process % max(1, self.clients)
        n = take_turn(self._issued, slot, self.ops_per_client)
        if n is None:
            return None
        self._values += 1
        return ("job", None, self._values)


def build_workload(spec: dict[str, Any], clients: int) -> JobWorkload:
    check_workload(spec)
    return JobWorkload(clients, spec.get("ops_per_client"))


def build_core(nodes: tuple[str, ...], config: Any, flaws: Any) -> CoreFactory:
    raft, workers, storage = roles(nodes)
    raft_config = RaftConfig()

    def make(node_id: str, durable: Mapping[str, Any] | None, rng: random.Random) -> Core:
        if node_id in raft:
            return RaftNode(node_id, raft, raft_config, rng, durable=durable)
        if node_id in workers:
            return LockWorker(node_id, raft, storage, config, rng, durable=durable)
        return FencedStorage(node_id, rng, durable=durable, flaws=flaws)

    return make


def _job_client(client_id: str, workers: tuple[str, ...], rng: random.Random, *, timeout_ms: int) -> ClientCore:
    """Client slot ``i`` talks to worker ``i mod workers`` only, and never retries a job
    whose outcome it does not know (a second write would be a second job)."""
    slot = int(client_id.lstrip("c") or 0)
    worker = workers[slot % len(workers)]
    return ClientCore(client_id, (worker,), ClientConfig(timeout_ms=timeout_ms, retry_after_ambiguous=False), rng)


def build_client(nodes: tuple[str, ...], spec: Mapping[str, Any]) -> ClientFactory:
    timeout = client_timeout_ms(spec, 8000)
    return RoutedClients(_job_client, roles(nodes)[1], timeout)


register_system(
    System(
        name="lock-service",
        summary="a lease-based lock on the Raft KV, workers that take it, and a storage service "
                "that checks fencing tokens",
        flaws=FencingFlaws,
        config=LockConfig,
        build_core=build_core,
        build_workload=build_workload,
        check_workload=check_workload,
        checkers=("fencing",),
        fault_menu=LOCK_FAULTS,
        triggers=tuple(LOCK_TRIGGERS),
        build_client=build_client,
    )
)
