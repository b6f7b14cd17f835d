"""The consumer: the broker-facing half of at-least-once delivery.

Per delivery it records ``consume``, drops a log record that arrived after a lost one
(see :meth:`Consumer._gap`), hands the delivery to its :class:`DeliveryHandler` (the node
whose business logic applies it), and acknowledges it: the queue gets an ``Ack`` with the
delivery tag, the log an offset commit, batched every ``commit_interval_ms``.  It also
heartbeats its subscription (``Subscribe`` every ``heartbeat_ms``); a restarted consumer
has a new session id, which tells the broker to requeue / rewind what the previous
incarnation held.

When to ack is what makes delivery safe, and there are two correct answers:

* ``ack_after_processing=True`` -- the handler applied the effect in a local transaction
  (with its inbox row) before :meth:`DeliveryHandler.process` returned, so the consumer
  acks on the next tick, after the driver persisted that transaction;
* ``ack_after_processing=False`` -- the effect becomes durable later (an embedding batch
  confirmed by the vector store), so the handler calls :meth:`Consumer.ack` itself.

Either way a crash before the ack makes the broker deliver again, and the handler's inbox
turns the second delivery into a no-op.  The consumer knows nothing of that inbox: it
depends only on the handler interface, not on the node that owns it.

Flaw it implements: ``ack_early`` (``ack_before_processing``): ack (or commit the offset) on
receipt and hand the delivery to the handler on the next tick, so a crash in between loses
it for good.

Trace events: ``consume``, ``gap``, ``msg-ack``, ``commit-failed`` (see ``docs/sagas.md``).
"""

from __future__ import annotations

from collections import deque
from typing import Protocol

from cluster.core.saga_messages import Ack, CommitFailed, Deliver, Subscribe
from cluster.core.types import CoreEvent, ReadyBuilder

__all__ = ["Consumer", "ConsumerTimings", "DeliveryHandler"]


class DeliveryHandler(Protocol):
    """What a consumer hands each delivery to."""

    def process(self, d: Deliver, now_ms: int, *, acked: bool) -> None:
        """Apply (or start applying) ``d``; ``acked`` says the consumer already acked it."""


class ConsumerTimings(Protocol):
    """The broker kind and timings the consumer reads (``SagaConfig`` has them)."""

    @property
    def broker(self) -> str:
        """``"queue"`` (acks by tag) or ``"log"`` (offset commits)."""

    @property
    def heartbeat_ms(self) -> int:
        """How often the subscription is renewed."""

    @property
    def commit_interval_ms(self) -> int:
        """How often offsets are committed (log broker)."""


