"""Simulated brokers as pure cores: a RabbitMQ-like queue and a Kafka-like partitioned log.

They exist so the simulator can show, deterministically, what real brokers promise and what
they do not.  Both speak the small vocabulary of :mod:`cluster.core.saga_messages`.

**QueueBroker** (RabbitMQ: durable queue, persistent messages, publisher confirms, manual acks)

* A published message is written and synced *before* the ``PublishAck`` (publisher confirm)
  is sent, so a confirmed message survives a broker crash (``queue_durable = false`` keeps it
  in memory only: a restart loses every queued message).
* Acks are written lazily (``sync=False``, flushed with the next synced write), so a broker
  crash can forget recent acks: those messages come back with ``redelivered=True``.  That is
  the duplication at-least-once allows.
* Unacked deliveries are requeued (``redelivered=True``) when the consumer's session dies
  (no heartbeat for ``session_timeout_ms``, or the consumer comes back with a new session)
  or when an ack is overdue by ``ack_timeout_ms``.  Messages recovered at restart are all
  marked redelivered, as RabbitMQ does.

**LogBroker** (Kafka: partitioned log, offsets, consumer-group commits, rebalances)

* A topic has ``partitions`` partitions; a record goes to ``crc32(key) % partitions`` (or
  to the partition the publisher names), so per-key order is per-partition order.  Records
  are appended and synced before the ack, which says the partition and offset.
* An idempotent producer's record carries ``(producer, producer_seq)``; the broker appends
  each pair once and answers a retry with the first append's partition and offset
  (``broker-dedup``), as Kafka does for an idempotent producer's retries.  The pairs are
  rebuilt from the log at restart, so dedup outlives a broker crash with disk storage.
  (Kafka also rejects out-of-order sequence numbers; this model only deduplicates.)
* One consumer group per topic.  Each member session gets a *generation*; when the session
  dies or is replaced, the generation is bumped and every partition rewinds to its committed
  offset (a rebalance): records processed but not yet committed are delivered again.
  Generations only grow, across broker restarts too (Kafka keeps them in its offsets
  topic): a restarted broker starts a large step above the previous incarnation's start,
  which it keeps on disk, so a consumer can tell a late record of an old generation from
  the current one's.  (With ``log_storage = "memory"`` that is lost with everything else.)
* A commit (``Ack`` with ``offset``) from a stale generation is refused (``CommitFailed``).
* ``log_storage = "memory"`` mimics Tansu's memory storage: nothing is persisted, so a
  broker restart loses every record and every committed offset.

Trace events (``node`` is the broker): ``broker-append``, ``broker-deliver``, ``broker-ack``,
``broker-requeue``, ``broker-rebalance``, ``broker-commit``, ``broker-recover``,
``broker-dedup``.
"""

from __future__ import annotations

import bisect
import random
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cluster.core.saga_config import SagaConfig
from cluster.core.saga_messages import Ack, CommitFailed, Deliver, Publish, PublishAck, Subscribe
from cluster.core.types import CoreEvent, Message, Put, Ready, ReadyBuilder, Splice

_GENERATIONS_PER_INCARNATION = 1_000_000_000
"""More generations than one broker incarnation hands out (a first one starts below 10^6)."""
_GENERATION_FLOOR = "generation-floor"
"""Durable key: the first generation of the latest incarnation.  Each restart starts
``_GENERATIONS_PER_INCARNATION`` above it, so generations grow across restarts without
a write per rebalance."""


@dataclass(frozen=True, slots=True)
class Stored:
    """A message as the broker stores it."""

    msg_id: str
    row: str
    key: str
    payload: Any
    publisher: str
    producer: str = ""
    producer_seq: int = -1


@dataclass
class _Session:
    session: str
    consumer: str
    last_seen: int
    generation: int = 0


