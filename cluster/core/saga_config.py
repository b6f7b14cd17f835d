"""What a saga deployment is made of: its switchable flaws, its timings, and who plays which role.

Every saga core (the orchestrator, the three services, their outbox relays and consumers,
the simulated brokers) and the RAG pipeline's broker side read these, so they sit below
all of them and import none of them.  :class:`SagaFlaws` holds each flaw's one-line
explanation, so the catalogue, ``splitbrain show`` and the reports word it the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from cluster.core.flaws import Flaws

__all__ = [
    "BROKER",
    "ORCHESTRATOR",
    "REPLY_TOPIC",
    "ROLES",
    "SERVICES",
    "SagaConfig",
    "SagaFlaws",
    "role_map",
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
class SagaConfig:
    """Options of the saga system (all times in milliseconds of the node's local clock)."""

    broker: str = "queue"
    """``"queue"`` (RabbitMQ-like) or ``"log"`` (Kafka-like, partitioned with offsets)."""
    partitions: int = 2
    """Partitions per topic (log broker)."""
    log_storage: str = "disk"
    """``"disk"`` or ``"memory"``: memory mimics Tansu's in-memory storage, which a broker
    restart wipes (topics, records and committed offsets)."""
    queue_durable: bool = True
    """Durable queue + persistent messages (synced before the publisher confirm)."""
    prefetch: int = 8
    heartbeat_ms: int = 100
    session_timeout_ms: int = 400
    ack_timeout_ms: int = 2000
    confirm_timeout_ms: int = 300
    relay_interval_ms: int = 20
    commit_interval_ms: int = 100
    step_timeout_ms: int = 800
    retry_base_ms: int = 100
    retry_max_ms: int = 2000
    dedup_ttl_ms: int = 2000

    def __post_init__(self) -> None:
        if self.broker not in ("queue", "log"):
            raise ValueError(f"config: broker must be 'queue' or 'log', got {self.broker!r}")
        if self.log_storage not in ("disk", "memory"):
            raise ValueError(f"config: log_storage must be 'disk' or 'memory', got {self.log_storage!r}")
        if self.partitions < 1:
            raise ValueError("config: partitions must be >= 1")


BROKER, ORCHESTRATOR = "broker", "orchestrator"
SERVICES = ("flight", "hotel", "payment")
ROLES = (BROKER, ORCHESTRATOR, *SERVICES)
"""Node ``n1`` is the broker, ``n2`` the orchestrator, ``n3``-``n5`` the services."""
REPLY_TOPIC = "orchestrator"
"""The topic the services answer on, consumed by the orchestrator."""


def role_map(nodes: tuple[str, ...]) -> dict[str, str]:
    """role -> node id (the first five nodes, in order)."""
    if len(nodes) < len(ROLES):
        raise ValueError(f"the saga system needs {len(ROLES)} nodes ({', '.join(ROLES)}), got {len(nodes)}")
    return {role: nodes[i] for i, role in enumerate(ROLES)}
