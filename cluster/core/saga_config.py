"""What a saga deployment is made of: its switchable flaws, its timings, and who plays which role.

Every saga core (the orchestrator, the three services, their outbox relays and consumers,
the simulated brokers) and the RAG pipeline's broker side read these, so they sit below
all of them and import none of them.  :class:`SagaFlaws` holds each flaw's one-line
explanation, so the catalogue, ``splitbrain show`` and the reports word it the same way.
:class:`BrokerTimings` (the broker side's fields) and :func:`roles_by_position` serve the
event-log system's config too, which reuses the same broker, relay and consumer parts.
"""

from __future__ import annotations

from dataclasses import dataclass

from cluster.core.flaws import Flaws

__all__ = [
    "BROKER",
    "BrokerTimings",
    "ORCHESTRATOR",
    "REPLY_TOPIC",
    "ROLES",
    "SERVICES",
    "SagaConfig",
    "SagaFlaws",
    "role_map",
    "roles_by_position",
]


@dataclass(frozen=True)
class SagaFlaws(Flaws):
    """Deliberate mistakes in the saga/outbox/consumer design; all off is the correct design."""

    publish_outside_transaction: bool = False
    """Dual write: publish straight to the broker, then commit the local transaction."""
    ack_before_processing: bool = False
    """Consumers ack (or commit the offset) on receipt and apply the effect afterwards."""
    consumer_without_dedup: bool = False
    """Service consumers keep no inbox: a redelivered message applies its effect again."""
    charge_without_idempotency_key: bool = False
    """Each charge attempt gets a fresh key, so the payment service cannot spot a retry."""
    orchestrator_state_not_persisted: bool = False
    """The orchestrator keeps saga progress in memory only; a crash forgets running sagas."""
    non_idempotent_compensation: bool = False
    """Compensations get a fresh key per attempt and undo unconditionally (no state check)."""
    dedup_window_ttl: bool = False
    """Inbox entries expire after ``dedup_ttl_ms`` of local wall-clock time."""


_FLAW_DOCS: dict[str, str] = {
    "publish_outside_transaction": (
        "Dual write: the message is sent to the broker first and the local transaction is "
        "committed a moment later, so a crash in between publishes an event for a change "
        "that never happened (and the outbox cannot republish what it never stored)."
    ),
    "ack_before_processing": (
        "The consumer acknowledges a message (commits the offset) as soon as it arrives and "
        "applies it afterwards: a crash in between loses the message for good."
    ),
    "consumer_without_dedup": (
        "Service consumers keep no inbox of processed message ids, so every redelivery "
        "(after a consumer crash, a relay republish or a rebalance) applies the effect again."
    ),
    "charge_without_idempotency_key": (
        "The orchestrator gives every charge attempt a new key (saga + step + attempt), so "
        "when it retries after a timeout the payment service charges the card again."
    ),
    "orchestrator_state_not_persisted": (
        "Saga progress lives only in the orchestrator's memory: after a crash it forgets "
        "the running sagas, so reservations already made are never completed or compensated."
    ),
    "non_idempotent_compensation": (
        "Compensations carry a fresh key per attempt and undo without checking state "
        "('release a seat'), so a retried or redelivered cancel releases twice."
    ),
    "dedup_window_ttl": (
        "Inbox entries expire after dedup_ttl_ms of the service's local clock: a clock jump "
        "or a long delay lets a late duplicate through as if it were new."
    ),
}
SagaFlaws.DOCS = _FLAW_DOCS


@dataclass(frozen=True)
class BrokerTimings:
    """The broker side of a system built on the shared broker models, outbox relays and
    consumers (sagas, the pipeline, the event log): those parts read these fields by these
    names, so every such system's config has them, with the same defaults (all times in
    milliseconds of the node's local clock)."""

    partitions: int = 2
    """Partitions per topic (log broker)."""
    log_storage: str = "disk"
    """``"disk"`` or ``"memory"``: memory mimics Tansu's in-memory storage, which a broker
    restart wipes (topics, records and committed offsets)."""
    prefetch: int = 8
    """How many unacknowledged messages of a queue or partition the broker hands a consumer
    at once."""
    heartbeat_ms: int = 100
    session_timeout_ms: int = 400
    ack_timeout_ms: int = 2000
    """The broker redelivers what a consumer left unacknowledged this long (a log broker
    rewinds the partition)."""
    confirm_timeout_ms: int = 300
    """A relay republishes a message the broker has not confirmed after this long."""
    relay_interval_ms: int = 20
    commit_interval_ms: int = 100

    def __post_init__(self) -> None:
        if self.log_storage not in ("disk", "memory"):
            raise ValueError(f"config: log_storage must be 'disk' or 'memory', got {self.log_storage!r}")
        if self.partitions < 1:
            raise ValueError("config: partitions must be >= 1")


@dataclass(frozen=True)
class SagaConfig(BrokerTimings):
    """Options of the saga system: its broker side (:class:`BrokerTimings`) and the
    orchestrator's and services' own (all times in milliseconds of the node's local clock)."""

    broker: str = "queue"
    """``"queue"`` (RabbitMQ-like) or ``"log"`` (Kafka-like, partitioned with offsets)."""
    queue_durable: bool = True
    """Durable queue + persistent messages (synced before the publisher confirm)."""
    step_timeout_ms: int = 800
    retry_base_ms: int = 100
    retry_max_ms: int = 2000
    dedup_ttl_ms: int = 2000

    def __post_init__(self) -> None:
        if self.broker not in ("queue", "log"):
            raise ValueError(f"config: broker must be 'queue' or 'log', got {self.broker!r}")
        super().__post_init__()


BROKER, ORCHESTRATOR = "broker", "orchestrator"
SERVICES = ("flight", "hotel", "payment")
ROLES = (BROKER, ORCHESTRATOR, *SERVICES)
"""Node ``n1`` is the broker, ``n2`` the orchestrator, ``n3``-``n5`` the services."""
REPLY_TOPIC = "orchestrator"
"""The topic the services answer on, consumed by the orchestrator."""


def role_map(nodes: tuple[str, ...]) -> dict[str, str]:
    """role -> node id (the first five nodes, in order)."""
    return roles_by_position("saga", ROLES, nodes)


def roles_by_position(system: str, roles: tuple[str, ...], nodes: tuple[str, ...]) -> dict[str, str]:
    """role -> node id for a system whose first ``len(roles)`` nodes play ``roles`` in
    order; ``ValueError`` (naming ``system`` and its roles) when there are fewer nodes."""
    if len(nodes) < len(roles):
        raise ValueError(f"the {system} system needs {len(roles)} nodes ({', '.join(roles)}), got {len(nodes)}")
    return {role: nodes[i] for i, role in enumerate(roles)}
