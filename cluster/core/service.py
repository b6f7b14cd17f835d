"""A service with a local transactional store: business rows, outbox rows and inbox rows.

The one rule this module exists to enforce: **a business change, the outbox rows announcing
it and the inbox row recording which message caused it are written in one transaction**.
In the simulator a transaction is one ``Ready`` batch of ``Put`` ops with ``sync=True``, and
the driver persists a batch before it sends anything, so either all of it survives a crash
or none of it does.  That is what makes "apply the effect, then ack" safe to retry.

Also here, because every saga core shares them: :class:`SagaFlaws` (the switchable mistakes)
and :class:`SagaConfig` (timeouts, broker kind), plus :class:`TransactionalNode`, the base of
both the services and the orchestrator (store + outbox relay + consumer + heartbeat ticks).
The business handlers of the three services (flight, hotel, payment) are
:class:`ServiceNode`.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cluster.core.flaws import Flaws
from cluster.core.saga_messages import (
    Ack,
    CommitFailed,
    Deliver,
    Payload,
    PublishAck,
    payload_get,
    payload_of,
)
from cluster.core.types import CoreEvent, Message, Put, Ready, ReadyBuilder

# --------------------------------------------------------------------------- flaws and config


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


# --------------------------------------------------------------------------- roles

BROKER, ORCHESTRATOR = "broker", "orchestrator"
SERVICES = ("flight", "hotel", "payment")
ROLES = (BROKER, ORCHESTRATOR, *SERVICES)
"""Node ``n1`` is the broker, ``n2`` the orchestrator, ``n3``-``n5`` the services."""
REPLY_TOPIC = "orchestrator"


def role_map(nodes: tuple[str, ...]) -> dict[str, str]:
    """role -> node id (the first five nodes, in order)."""
    if len(nodes) < len(ROLES):
        raise ValueError(f"the saga system needs {len(ROLES)} nodes ({', '.join(ROLES)}), got {len(nodes)}")
    return {role: nodes[i] for i, role in enumerate(ROLES)}


# --------------------------------------------------------------------------- the store


@dataclass(frozen=True)
class OutboxRow:
    """A message waiting in the outbox: committed with the change it announces."""

    row: str
    topic: str
    key: str
    msg_id: str
    payload: Payload
    txn: str


@dataclass
class Txn:
    """Writes, outbox rows and trace events that commit (or vanish) together."""

    id: str
    writes: list[tuple[str, str, Any]] = field(default_factory=list)
    outbox: list[OutboxRow] = field(default_factory=list)
    events: list[CoreEvent] = field(default_factory=list)

    def put(self, table: str, key: str, value: Any) -> None:
        self.writes.append((table, key, value))


class LocalStore:
    """Tables of rows, durable as ``"table/key"`` Puts (``None`` = deleted).

    The store keeps an in-memory image; durable state is read only at construction (restart).
    """

    def __init__(self, durable: Mapping[str, Any] | None) -> None:
        self.tables: dict[str, dict[str, Any]] = {}
        for k in sorted(durable or {}):
            table, _, key = k.partition("/")
            value = (durable or {})[k]
            if value is not None:
                self.tables.setdefault(table, {})[key] = value

    def table(self, name: str) -> dict[str, Any]:
        return self.tables.setdefault(name, {})

    def apply(self, txn: Txn) -> list[Put]:
        ops: list[Put] = []
        for table, key, value in txn.writes:
            t = self.table(table)
            if value is None:
                t.pop(key, None)
            else:
                t[key] = value
            ops.append(Put(f"{table}/{key}", value))
        return ops


# --------------------------------------------------------------------------- the shared node


class TransactionalNode:
    """Store + outbox relay + consumer: what a service and the orchestrator have in common.

    Subclasses implement :meth:`handle` (a delivery -> a transaction) and may override
    :meth:`on_client` and :meth:`on_tick`.
    """

    role = "service"
    dedup = True  # does this node's consumer keep an inbox

    def __init__(
        self,
        node_id: str,
        nodes: tuple[str, ...],
        config: SagaConfig,
        rng: random.Random,
        *,
        durable: Mapping[str, Any] | None = None,
        flaws: SagaFlaws | None = None,
        topic: str,
    ) -> None:
        from cluster.core.consumer import Consumer
        from cluster.core.outbox import OutboxRelay

        self.node_id = node_id
        self.nodes = nodes
        self.roles = role_map(nodes)
        self.config = config
        self.flaws = flaws or SagaFlaws()
        self.rng = rng
        self.epoch = f"{rng.getrandbits(32):08x}"
        self._counter = 0
        self.now = 0
        self._started = False
        self.out = ReadyBuilder()
        self.store = LocalStore(durable)
        self.relay = OutboxRelay(node_id, self.roles[BROKER], config, self.out)
        self.relay.load(self.store.table("outbox").values())
        self.consumer = Consumer(
            node_id,
            self.roles[BROKER],
            topic,
            config,
            self.flaws,
            session=f"{node_id}-{self.epoch}",
            out=self.out,
            dedup=self.dedup and not self.flaws.consumer_without_dedup,
        )
        self._deferred: list[Txn] = []  # dual write: transactions committed on the next tick

    # --- ids ----------------------------------------------------------------------------------

    def new_id(self, prefix: str) -> str:
        """Unique across restarts: node, a seeded per-incarnation epoch, a counter."""
        self._counter += 1
        return f"{prefix}-{self.node_id}-{self.epoch}-{self._counter}"

    def begin(self) -> Txn:
        return Txn(self.new_id("tx"))

    def emit(self, kind: str, **data: Any) -> None:
        self.out.events.append(CoreEvent(self.node_id, kind, data))

    # --- committing ---------------------------------------------------------------------------

    def commit(self, txn: Txn) -> None:
        """Commit ``txn``: business rows, inbox rows and outbox rows in one durable write.

        With ``publish_outside_transaction`` the outbox rows are instead published straight
        away and the rest is committed on the next tick (the classic dual write).
        """
        if self.flaws.publish_outside_transaction and txn.outbox:
            for row in txn.outbox:
                self.relay.publish_direct(row, self.now)
            txn.outbox = []
            self._deferred.append(txn)
            return
        self._commit_now(txn)

    def _commit_now(self, txn: Txn) -> None:
        if not (txn.writes or txn.outbox or txn.events):
            return
        for row in txn.outbox:
            txn.put("outbox", row.row, row)
        self.out.persist.extend(self.store.apply(txn))
        self.emit(
            "txn",
            txn=txn.id,
            rows=[r.row for r in txn.outbox],
            msg_ids=[r.msg_id for r in txn.outbox],
            writes=len(txn.writes),
        )
        self.out.events.extend(txn.events)
        for row in txn.outbox:
            self.relay.add(row)

    def outbox_row(self, txn: Txn, topic: str, key: str, msg_id: str, payload: Payload) -> OutboxRow:
        row = OutboxRow(self.new_id("row"), topic, key, msg_id, payload, txn.id)
        txn.outbox.append(row)
        return row

    # --- Core protocol ------------------------------------------------------------------------

    def tick(self, now_ms: int) -> None:
        self.now = now_ms
        if not self._started:
            self._started = True
            self.on_start()
        if self._deferred:
            deferred, self._deferred = self._deferred, []
            for txn in deferred:
                self._commit_now(txn)
        self.consumer.tick(now_ms, self)
        self.on_tick()
        self.relay.poll(now_ms)

    def step(self, message: Message) -> None:
        if isinstance(message, Deliver):
            self.consumer.on_deliver(message, self.now, self)
        elif isinstance(message, PublishAck):
            self.relay.on_ack(message)
        elif isinstance(message, CommitFailed):
            self.consumer.on_commit_failed(message)
        else:
            self.on_message(message)

    def ready(self) -> Ready:
        return self.out.take()

    # --- hooks --------------------------------------------------------------------------------

    def on_start(self) -> None:
        """First tick after (re)start: the local clock is known now."""

    def on_tick(self) -> None:
        pass

    def on_message(self, message: Message) -> None:
        pass

    def handle(self, d: Deliver, txn: Txn) -> None:
        """Apply the delivery's effect into ``txn`` (which also gets the inbox row)."""
        raise NotImplementedError

    def on_duplicate(self, d: Deliver) -> None:
        """A message already in the inbox arrived again: answer it as the first time."""

    def inbox(self) -> dict[str, Any]:
        return self.store.table("inbox")


