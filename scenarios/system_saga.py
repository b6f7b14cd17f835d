"""The saga system: a trip-booking saga over a simulated broker, with transactional outboxes.

Five nodes, by position: ``n1`` broker (``config.broker = "queue" | "log"``), ``n2`` saga
orchestrator (clients talk to it), ``n3`` flight, ``n4`` hotel, ``n5`` payment.  Clients
invoke ``book`` with a unique trip id and a plan that decides the business outcome; the
orchestrator answers ``booked`` or ``cancelled`` when the saga ends.

Checkers: ``idempotency``, ``delivery``, ``saga`` (see ``docs/sagas.md``).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from analysis import trace_kinds as K
from analysis.idempotency import SETTLE_MS
from cluster.core.broker_model import make_broker
from cluster.core.saga import PLANS, Orchestrator
from cluster.core.saga_config import (
    BROKER,
    ORCHESTRATOR,
    SagaConfig,
    SagaFlaws,
    role_map,
)
from cluster.core.saga_services import ServiceNode
from cluster.core.types import Core
from cluster.session import FinalView
from cluster.spec import BrokerPlan
from faults.schedule import EventTrigger, register_triggers
from scenarios.script import ScriptOp, due_order
from scenarios.systems import (
    CoreFactory,
    System,
    default_client_factory,
    node_role,
    register_system,
)
from scenarios.workload_parts import (
    check_fields,
    check_kind,
    check_ratio,
    check_think_ms,
    take_turn,
)

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

# Named triggers for protocol moments of this system (added to the shared trigger table so
# scenario files and ``explore`` can name them; each binds "leader" to the event's node).
SAGA_TRIGGERS: dict[str, EventTrigger] = {
    "relay-published": EventTrigger(K.PUBLISH, {}, bind_leader="node"),
    "message-delivered": EventTrigger(K.CONSUME, {}, bind_leader="node"),
    "effect-applied": EventTrigger(K.EFFECT, {"outcome": "applied"}, bind_leader="node"),
    "saga-step": EventTrigger(K.SAGA_STEP, {}, bind_leader="node"),
    "charge-sent": EventTrigger(K.SAGA_STEP, {"action": "charge"}, bind_leader="node"),
    "compensation-sent": EventTrigger(K.SAGA_STEP, {"phase": "compensate"}, bind_leader="node"),
}
register_triggers(SAGA_TRIGGERS)

SAGA_FAULTS: tuple[dict[str, Any], ...] = (
    {"fault": "crash", "node": "leader"},  # with a trigger: the node that emitted the event
    {"fault": "crash", "node": "n1"},  # the broker
    {"fault": "crash", "node": "n2"},  # the orchestrator
    {"fault": "crash", "node": "random"},
    {"fault": "pause", "node": "leader"},
    {"fault": "pause", "node": "random"},
    {"fault": "clock-skew", "node": "random", "offset_ms": 10000},
    {"fault": "partition", "kind": "isolate", "target": "n1"},
    {"fault": "link", "src": "n1", "dst": "*", "loss": 0.1, "duplicate": 0.3, "delay_ms": 50, "jitter_ms": 200},
    {"fault": "link", "src": "*", "dst": "*", "loss": 0.1, "delay_ms": 100, "jitter_ms": 300, "reorder": 0.3},
)

# On the real engine (``--engine ray``) the broker is a real RabbitMQ or Tansu process and
# time is real: a Kafka consumer's first group join takes ~3 s and Tansu needs a session
# timeout of several seconds, confirms travel through a real TCP stack, and five processes
# share two cores.  These defaults replace the simulator's millisecond-scale timings unless a
# scenario sets them itself (in ``config`` or its ``[ray]`` table).
BROKER_REAL_TIME: dict[str, Any] = {
    "heartbeat_ms": 500,
    "session_timeout_ms": 6000,
    "confirm_timeout_ms": 2000,
    "commit_interval_ms": 50,
}
"""Consumer and relay timings for a real broker, shared with the pipeline system."""


def broker_plan(node: str, config: Any) -> BrokerPlan:
    """The broker node of a system whose cores talk to a queue (``config.broker = "queue"``,
    RabbitMQ on a real engine) or a log (``"log"``, a Kafka-protocol broker): how many
    partitions its topics get and what its consumers need (a session timeout for a
    consumer group, a prefetch window for a queue).  Shared with the pipeline system."""
    if getattr(config, "broker", "queue") == "log":
        return BrokerPlan(node, "kafka", int(config.partitions), {"session_timeout_ms": config.session_timeout_ms})
    return BrokerPlan(node, "rabbitmq", int(config.partitions), {"prefetch": config.prefetch})

REAL_TIME_CONFIG: dict[str, Any] = {
    **BROKER_REAL_TIME,
    "step_timeout_ms": 1000,
    "retry_base_ms": 200,
    "retry_max_ms": 3000,
}

_WL_ALLOWED = {"kind", "ops_per_client", "think_ms", "reject_ratio"}


def check_saga_workload(spec: dict[str, Any]) -> None:
    check_fields(spec, _WL_ALLOWED)
    check_kind(spec, "saga", "book")
    check_ratio(spec, "reject_ratio", 0.3)
    n = spec.get("ops_per_client")
    if n is not None and (not isinstance(n, int) or n < 1):
        raise ValueError(f"workload: ops_per_client must be a positive integer, got {n!r}")
    check_think_ms(spec)


@dataclass
class BookingWorkload:
    """``book`` a unique trip; ``reject_ratio`` of them carry a plan that makes a step fail."""

    clients: int = 1
    reject_ratio: float = 0.3
    ops_per_client: int | None = None
    _issued: dict[int, int] = field(default_factory=dict)

    def next_op(self, process: int, rng: random.Random) -> tuple[str, str | None, Any] | None:
        slot = process % max(1, self.clients)
        n = take_turn(self._issued, slot, self.ops_per_client)
        if n is None:
            return None
        plan = "ok"
        if rng.random() < self.reject_ratio:
            plan = PLANS[1 + rng.randrange(len(PLANS) - 1)]
        return ("book", f"trip-{process}-{n + 1}", plan)


class BookingVocabulary:
    """What a saga client can be scripted to do: ``book`` a trip (``key``, unique) with a
    plan (``value``: one of ``PLANS``, which decides the business outcome).

    Drawn bookings shrink towards the plan ``ok``; their trip ids are numbered
    ``trip-1``, ``trip-2``... in due order.
    """

    def check(self, op: ScriptOp) -> str | None:
        if op.f != "book":
            return f"f = {op.f!r} is not an operation of the saga system; it has book"
        if op.key is None:
            return "a book needs a key: the trip id (e.g. key = \"trip-1\")"
        if op.value not in PLANS:
            return f"a book needs value = one of the plans {', '.join(PLANS)}, got {op.value!r}"
        return None

    def check_all(self, ops: Sequence[ScriptOp]) -> str | None:
        seen: set[str | None] = set()
        for op in ops:
            if op.key in seen:
                return f"trip id {op.key!r} is booked twice; every booking needs its own trip id"
            seen.add(op.key)
        return None

    def op_strategy(self, workload: Mapping[str, Any]) -> SearchStrategy[ScriptOp]:
        from hypothesis import strategies as st

        ok = round(100 * (1.0 - float(workload.get("reject_ratio", 0.3))))

        def build(x: int) -> ScriptOp:
            plan = "ok" if x < ok else PLANS[1 + (x - ok) % (len(PLANS) - 1)]
            return ScriptOp(0, 0, "book", None, plan)

        return st.builds(build, st.integers(0, 99))

    def finish(self, ops: Sequence[ScriptOp]) -> list[ScriptOp]:
        return [op if op.key is not None else ScriptOp(op.at, op.client, op.f, f"trip-{i}", op.value)
                for i, op in enumerate(sorted(ops, key=due_order), 1)]

    def simpler(self, op: ScriptOp) -> list[ScriptOp]:
        """The plain plan, when the booking had one that fails a step."""
        return [] if op.value == "ok" else [ScriptOp(op.at, op.client, op.f, op.key, "ok")]


def build_workload(spec: dict[str, Any], clients: int) -> BookingWorkload:
    check_saga_workload(spec)
    return BookingWorkload(clients, float(spec.get("reject_ratio", 0.3)), spec.get("ops_per_client"))


def build_core(nodes: tuple[str, ...], config: Any, flaws: Any) -> CoreFactory:
    roles = role_map(nodes)

    def make(node_id: str, durable: Mapping[str, Any] | None, rng: random.Random) -> Core:
        role = node_role("saga", roles, node_id)
        if role == BROKER:
            return make_broker(node_id, config, rng, durable)
        if role == ORCHESTRATOR:
            return Orchestrator(node_id, nodes, config, rng, durable=durable, flaws=flaws)
        return ServiceNode(node_id, nodes, config, rng, service=role, durable=durable, flaws=flaws)  # SERVICES

    return make


def build_client(nodes: tuple[str, ...], spec: Mapping[str, Any]) -> Any:
    """Clients talk to the orchestrator only, and never retry a booking on their own."""
    merged = {"timeout_ms": 10_000, "retry_after_ambiguous": False, **dict(spec)}
    orchestrator = role_map(nodes)[ORCHESTRATOR]
    return default_client_factory((orchestrator,), merged)


def final_state(view: FinalView) -> None:
    """Record what the orchestrator knows at the end and which outboxes are not drained."""
    for nid, core in sorted(view.nodes.items()):
        if isinstance(core, Orchestrator):
            view.record(K.SAGA_FINAL, {"node": nid, "sagas": {k: s.phase for k, s in core.sagas.items()}})
        pending = getattr(getattr(core, "relay", None), "pending", None)
        if pending is not None:
            view.record(K.OUTBOX_FINAL, {"node": nid, "rows": list(pending)})
    for nid in view.node_ids():
        if view.node_state(nid) != "up":
            view.record(K.NODE_FINAL, {"node": nid, "state": view.node_state(nid)})


def _broker(nodes: tuple[str, ...], config: Any) -> BrokerPlan:
    return broker_plan(role_map(nodes)[BROKER], config)


def saga_inert_flaw(flaw: str, config: SagaConfig, flaws: tuple[str, ...]) -> str | None:
    """Why a saga flaw changes nothing here (see :mod:`scenarios.flawfit`)."""
    if flaw == "dedup_window_ttl" and "consumer_without_dedup" in flaws:
        return "consumer_without_dedup keeps no inbox at all, so there is no dedup window to expire"
    return None


register_system(
    System(
        name="saga",
        summary="trip-booking saga (flight, hotel, charge) over a queue or log broker, with outboxes and inboxes",
        flaws=SagaFlaws,
        config=SagaConfig,
        build_core=build_core,
        build_workload=build_workload,
        check_workload=check_saga_workload,
        checkers=("idempotency", "delivery", "saga"),
        workload_kinds=("book",),
        fault_menu=SAGA_FAULTS,
        triggers=tuple(SAGA_TRIGGERS),
        build_client=build_client,
        final_records=final_state,
        realtime_config=REAL_TIME_CONFIG,
        settle_ms=SETTLE_MS,
        broker=_broker,
        inert_flaw=saga_inert_flaw,
        script=BookingVocabulary(),
    )
)
