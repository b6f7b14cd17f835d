"""The node every saga participant is built on: a local store, an outbox relay and a consumer.

A :class:`TransactionalNode` is what a saga service, the saga orchestrator and the
pipeline's document store have in common.  It owns

* the :class:`~cluster.core.local_store.LocalStore` (business rows, outbox rows, inbox rows,
  all committed together: see :mod:`cluster.core.local_store` for why);
* an :class:`~cluster.core.outbox.OutboxRelay` that publishes committed outbox rows;
* a :class:`~cluster.core.consumer.Consumer` that hands it deliveries
  (it is the consumer's :class:`~cluster.core.consumer.DeliveryHandler`).

The inbox lives here, not in the consumer, because it is a table of this node's store and
must be written in the same transaction as the effect: per delivery, look the message id up
in the inbox; if new, apply the effect (:meth:`handle`) and write the inbox row in one
transaction; if seen, record ``dedup`` and answer as the first time (:meth:`on_duplicate`).
The consumer acks on the next tick, after the driver persisted the transaction.

Subclasses implement :meth:`handle` (a delivery -> a transaction) and may override the
hooks :meth:`on_start`, :meth:`on_tick`, :meth:`on_message`, :meth:`on_duplicate` and
:meth:`skip_dedup`.

Flaws handled here: ``publish_outside_transaction`` (dual write), ``consumer_without_dedup``
(no inbox lookup) and ``dedup_window_ttl`` (inbox rows expire after ``dedup_ttl_ms`` of
*local* clock time, so a clock jump empties the inbox).  Trace events: ``txn``, ``dedup``,
``inbox-expire``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from cluster.core.consumer import Consumer
from cluster.core.local_store import LocalStore, Txn
from cluster.core.outbox import OutboxRelay, OutboxRow
from cluster.core.saga_config import BROKER, SagaConfig, SagaFlaws, role_map
from cluster.core.saga_messages import CommitFailed, Deliver, Payload, PublishAck
from cluster.core.types import CoreEvent, Message, Ready, ReadyBuilder

__all__ = ["TransactionalNode"]


class TransactionalNode:
    """Store + outbox relay + consumer + inbox; see the module docstring."""

    role = "service"
    dedup = True
    """Whether this kind of node keeps an inbox (the orchestrator's state machine does not
    need one; ``consumer_without_dedup`` switches it off for services)."""
    acks_on_next_tick = True
    """Whether the consumer acks each delivery on the tick after :meth:`process` (the effect
    was committed inside it); a node that finishes deliveries later calls
    ``self.consumer.ack`` itself once each effect is durable."""

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
        broker: str | None = None,
    ) -> None:
        self.node_id = node_id
        self.nodes = nodes
        # A system that is not the five-node saga names its broker node itself.
        self.roles = role_map(nodes) if broker is None else {BROKER: broker}
        self.config = config
        self.flaws = flaws or SagaFlaws()
        self.rng = rng
        self.epoch = f"{rng.getrandbits(32):08x}"
        self._counter = 0
        self.now = 0  # monotonic: timers (relay, consumer heartbeats, saga step timeouts)
        self.wall = 0  # wall clock: timestamps stored in the inbox
        self._started = False
        self.out = ReadyBuilder()
        self.store = LocalStore(durable)
        self.uses_inbox = self.dedup and not self.flaws.consumer_without_dedup
        self.relay = OutboxRelay(node_id, self.roles[BROKER], config, self.out)
        self.relay.load(self.store.table("outbox").values())
        self.consumer = Consumer(
            node_id,
            self.roles[BROKER],
            topic,
            config,
            session=f"{node_id}-{self.epoch}",
            out=self.out,
            handler=self,
            ack_early=self.flaws.ack_before_processing,
            ack_after_processing=self.acks_on_next_tick,
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
                self.relay.publish_direct(row)
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

    # --- the inbox (DeliveryHandler) ------------------------------------------------------------

    def process(self, d: Deliver, now_ms: int, *, acked: bool) -> None:
        """Apply ``d`` once per message id: the effect and the inbox row in one transaction."""
        if self.uses_inbox and not self.skip_dedup(d) and d.msg_id in self.inbox():
            self.out.events.append(
                CoreEvent(self.node_id, "dedup", {"msg_id": d.msg_id, "row": d.row, "redelivered": d.redelivered})
            )
            self.on_duplicate(d)
            return
        txn = self.begin()
        self.handle(d, txn)
        if self.uses_inbox:
            txn.put("inbox", d.msg_id, self.wall)
        self.commit(txn)

    def inbox(self) -> Mapping[str, Any]:
        """Message id -> the local wall-clock time it was processed."""
        return self.store.table("inbox")

    def _expire_inbox(self, wall_ms: int) -> None:
        """``dedup_window_ttl``: forget inbox rows older than ``dedup_ttl_ms``, by comparing
        their stored wall-clock timestamps with the wall clock now (what a TTL column does)."""
        old = [k for k, at in self.inbox().items() if wall_ms - int(at) > self.config.dedup_ttl_ms]
        self.out.persist.extend(self.store.delete("inbox", old))
        if old:
            self.emit("inbox-expire", count=len(old), local_ms=wall_ms)

    # --- Core protocol ------------------------------------------------------------------------

    def tick(self, now_ms: int, wall_ms: int | None = None) -> None:
        self.now = now_ms
        self.wall = now_ms if wall_ms is None else wall_ms
        if not self._started:
            self._started = True
            self.on_start()
        if self._deferred:
            deferred, self._deferred = self._deferred, []
            for txn in deferred:
                self._commit_now(txn)
        if self.flaws.dedup_window_ttl and self.uses_inbox:
            self._expire_inbox(self.wall)
        self.consumer.tick(now_ms)
        self.on_tick()
        self.relay.poll(now_ms)

    def step(self, message: Message) -> None:
        if isinstance(message, Deliver):
            self.consumer.on_deliver(message, self.now)
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
        """Every tick, after the consumer and before the relay polls."""

    def on_message(self, message: Message) -> None:
        """A message that is not broker traffic (a client request, for instance)."""

    def handle(self, d: Deliver, txn: Txn) -> None:
        """Apply the delivery's effect into ``txn`` (which also gets the inbox row)."""
        raise NotImplementedError

    def on_duplicate(self, d: Deliver) -> None:
        """A message already in the inbox arrived again: answer it as the first time."""

    def skip_dedup(self, d: Deliver) -> bool:
        """Whether ``d`` bypasses the inbox (only a flaw says yes)."""
        return False