# --------------------------------------------------------------------------- the services

_ACTIONS: dict[str, tuple[str, str, str]] = {
    # action -> (service, table, kind) ; kind: reserve / cancel / charge / refund
    "reserve-flight": ("flight", "reservation", "reserve"),
    "cancel-flight": ("flight", "reservation", "cancel"),
    "reserve-hotel": ("hotel", "reservation", "reserve"),
    "cancel-hotel": ("hotel", "reservation", "cancel"),
    "charge": ("payment", "charge", "charge"),
    "refund": ("payment", "charge", "refund"),
}
_REJECTS = {"reserve-flight": "flight-full", "reserve-hotel": "hotel-full", "charge": "card-declined"}


class ServiceNode(TransactionalNode):
    """Flight, hotel or payment: consumes commands, replies through its outbox.

    A forward action is rejected (without effect) when the saga's plan says so, which is how
    the workload makes some sagas compensate.  ``seats_released`` counts compensations that
    really released something, so a non-idempotent compensation is visible as a number.
    """

    def __init__(self, node_id: str, nodes: tuple[str, ...], config: SagaConfig, rng: random.Random,
                 *, service: str, durable: Mapping[str, Any] | None = None,
                 flaws: SagaFlaws | None = None) -> None:
        self.service = service
        self.role = service
        super().__init__(node_id, nodes, config, rng, durable=durable, flaws=flaws, topic=service)

    def handle(self, d: Deliver, txn: Txn) -> None:
        p = d.payload
        action = str(payload_get(p, "action"))
        saga = str(payload_get(p, "saga"))
        plan = str(payload_get(p, "plan", "ok"))
        _, table, kind = _ACTIONS.get(action, (self.service, "unknown", "unknown"))
        rows = self.store.table(table)
        outcome = "rejected"
        if kind == "reserve":
            if plan != _REJECTS[action]:
                outcome = "applied"
                txn.put(table, saga, "active")
        elif kind == "charge":
            if plan != _REJECTS[action]:
                outcome = "applied"
                txn.put(table, d.msg_id, saga)  # one charge row per idempotency key
        elif kind == "cancel":
            if self.flaws.non_idempotent_compensation or rows.get(saga) == "active":
                outcome = "applied"
                txn.put(table, saga, "cancelled")
                released = int(self.store.table("counters").get("released", 0)) + 1
                txn.put("counters", "released", released)
            else:
                outcome = "noop"
        elif kind == "refund":
            mine = sorted(k for k, v in rows.items() if v == saga)
            if mine or self.flaws.non_idempotent_compensation:
                outcome = "applied"
                for k in mine:
                    txn.put(table, k, None)
            else:
                outcome = "noop"
        reply = payload_of(
            saga=saga,
            step=payload_get(p, "step"),
            phase=payload_get(p, "phase"),
            action=action,
            key=d.msg_id,
            outcome=outcome,
        )
        self.outbox_row(txn, REPLY_TOPIC, saga, f"{d.msg_id}:reply", reply)
        txn.put("reply", d.msg_id, reply)
        txn.events.append(
            CoreEvent(
                self.node_id,
                "effect",
                {
                    "service": self.service,
                    "action": action,
                    "saga": saga,
                    "step": payload_get(p, "step"),
                    "phase": payload_get(p, "phase"),
                    "key": d.msg_id,
                    "row": d.row,
                    "redelivered": d.redelivered,
                    "outcome": outcome,
                    "compensation": kind in ("cancel", "refund"),
                },
            )
        )

    def skip_dedup(self, d: Deliver) -> bool:
        """Non-idempotent compensations bypass the inbox entirely."""
        return self.flaws.non_idempotent_compensation and payload_get(d.payload, "phase") == "compensate"

    def on_duplicate(self, d: Deliver) -> None:
        reply = self.store.table("reply").get(d.msg_id)
        if reply is None:
            return
        txn = self.begin()
        self.outbox_row(txn, REPLY_TOPIC, d.key, f"{d.msg_id}:reply", reply)
        self.commit(txn)


__all__ = [
    "Ack",
    "LocalStore",
    "OutboxRow",
    "SagaConfig",
    "SagaFlaws",
    "ServiceNode",
    "TransactionalNode",
    "Txn",
    "role_map",
]
