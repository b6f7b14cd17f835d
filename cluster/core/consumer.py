"""The consumer: at-least-once delivery made effectively-once by an inbox.

Correct design, per delivery: look the message id up in the inbox; if new, apply the effect
and write the inbox row **in the same transaction**; then (on the next tick, i.e. after the
commit returned) ack the delivery (queue) or commit the offset (log, batched every
``commit_interval_ms``).  A crash anywhere before the ack makes the broker deliver again,
and the inbox turns the second delivery into a no-op (``dedup``) that re-sends the stored
reply.

The consumer also heartbeats its subscription (``Subscribe`` every ``heartbeat_ms``); a
restarted consumer has a new session id, which tells the broker to requeue / rewind what
the previous incarnation held.

Flaws it implements: ``ack_before_processing`` (ack on receipt, apply on the next tick),
``consumer_without_dedup`` (no inbox lookup) and ``dedup_window_ttl`` (inbox rows expire
after ``dedup_ttl_ms`` of *local* clock time, so a clock jump empties the inbox).

Trace events: ``deliver``, ``dedup``, ``msg-ack`` (see ``docs/sagas.md``).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from cluster.core.saga_messages import Ack, CommitFailed, Deliver, Subscribe
from cluster.core.types import CoreEvent, Put, ReadyBuilder

if TYPE_CHECKING:
    from cluster.core.service import SagaConfig, SagaFlaws, TransactionalNode


class Consumer:
    def __init__(
        self,
        node_id: str,
        broker: str,
        topic: str,
        config: SagaConfig,
        flaws: SagaFlaws,
        *,
        session: str,
        out: ReadyBuilder,
        dedup: bool = True,
    ) -> None:
        self.node_id = node_id
        self.broker = broker
        self.topic = topic
        self.config = config
        self.flaws = flaws
        self.session = session
        self.out = out
        self.dedup = dedup
        self.log_mode = config.broker == "log"
        self._last_hb: int | None = None
        self._acks: list[Deliver] = []  # processed, ack on the next tick
        self._work: deque[Deliver] = deque()  # ack_before_processing: acked, not yet applied
        self._commit: dict[int, tuple[int, int, list[Deliver]]] = {}  # partition -> (next, gen, ds)
        self._last_commit = 0
        self._expect: dict[int, tuple[int, int]] = {}  # log: partition -> (generation, next offset)

    # --- inputs -------------------------------------------------------------------------------

    def tick(self, now_ms: int, node: TransactionalNode) -> None:
        if self._last_hb is None or now_ms - self._last_hb >= self.config.heartbeat_ms:
            self._last_hb = now_ms
            self.out.messages.append(Subscribe(self.node_id, self.broker, self.topic, self.session))
        if self.flaws.dedup_window_ttl and self.dedup:
            self._expire(now_ms, node)
        while self._work:
            self._process(self._work.popleft(), node)
        if self._acks:
            acks, self._acks = self._acks, []
            for d in acks:
                self._ack(d)
        if self._commit and now_ms - self._last_commit >= self.config.commit_interval_ms:
            self._flush_commits(now_ms)

    def on_deliver(self, d: Deliver, now_ms: int, node: TransactionalNode) -> None:
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
        if self.log_mode and self._gap(d):
            return
        if self.flaws.ack_before_processing:
            self._ack(d, early=True)
            if self.log_mode:
                self._flush_commits(now_ms)
            self._work.append(d)
            return
        self._process(d, node)
        self._acks.append(d)

    def _gap(self, d: Deliver) -> bool:
        """Log mode: a record after a lost one is dropped, so no commit can skip the loss.

        Real Kafka fetches in order over TCP; the simulated network may drop one pushed
        record and deliver the next, and committing past the hole would lose it silently.
        The broker rewinds to the committed offset when commits stall.
        """
        gen, nxt = self._expect.get(d.partition, (d.generation, d.committed))
        if gen != d.generation:
            gen, nxt = d.generation, d.committed
        if d.offset > nxt:
            self._expect[d.partition] = (gen, nxt)
            self.out.events.append(CoreEvent(self.node_id, "gap", {"partition": d.partition, "offset": d.offset,
                                                                   "expected": nxt}))
            return True
        self._expect[d.partition] = (gen, max(nxt, d.offset + 1))
        return False

    def on_commit_failed(self, m: CommitFailed) -> None:
        """The partition was rebalanced away from our generation: forget pending commits."""
        self._commit.pop(m.partition, None)
        self.out.events.append(
            CoreEvent(self.node_id, "commit-failed", {"topic": m.topic, "partition": m.partition,
                                                      "generation": m.generation})
        )

    # --- internals ----------------------------------------------------------------------------

    def _process(self, d: Deliver, node: TransactionalNode) -> None:
        inbox = node.inbox()
        skip = getattr(node, "skip_dedup", None)
        bypass = bool(skip(d)) if skip is not None else False
        if self.dedup and not bypass and d.msg_id in inbox:
            self.out.events.append(
                CoreEvent(self.node_id, "dedup", {"msg_id": d.msg_id, "row": d.row, "redelivered": d.redelivered})
            )
            node.on_duplicate(d)
            return
        txn = node.begin()
        node.handle(d, txn)
        if self.dedup:
            txn.put("inbox", d.msg_id, node.now)
        node.commit(txn)

    def _expire(self, now_ms: int, node: TransactionalNode) -> None:
        inbox = node.inbox()
        old = [k for k, at in inbox.items() if now_ms - int(at) > self.config.dedup_ttl_ms]
        for k in old:
            del inbox[k]
            self.out.persist.append(Put(f"inbox/{k}", None))
        if old:
            self.out.events.append(CoreEvent(self.node_id, "inbox-expire", {"count": len(old), "local_ms": now_ms}))

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
                self._ack_event(d, self.flaws.ack_before_processing)
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
