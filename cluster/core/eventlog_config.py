"""What an event-log deployment is made of: its flaws, its timings and who plays which role.

The event-log system is the smallest pipeline that tells the Kafka interview stories end to
end: producers hand events to a producer service, which appends them to a partitioned log
through a transactional outbox; a consumer service processes each partition in order,
records what it processed, and dead-letters what it cannot process.  Every core of the
system reads this module, so it sits below all of them and imports none of them.

Roles, by node position (the first four nodes):

* ``n1`` broker -- the Kafka-like log (:class:`cluster.core.broker_model.LogBroker`);
* ``n2`` producer -- clients ``send`` to it; it commits each event to its outbox and answers
  with the offset the broker gave it;
* ``n3`` consumer -- the only member of consumer group ``n3``; processes each partition in
  offset order, keeps an inbox, and answers clients' ``poll`` with what it processed;
* ``n4`` dead-letter store -- consumes the dead-letter topic and parks each message for an
  operator.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from cluster.core.flaws import Flaws
from cluster.core.saga_config import BrokerTimings, SagaConfig, roles_by_position

__all__ = [
    "BROKER",
    "CONSUMER",
    "DEAD_LETTERS",
    "DLQ_TOPIC",
    "EVENTS",
    "EventLogConfig",
    "EventLogFlaws",
    "PRODUCER",
    "ROLES",
    "is_poison",
    "role_map",
]

BROKER, PRODUCER, CONSUMER, DEAD_LETTERS = "broker", "producer", "consumer", "dead-letters"
ROLES = (BROKER, PRODUCER, CONSUMER, DEAD_LETTERS)
EVENTS = "events"
"""The topic producers append to and the consumer service reads."""
DLQ_TOPIC = "events.dlq"
"""The dead-letter topic: events the consumer gave up on, with why."""
POISON_PREFIX = "poison"


def is_poison(value: object) -> bool:
    """A poison event is one whose processing always fails: here, a string value that
    starts with ``poison`` (the workload sends them on purpose, so the history shows which)."""
    return isinstance(value, str) and value.startswith(POISON_PREFIX)


def role_map(nodes: tuple[str, ...]) -> dict[str, str]:
    """role -> node id (the first four nodes, in order)."""
    return roles_by_position("event-log", ROLES, nodes)


@dataclass(frozen=True)
class EventLogFlaws(Flaws):
    """Deliberate mistakes in the event pipeline; all off is the correct design."""

    commit_before_process: bool = False
    """The consumer commits an event's offset when it receives it and processes it later."""
    producer_without_idempotence: bool = False
    """The producer retries an unconfirmed send as a brand-new record (no producer id, no
    sequence number), so a lost acknowledgement becomes a duplicate in the log."""
    retry_poison_forever: bool = False
    """The consumer retries an event that fails processing forever, with no retry budget
    and no dead-letter queue, so one poison event blocks its partition."""


EventLogFlaws.DOCS = {
    "commit_before_process": (
        "The consumer commits the offset as soon as an event arrives and processes it a "
        "moment later: a crash in between skips the event for good (at-most-once)."
    ),
    "producer_without_idempotence": (
        "The producer retries a send whose acknowledgement was lost without a producer id "
        "and sequence number, so the broker appends it again: the log holds duplicates and "
        "a consumer that deduplicates by offset applies them twice."
    ),
    "retry_poison_forever": (
        "An event whose processing always fails is retried forever, without a budget or a "
        "dead-letter queue: it blocks every later event of its partition."
    ),
}


@dataclass(frozen=True)
class EventLogConfig(BrokerTimings):
    """Options of the event-log system: its broker side (:class:`BrokerTimings`: the log,
    the producer's outbox relay, the consumer's group session) and the consumer service's
    own (times in ms of each node's monotonic clock)."""

    dedup: str = "message-id"
    """What the consumer's inbox is keyed by: ``"message-id"`` (the producer's id for the
    event: catches every copy) or ``"offset"`` (partition and offset, stored with the
    effect: catches redeliveries of one record, not a second record of the same event)."""
    max_attempts: int = 4
    """Processing attempts before an event is dead-lettered."""
    retry_base_ms: int = 100
    """Backoff before the second attempt; it doubles per attempt up to ``retry_max_ms``."""
    retry_max_ms: int = 800
    poll_max: int = 50
    """Records one ``poll`` returns at most."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.dedup not in ("message-id", "offset"):
            raise ValueError(f"config: dedup must be 'message-id' or 'offset', got {self.dedup!r}")
        if self.max_attempts < 1:
            raise ValueError("config: max_attempts must be >= 1")
        if self.poll_max < 1:
            raise ValueError("config: poll_max must be >= 1")

    def broker_config(self) -> SagaConfig:
        """The broker side as the shared broker, relay and consumer parts read it: a log."""
        return SagaConfig(broker="log", **{f.name: getattr(self, f.name) for f in fields(BrokerTimings)})

    def backoff_ms(self, attempt: int) -> int:
        """Wait after failed attempt number ``attempt`` (1-based): exponential, capped."""
        return int(min(self.retry_max_ms, self.retry_base_ms * 2 ** max(0, attempt - 1)))