class Consumer:
    """One subscription to one topic, acking what its handler has applied."""

    def __init__(
        self,
        node_id: str,
        broker: str,
        topic: str,
        config: ConsumerTimings,
        *,
        session: str,
        out: ReadyBuilder,
        handler: DeliveryHandler,
        ack_early: bool = False,
        ack_after_processing: bool = True,
    ) -> None:
        self.node_id = node_id
        self.broker = broker
        self.topic = topic
        self.config = config
        self.session = session
        self.out = out
        self.log_mode = config.broker == "log"
        self._handler = handler
        self._ack_early = ack_early
        self._ack_after_processing = ack_after_processing
        self._last_hb: int | None = None
        self._acks: list[Deliver] = []  # processed, ack on the next tick
        self._work: deque[Deliver] = deque()  # ack_early: acked, not yet handed over
        self._commit: dict[int, tuple[int, int, list[Deliver]]] = {}  # partition -> (next, gen, ds)
        self._last_commit = 0
        self._expect: dict[int, tuple[int, int]] = {}  # log: partition -> (generation, next offset)
        self._retired: dict[int, set[int]] = {}  # log: partition -> generations a rebalance replaced

    # --- inputs -------------------------------------------------------------------------------

    def tick(self, now_ms: int) -> None:
        if self._last_hb is None or now_ms - self._last_hb >= self.config.heartbeat_ms:
            self._last_hb = now_ms
            self.out.messages.append(Subscribe(self.node_id, self.broker, self.topic, self.session))
        while self._work:
            self._handler.process(self._work.popleft(), now_ms, acked=True)
        if self._acks:
            acks, self._acks = self._acks, []
            for d in acks:
                self._ack(d)
        if self._commit and now_ms - self._last_commit >= self.config.commit_interval_ms:
            self._flush_commits(now_ms)

    def on_deliver(self, d: Deliver, now_ms: int) -> None:
        self.out.events.append(
            CoreEvent(
                self.node_id,
                "consume",
                {
                    "topic": d.topic,
                    "partition": d.partition,
                    "offset": d.offset,
                    "tag": d.tag,
                    "msg_id": d.msg_id,
                    "row": d.row,
                    "redelivered": d.redelivered,
                    "generation": d.generation,
                },
            )
        )
        if self.log_mode and (self._stale(d) or self._gap(d)):
            return
        if self._ack_early:
            self._ack(d, early=True)
            if self.log_mode:
                self._flush_commits(now_ms)
            self._work.append(d)
            return
        self._handler.process(d, now_ms, acked=False)
        if self._ack_after_processing:
            self._acks.append(d)

    def on_commit_failed(self, m: CommitFailed) -> None:
        """The partition was rebalanced away from our generation: forget pending commits."""
        self._commit.pop(m.partition, None)
        self.out.events.append(
            CoreEvent(self.node_id, "commit-failed", {"topic": m.topic, "partition": m.partition,
                                                      "generation": m.generation})
        )

    def ack(self, d: Deliver) -> None:
        """The handler's effect for ``d`` is durable: ack it now (queue) or with the next
        offset commit (log).  Only for ``ack_after_processing=False``."""
        self._ack(d)

    # --- internals ----------------------------------------------------------------------------

    def _stale(self, d: Deliver) -> bool:
        """Log mode: a record of a generation a rebalance already replaced is dropped.

        A real consumer fetches over its own connection and never sees records of a
        generation it left; the simulated network may still deliver one that was pushed
        before the rebalance.  Taking it as current would rewind the expected offset to an
        old committed position and drop every later record as a gap, for good.

        Generations only grow (the broker's, like Kafka's, survive its restarts), so a
        record of a *lower* generation than the current one is old even when this consumer
        never saw that generation: delayed past the rebalance that replaced it (a paused
        consumer, a slow or reordering link).  Adopting it would retire the current
        generation, and every record the broker sends from then on would be dropped as
        stale: the partition would stop for good.
        """
        current = self._expect.get(d.partition)
        if current is not None and d.generation < current[0]:
            self._retired.setdefault(d.partition, set()).add(d.generation)
        if d.generation in self._retired.get(d.partition, ()):
            self.out.events.append(CoreEvent(self.node_id, "stale-delivery", {
                "partition": d.partition, "offset": d.offset, "generation": d.generation}))
            return True
        return False

    def _gap(self, d: Deliver) -> bool:
        """Log mode: a record after a lost one is dropped, so no commit can skip the loss.

        Real Kafka fetches in order over TCP; the simulated network may drop one pushed
        record and deliver the next, and committing past the hole would lose it silently.
        The broker rewinds to the committed offset when commits stall.
        """
        gen, nxt = self._expect.get(d.partition, (d.generation, d.committed))
        if gen != d.generation:
            self._retired.setdefault(d.partition, set()).add(gen)
            gen, nxt = d.generation, d.committed
        if d.offset > nxt:
            self._expect[d.partition] = (gen, nxt)
            self.out.events.append(CoreEvent(self.node_id, "gap", {"partition": d.partition, "offset": d.offset,
                                                                   "expected": nxt}))
            return True
        self._expect[d.partition] = (gen, max(nxt, d.offset + 1))
        return False

    def _ack(self, d: Deliver, early: bool = False) -> None:
        if self.log_mode:
            nxt, gen, ds = self._commit.get(d.partition, (-1, d.generation, []))
            if d.generation != gen:
                ds = []
            ds.append(d)
            self._commit[d.partition] = (max(nxt, d.offset + 1), d.generation, ds)
            return
        self.out.messages.append(Ack(self.node_id, self.broker, d.topic, d.tag, session=self.session))
        self._ack_event(d, early)

    def _flush_commits(self, now_ms: int) -> None:
        self._last_commit = now_ms
        for p in sorted(self._commit):
            nxt, gen, ds = self._commit[p]
            self.out.messages.append(
                Ack(self.node_id, self.broker, self.topic, f"p{p}@{nxt}", partition=p, offset=nxt,
                    generation=gen, session=self.session)
            )
            for d in ds:
                self._ack_event(d, self._ack_early)
        self._commit.clear()

    def _ack_event(self, d: Deliver, early: bool) -> None:
        self.out.events.append(
            CoreEvent(
                self.node_id,
                "msg-ack",
                {"topic": d.topic, "tag": d.tag, "msg_id": d.msg_id, "row": d.row,
                 "partition": d.partition, "offset": d.offset, "early": early},
            )
        )