class _BrokerBase:
    role = "broker"

    def __init__(self, node_id: str, config: SagaConfig, rng: random.Random) -> None:
        self.node_id = node_id
        self.config = config
        self.rng = rng
        self.epoch = f"{rng.getrandbits(32):08x}"
        self.out = ReadyBuilder()
        self.now = 0
        self.sessions: dict[str, _Session] = {}  # topic -> live session
        self._need_sync = False
        self._n = 0

    def emit(self, kind: str, **data: Any) -> None:
        self.out.events.append(CoreEvent(self.node_id, kind, data))

    def persist(self, op: Put | Splice, sync: bool) -> None:
        self.out.persist.append(op)
        self._need_sync = self._need_sync or sync

    def ready(self) -> Ready:
        if self.out.persist:
            self.out.sync = self._need_sync
        self._need_sync = False
        return self.out.take()

    def tick(self, now_ms: int, wall_ms: int | None = None) -> None:
        self.now = now_ms
        for topic in sorted(self.sessions):
            s = self.sessions[topic]
            if now_ms - s.last_seen > self.config.session_timeout_ms:
                del self.sessions[topic]
                self.session_lost(topic, s, "session-timeout")
        self.on_tick()
        self.pump()

    def step(self, message: Message) -> None:
        if isinstance(message, Publish):
            self.on_publish(message)
        elif isinstance(message, Subscribe):
            cur = self.sessions.get(message.topic)
            if cur is not None and cur.session == message.session:
                cur.last_seen = self.now
            else:
                if cur is not None:
                    self.session_lost(message.topic, cur, "new-session")
                self.sessions[message.topic] = _Session(message.session, message.src, self.now)
                self.session_started(message.topic)
        elif isinstance(message, Ack):
            self.on_ack(message)
        self.pump()

    # subclass hooks
    def on_publish(self, m: Publish) -> None: ...
    def on_ack(self, m: Ack) -> None: ...
    def on_tick(self) -> None: ...
    def pump(self) -> None: ...
    def session_lost(self, topic: str, s: _Session, reason: str) -> None: ...
    def session_started(self, topic: str) -> None: ...


class QueueBroker(_BrokerBase):
    """One durable queue per topic; see the module docstring for the guarantees."""

    def __init__(self, node_id: str, config: SagaConfig, rng: random.Random,
                 durable: Mapping[str, Any] | None = None) -> None:
        super().__init__(node_id, config, rng)
        self.messages: dict[str, dict[int, Stored]] = {}  # topic -> seq -> message
        self.ready_q: dict[str, list[int]] = {}  # topic -> seqs waiting, sorted
        self.redelivered: set[int] = set()  # membership only
        self.unacked: dict[str, tuple[str, int, str, int]] = {}  # tag -> (topic, seq, session, at)
        self._seq = 0
        recovered = 0
        for k in sorted(durable or {}):
            kind, topic, seq_s = k.split("/")
            value = (durable or {})[k]
            if kind != "q" or value is None:
                continue
            seq = int(seq_s)
            self.messages.setdefault(topic, {})[seq] = value
            self.ready_q.setdefault(topic, []).append(seq)
            self.redelivered.add(seq)
            self._seq = max(self._seq, seq)
            recovered += 1
        for q in self.ready_q.values():
            q.sort()
        self.emit("broker-recover", broker="queue", recovered=recovered, durable=config.queue_durable)

    def on_publish(self, m: Publish) -> None:
        self._seq += 1
        seq = self._seq
        self.messages.setdefault(m.topic, {})[seq] = Stored(m.msg_id, m.row, m.key, m.payload, m.src)
        bisect.insort(self.ready_q.setdefault(m.topic, []), seq)
        if self.config.queue_durable:
            self.persist(Put(f"q/{m.topic}/{seq:09d}", self.messages[m.topic][seq]), sync=True)
        self.out.messages.append(PublishAck(self.node_id, m.src, m.row))
        self.emit("broker-append", topic=m.topic, partition=0, offset=seq, msg_id=m.msg_id, row=m.row,
                  publisher=m.src)

    def on_ack(self, m: Ack) -> None:
        entry = self.unacked.get(m.tag)
        if entry is None:
            return  # stale tag (requeued meanwhile, or from before a restart): ignored
        topic, seq, _, _ = entry
        del self.unacked[m.tag]
        msg = self.messages.get(topic, {}).pop(seq, None)
        self.redelivered.discard(seq)
        if self.config.queue_durable:
            self.persist(Put(f"q/{topic}/{seq:09d}", None), sync=False)  # acks are lazy
        self.emit("broker-ack", topic=topic, offset=seq, tag=m.tag, msg_id=msg.msg_id if msg else None)

    def on_tick(self) -> None:
        late = [t for t, e in self.unacked.items() if self.now - e[3] > self.config.ack_timeout_ms]
        if late:
            self._requeue(late, "ack-timeout")

    def session_lost(self, topic: str, s: _Session, reason: str) -> None:
        tags = [t for t, e in self.unacked.items() if e[2] == s.session]
        self._requeue(tags, reason, topic=topic)

    def _requeue(self, tags: list[str], reason: str, topic: str | None = None) -> None:
        seqs = []
        for tag in tags:
            t, seq, _, _ = self.unacked.pop(tag)
            if seq in self.messages.get(t, {}):
                bisect.insort(self.ready_q.setdefault(t, []), seq)
                self.redelivered.add(seq)
                seqs.append(seq)
        if tags:
            self.emit("broker-requeue", topic=topic, reason=reason, count=len(seqs), offsets=seqs)

    def pump(self) -> None:
        for topic in sorted(self.sessions):
            s = self.sessions[topic]
            q = self.ready_q.get(topic, [])
            held = sum(1 for e in self.unacked.values() if e[2] == s.session)
            while q and held < self.config.prefetch:
                seq = q.pop(0)
                msg = self.messages.get(topic, {}).get(seq)
                if msg is None:
                    continue
                self._n += 1
                tag = f"{self.epoch}.{self._n}"
                self.unacked[tag] = (topic, seq, s.session, self.now)
                held += 1
                redelivered = seq in self.redelivered
                self.out.messages.append(
                    Deliver(self.node_id, s.consumer, topic, 0, seq, tag, msg.msg_id, msg.row, msg.key,
                            msg.payload, redelivered)
                )
                self.emit("broker-deliver", topic=topic, offset=seq, tag=tag, msg_id=msg.msg_id,
                          row=msg.row, consumer=s.consumer, redelivered=redelivered)


