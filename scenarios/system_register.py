"""The ``dynamo`` system: a leaderless replicated register of sets (carts), siblings or LWW.

Every node is a replica and a coordinator (:mod:`cluster.core.replicated_register`).
Clients grow one set per key by read-modify-write (:mod:`cluster.core.register_client`):
client slot ``i`` works on key ``k<i>``, so one key's writes come one at a time, each
causally after the one before it -- unless a client gave up on a write (``info``) that
still lands.  The checker ``lost-update`` (:mod:`analysis.lost_update`) asks whether every
acknowledged item survives in the replicas' final state.

Workload fields: ``kind = "cart"``, ``ops_per_client``, ``read_ratio``, ``think_ms``, and
``keys``: when set, every operation picks one of that many shared carts at random, so
clients write the same key concurrently and siblings appear.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cluster.core.register_client import CartClient
from cluster.core.replicated_register import RegisterConfig, RegisterFlaws, RegisterNode
from cluster.session import FinalView
from cluster.spec import ClientFactory
from scenarios.systems import (
    CoreFactory,
    PeerCores,
    RoutedClients,
    System,
    client_timeout_ms,
    register_system,
)
from scenarios.workload_parts import (
    check_fields,
    check_kind,
    check_positive_int,
    check_ratio,
    check_think_ms,
    take_turn,
)

REGISTER_FAULTS: tuple[dict[str, Any], ...] = (
    {"fault": "clock-skew", "node": "random", "offset_ms": -1500},
    {"fault": "clock-skew", "node": "random", "offset_ms": 1500},
    {"fault": "clock-strobe", "node": "random", "delta_ms": 800, "period_ms": 300},
    {"fault": "partition", "kind": "isolate", "target": "random"},
    {"fault": "partition", "kind": "halves"},
    {"fault": "crash", "node": "random"},
    {"fault": "pause", "node": "random"},
    {"fault": "link", "src": "*", "dst": "*", "loss": 0.1, "delay_ms": 40, "jitter_ms": 60, "reorder": 0.5},
)

_WL_ALLOWED = {"kind", "ops_per_client", "read_ratio", "think_ms", "keys"}


def check_workload(spec: dict[str, Any]) -> None:
    check_fields(spec, _WL_ALLOWED)
    check_kind(spec, "dynamo", "cart")
    for name in ("ops_per_client", "keys"):
        check_positive_int(spec, name)
    check_ratio(spec, "read_ratio", 0.2)
    check_think_ms(spec)


@dataclass
class CartWorkload:
    """Slot ``i`` adds unique items to key ``k<i>`` (reads now and then); with ``keys``, to
    one of ``keys`` shared keys picked at random."""

    clients: int = 1
    read_ratio: float = 0.2
    ops_per_client: int | None = None
    keys: int | None = None
    _issued: dict[int, int] = field(default_factory=dict)
    _items: int = 0

    def next_op(self, process: int, rng: random.Random) -> tuple[str, str | None, Any] | None:
        slot = process % max(1, self.clients)
        n = take_turn(self._issued, slot, self.ops_per_client)
        if n is None:
            return None
        key = f"k{slot}" if self.keys is None else f"k{rng.randrange(self.keys)}"
        if rng.random() < self.read_ratio:
            return ("read", key, None)
        self._items += 1
        return ("add", key, self._items)


def build_workload(spec: dict[str, Any], clients: int) -> CartWorkload:
    check_workload(spec)
    return CartWorkload(clients, float(spec.get("read_ratio", 0.2)), spec.get("ops_per_client"), spec.get("keys"))


def build_core(nodes: tuple[str, ...], config: Any, flaws: Any) -> CoreFactory:
    return PeerCores(RegisterNode, nodes, config, flaws)


def build_client(nodes: tuple[str, ...], spec: Mapping[str, Any]) -> ClientFactory:
    """Cart clients over every node."""
    return RoutedClients(CartClient, nodes, client_timeout_ms(spec, 2000))


def final_state(view: FinalView) -> None:
    """Every replica's versions at the end, from durable state (down nodes included)."""
    for nid in view.node_ids():
        versions = RegisterNode.versions_from(view.durable(nid))
        view.record("register-final", {"node": nid, "state": view.node_state(nid), "versions": {
            key: [{"value": list(v.value), "node": v.node, "counter": v.counter, "ts": v.ts} for v in vs]
            for key, vs in sorted(versions.items())}})


register_system(
    System(
        name="dynamo",
        summary="a Dynamo-style leaderless register of sets: any replica coordinates, R/W quorums, "
                "siblings with dotted version vectors (or, as a flaw, last-write-wins)",
        flaws=RegisterFlaws,
        config=RegisterConfig,
        build_core=build_core,
        build_workload=build_workload,
        check_workload=check_workload,
        checkers=("lost-update",),
        fault_menu=REGISTER_FAULTS,
        build_client=build_client,
        final_records=final_state,
    )
)