class LogBroker(_BrokerBase):
    """A partitioned log with consumer-group offsets; see the module docstring."""

    def __init__(self, node_id: str, config: SagaConfig, rng: random.Random,
                 durable: Mapping[str, Any] | None = None) -> None:
        super().__init__(node_id, config, rng)
        self.disk = config.log_storage == "disk"
        self.logs: dict[tuple[str, int], list[Stored]] = {}
        self.committed: dict[tuple[str, int], int] = {}
        self.position: dict[tuple[str, int], int] = {}
        self.delivered_max: dict[tuple[str, int], int] = {}
        self.progress_at: dict[tuple[str, int], int] = {}
        self.generation = rng.randrange(1, 1000) * 1000
        self.producers: dict[tuple[str, int], tuple[int, int]] = {}  # (producer, seq) -> (partition, offset)
        records = 0
        if durable is not None:
            # A restart: start above every generation an earlier incarnation handed out.
            floor = int(durable.get(_GENERATION_FLOOR, 0)) + _GENERATIONS_PER_INCARNATION
            self.generation = max(self.generation, floor)
            if self.disk:
                self.persist(Put(_GENERATION_FLOOR, floor), sync=True)
        for k in sorted(durable or {}):
            if k == _GENERATION_FLOOR:
                continue
            kind, topic, p_s = k.split("/")
            value = (durable or {})[k]
            if kind == "log":
                self.logs[(topic, int(p_s))] = list(value)
                records += len(value)
                for off, rec in enumerate(value):
                    if rec.producer:
                        self.producers[(rec.producer, rec.producer_seq)] = (int(p_s), off)
            elif kind == "off":
                self.committed[(topic, int(p_s))] = int(value)
        self.emit("broker-recover", broker="log", recovered=records, storage=config.log_storage)

    def partition_of(self, key: str) -> int:
        return zlib.crc32(key.encode()) % self.config.partitions

    def on_publish(self, m: Publish) -> None:
        if m.producer:
            seen = self.producers.get((m.producer, m.producer_seq))
            if seen is not None:
                self.out.messages.append(PublishAck(self.node_id, m.src, m.row, True, seen[0], seen[1]))
                self.emit("broker-dedup", topic=m.topic, partition=seen[0], offset=seen[1], msg_id=m.msg_id,
                          row=m.row, producer=m.producer, producer_seq=m.producer_seq)
                return
        part = m.partition % self.config.partitions if m.partition >= 0 else self.partition_of(m.key)
        tp = (m.topic, part)
        log = self.logs.setdefault(tp, [])
        rec = Stored(m.msg_id, m.row, m.key, m.payload, m.src, m.producer, m.producer_seq)
        if self.disk:
            self.persist(Splice(f"log/{tp[0]}/{tp[1]}", len(log), (rec,)), sync=True)
        log.append(rec)
        offset = len(log) - 1
        if m.producer:
            self.producers[(m.producer, m.producer_seq)] = (part, offset)
        self.out.messages.append(PublishAck(self.node_id, m.src, m.row, True, part, offset))
        if m.producer:
            self.emit("broker-append", topic=m.topic, partition=part, offset=offset, msg_id=m.msg_id,
                      row=m.row, publisher=m.src, producer=m.producer, producer_seq=m.producer_seq)
        else:
            self.emit("broker-append", topic=m.topic, partition=part, offset=offset, msg_id=m.msg_id,
                      row=m.row, publisher=m.src)

    def on_ack(self, m: Ack) -> None:
        s = self.sessions.get(m.topic)
        tp = (m.topic, m.partition)
        if s is None or m.generation != s.generation or m.session != s.session:
            self.out.messages.append(CommitFailed(self.node_id, m.src, m.topic, m.partition, m.generation))
            self.emit("broker-commit", topic=m.topic, partition=m.partition, offset=m.offset,
                      generation=m.generation, refused=True)
            return
        if m.offset > self.committed.get(tp, 0):
            self.committed[tp] = m.offset
            self.progress_at[tp] = self.now
            if self.disk:
                self.persist(Put(f"off/{tp[0]}/{tp[1]}", m.offset), sync=True)
        self.emit("broker-commit", topic=m.topic, partition=m.partition, offset=m.offset,
                  generation=m.generation, refused=False)

    def _rewind(self, topic: str, reason: str) -> None:
        for p in range(self.config.partitions):
            tp = (topic, p)
            self.position[tp] = self.committed.get(tp, 0)
            self.progress_at[tp] = self.now
        self.emit("broker-rebalance", topic=topic, reason=reason, generation=self.generation,
                  committed=[self.committed.get((topic, p), 0) for p in range(self.config.partitions)])

    def session_lost(self, topic: str, s: _Session, reason: str) -> None:
        self.generation += 1
        self._rewind(topic, reason)

    def session_started(self, topic: str) -> None:
        self.generation += 1
        self.sessions[topic].generation = self.generation
        self._rewind(topic, "join")

    def on_tick(self) -> None:
        for topic in sorted(self.sessions):
            for p in range(self.config.partitions):
                tp = (topic, p)
                pos, com = self.position.get(tp, 0), self.committed.get(tp, 0)
                if pos > com and self.now - self.progress_at.get(tp, 0) > self.config.ack_timeout_ms:
                    self.position[tp] = com
                    self.progress_at[tp] = self.now
                    self.emit("broker-requeue", topic=topic, partition=p, reason="commit-timeout",
                              count=pos - com, offsets=list(range(com, pos)))

    def pump(self) -> None:
        for topic in sorted(self.sessions):
            s = self.sessions[topic]
            for p in range(self.config.partitions):
                tp = (topic, p)
                log = self.logs.get(tp, [])
                pos = self.position.get(tp, self.committed.get(tp, 0))
                com = self.committed.get(tp, 0)
                while pos < len(log) and pos - com < self.config.prefetch:
                    rec = log[pos]
                    redelivered = pos <= self.delivered_max.get(tp, -1)
                    self.delivered_max[tp] = max(self.delivered_max.get(tp, -1), pos)
                    self.out.messages.append(
                        Deliver(self.node_id, s.consumer, topic, p, pos, f"p{p}@{pos}", rec.msg_id, rec.row,
                                rec.key, rec.payload, redelivered, s.generation, com)
                    )
                    self.emit("broker-deliver", topic=topic, partition=p, offset=pos, msg_id=rec.msg_id,
                              row=rec.row, consumer=s.consumer, redelivered=redelivered,
                              generation=s.generation)
                    pos += 1
                self.position[tp] = pos


def make_broker(node_id: str, config: SagaConfig, rng: random.Random,
                durable: Mapping[str, Any] | None) -> QueueBroker | LogBroker:
    if config.broker == "log":
        return LogBroker(node_id, config, rng, durable)
    return QueueBroker(node_id, config, rng, durable)
