"""The pipeline's cores: document store, embedding worker, vector store (all sans-IO).

* :class:`DocStore` -- a :class:`~cluster.core.transactional.TransactionalNode`: a client's
  ``write(doc, text)`` bumps the doc's version and commits the doc row *and* the outbox row
  announcing ``(doc, version, text)`` in one transaction; the shared
  :class:`~cluster.core.outbox.OutboxRelay` publishes it keyed by doc id.
* :class:`EmbeddingWorker` -- consumes its topic through the shared
  :class:`~cluster.core.consumer.Consumer` (as its delivery handler, with the ack deferred
  until the vector store has confirmed: ``ack_after_processing=False``), batches documents,
  chunks them, embeds them with an injected function, sends one :class:`Upsert` per batch, and on :class:`UpsertAck` writes its inbox rows and acks
  in delivery order (so a Kafka offset commit never skips an unfinished record).
* :class:`VectorStoreNode` -- applies :func:`~cluster.core.pipeline.plan_upsert` to each
  document write, persists points (synced) before it confirms.

Trace events: ``doc-write`` (docstore), ``batch-start``, ``batch-embedded``, ``embed`` (one
per document version embedded), ``upsert-retry``, ``effect``/``dedup``/``msg-ack``/
``consume`` (the shared delivery vocabulary), ``vs-write`` (vector store).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cluster.core.consumer import Consumer
from cluster.core.local_store import LocalStore
from cluster.core.pipeline import (
    DOCSTORE_TOPIC,
    DocWrite,
    EmbedFn,
    PipelineConfig,
    PipelineFlaws,
    Point,
    Upsert,
    UpsertAck,
    chunk_id,
    chunk_text,
    hash_embed,
    plan_upsert,
    topic_of,
)
from cluster.core.saga_config import SagaFlaws
from cluster.core.saga_messages import CommitFailed, Deliver, payload_get, payload_of
from cluster.core.transactional import TransactionalNode
from cluster.core.types import (
    ClientReply,
    ClientRequest,
    CoreEvent,
    Message,
    Put,
    Ready,
    ReadyBuilder,
)

# --------------------------------------------------------------------------- document store


class DocStore(TransactionalNode):
    """Documents with versions; every change announced through the transactional outbox."""

    role = "docstore"
    dedup = False  # it consumes nothing

    def __init__(self, node_id: str, nodes: tuple[str, ...], config: PipelineConfig, rng: random.Random,
                 *, workers: int, durable: Mapping[str, Any] | None = None) -> None:
        super().__init__(node_id, nodes, config, rng, durable=durable, flaws=SagaFlaws(), topic=DOCSTORE_TOPIC)
        self.workers = workers
        self.pconfig = config

    def on_message(self, message: Message) -> None:
        if not isinstance(message, ClientRequest):
            return
        if message.op != "write" or message.key is None:
            self.out.replies.append(ClientReply(self.node_id, message.src, message.client_id, message.seq, "fail"))
            return
        doc, text = str(message.key), str(message.value)
        cur = self.store.table("doc").get(doc)
        version = (int(cur[0]) if cur else 0) + 1
        txn = self.begin()
        txn.put("doc", doc, (version, text))
        msg_id = f"{doc}@v{version}"
        row = self.outbox_row(txn, topic_of(doc, self.workers), doc, msg_id,
                              payload_of(doc=doc, version=version, text=text))
        txn.events.append(CoreEvent(self.node_id, "doc-write", {
            "doc": doc, "version": version, "msg_id": msg_id, "row": row.row, "words": len(text.split()),
        }))
        self.commit(txn)  # persisted (synced) before the reply leaves: persist, then send
        self.out.replies.append(ClientReply(self.node_id, message.src, message.client_id, message.seq, "ok",
                                            version))

    def docs(self) -> dict[str, tuple[int, str]]:
        return dict(sorted(self.store.table("doc").items()))


# --------------------------------------------------------------------------- worker


@dataclass
class _Entry:
    d: Deliver
    acked: bool
    done: bool = False


@dataclass
class _Pending:
    entries: list[_Entry]
    upsert: Upsert
    sent_at: int
    attempts: int = 1


@dataclass
class _Batch:
    id: str
    entries: list[_Entry]
    ready_at: int
    chunks: list[tuple[str, ...]] = field(default_factory=list)


class EmbeddingWorker:
    """Consume documents, embed them in batches, upsert, then ack.  See the module docstring."""

    role = "worker"

    def __init__(self, node_id: str, broker: str, store: str, topic: str, config: PipelineConfig,
                 rng: random.Random, *, durable: Mapping[str, Any] | None = None,
                 flaws: PipelineFlaws | None = None, embed: EmbedFn | None = None) -> None:
        self.node_id = node_id
        self.broker = broker
        self.vector_store = store
        self.topic = topic
        self.config = config
        self.flaws = flaws or PipelineFlaws()
        self.rng = rng
        self.embed = embed or hash_embed(config.dim)
        self.epoch = f"{rng.getrandbits(32):08x}"
        self.out = ReadyBuilder()
        self.local = LocalStore(durable)
        self.now = 0  # monotonic: batch timers, store timeouts
        self.wall = 0  # wall clock: the inbox's processed-at timestamps
        self._n = 0
        self.uses_inbox = not self.flaws.no_dedup
        # The ack waits for the vector store's confirm (``_ack_in_order``), not the next tick.
        self.consumer = Consumer(
            node_id, broker, topic, config, session=f"{node_id}-{self.epoch}", out=self.out,
            handler=self, ack_early=self.flaws.ack_before_embed, ack_after_processing=False,
        )
        self.entries: list[_Entry] = []  # delivery order, for in-order acks
        self.collecting: list[_Entry] = []
        self._first_at = 0
        self.embedding: _Batch | None = None
        self.pending: dict[str, _Pending] = {}

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (the real engine fetches cores at the end) without the embedding function:
        it belongs to the worker's process and may hold a whole model."""
        state = dict(self.__dict__)
        state["embed"] = None
        return state

    # --- Core protocol ------------------------------------------------------------------------

    def tick(self, now_ms: int, wall_ms: int | None = None) -> None:
        self.now = now_ms
        self.wall = now_ms if wall_ms is None else wall_ms
        self.consumer.tick(now_ms)
        self._maybe_start_batch()
        if self.embedding is not None and now_ms >= self.embedding.ready_at:
            self._finish_batch()
            self._maybe_start_batch()
        for req, p in self.pending.items():
            if now_ms - p.sent_at >= self.config.store_timeout_ms:
                p.sent_at = now_ms
                p.attempts += 1
                self.out.messages.append(p.upsert)
                self._emit("upsert-retry", req=req, attempt=p.attempts)

    def step(self, message: Message) -> None:
        if isinstance(message, Deliver):
            self.consumer.on_deliver(message, self.now)
        elif isinstance(message, UpsertAck):
            self._on_upsert_ack(message)
        elif isinstance(message, CommitFailed):
            self.consumer.on_commit_failed(message)

    def ready(self) -> Ready:
        return self.out.take()

    # --- called by the consumer (DeliveryHandler) ------------------------------------------------

    def process(self, d: Deliver, now_ms: int, *, acked: bool) -> None:
        """A delivery to embed (``acked``: the flawed consumer already acked it)."""
        e = _Entry(d, acked)
        self.entries.append(e)
        if self.uses_inbox and d.msg_id in self.inbox():
            self._emit("dedup", msg_id=d.msg_id, row=d.row, redelivered=d.redelivered)
            e.done = True
            self._ack_in_order()
            return
        if not self.collecting:
            self._first_at = self.now
        self.collecting.append(e)

    def inbox(self) -> Mapping[str, Any]:
        """Message id -> local time its embedding was confirmed by the vector store."""
        return self.local.table("inbox")

    # --- batches ------------------------------------------------------------------------------

    def new_id(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}-{self.node_id}-{self.epoch}-{self._n}"

    def _maybe_start_batch(self) -> None:
        if self.embedding is not None or not self.collecting:
            return
        full = len(self.collecting) >= self.config.batch_size
        if not full and self.now - self._first_at < self.config.batch_wait_ms:
            return
        entries = self.collecting[:self.config.batch_size]
        del self.collecting[:self.config.batch_size]
        self._first_at = self.now
        chunks = [chunk_text(str(payload_get(e.d.payload, "text", "")), self.config.chunk_words,
                             self.config.chunk_overlap) for e in entries]
        n = sum(len(c) for c in chunks)
        cost = self.config.embed_base_ms + self.config.embed_ms_per_chunk * n
        batch = _Batch(self.new_id("batch"), entries, self.now + cost, chunks)
        self.embedding = batch
        self._emit("batch-start", batch=batch.id, size=len(entries), chunks=n,
                   msg_ids=[e.d.msg_id for e in entries], ready_at=batch.ready_at)

    def _finish_batch(self) -> None:
        batch = self.embedding
        assert batch is not None
        self.embedding = None
        texts = [t for cs in batch.chunks for t in cs]
        vectors = list(self.embed(texts)) if texts else []
        writes: list[DocWrite] = []
        k = 0
        for e, cs in zip(batch.entries, batch.chunks, strict=True):
            p = e.d.payload
            doc, version = str(payload_get(p, "doc")), int(payload_get(p, "version"))
            nonce = f"{self.rng.getrandbits(24):06x}" if self.flaws.unstable_chunk_ids else None
            points = []
            for i, text in enumerate(cs):
                vec = tuple(float(x) for x in vectors[k])
                k += 1
                points.append(Point(chunk_id(doc, version, i, nonce), doc, version, i, text, vec))
            writes.append(DocWrite(doc, version, e.d.msg_id, tuple(points)))
            self._emit("embed", doc=doc, version=version, chunks=len(cs), msg_id=e.d.msg_id, row=e.d.row,
                       batch=batch.id, redelivered=e.d.redelivered)
        up = Upsert(self.node_id, self.vector_store, batch.id, tuple(writes))
        self.pending[batch.id] = _Pending(batch.entries, up, self.now)
        self.out.messages.append(up)
        self._emit("batch-embedded", batch=batch.id, size=len(batch.entries), chunks=len(texts))

    def _on_upsert_ack(self, m: UpsertAck) -> None:
        p = self.pending.pop(m.req, None)
        if p is None:
            return  # a duplicate confirm
        outcomes = dict(m.outcomes)
        for e in p.entries:
            d = e.d
            doc, version = payload_get(d.payload, "doc"), payload_get(d.payload, "version")
            if self.uses_inbox:
                self.out.persist.append(self.local.put("inbox", d.msg_id, self.wall))
            self._emit("effect", service="embedder", action="embed", saga=f"{doc}@v{version}", doc=doc,
                       version=version, key=d.msg_id, row=d.row, redelivered=d.redelivered,
                       outcome=outcomes.get(d.msg_id, "unknown"), compensation=False)
            e.done = True
        self._ack_in_order()

    def _ack_in_order(self) -> None:
        """Ack the finished prefix: a later offset must never be committed before an earlier one."""
        while self.entries and self.entries[0].done:
            e = self.entries.pop(0)
            if not e.acked:
                self.consumer.ack(e.d)

    def _emit(self, kind: str, **data: Any) -> None:
        self.out.events.append(CoreEvent(self.node_id, kind, data))


# --------------------------------------------------------------------------- vector store


class VectorStoreNode:
    """Points by id, grouped by doc, with each doc's head version; see :func:`plan_upsert`."""

    role = "vector-store"

    def __init__(self, node_id: str, config: PipelineConfig, rng: random.Random, *,
                 durable: Mapping[str, Any] | None = None, flaws: PipelineFlaws | None = None) -> None:
        self.node_id = node_id
        self.config = config
        self.flaws = flaws or PipelineFlaws()
        self.out = ReadyBuilder()
        self.points: dict[str, dict[str, Point]] = {}
        self.heads: dict[str, int] = {}
        for k in sorted(durable or {}):
            v = (durable or {})[k]
            kind, _, key = k.partition("/")
            if v is None:
                continue
            if kind == "pt":
                self.points.setdefault(v.doc, {})[key] = v
            elif kind == "head":
                self.heads[key] = int(v)

    def tick(self, now_ms: int, wall_ms: int | None = None) -> None:
        pass

    def step(self, message: Message) -> None:
        if not isinstance(message, Upsert):
            return
        outcomes: list[tuple[str, str]] = []
        for w in message.writes:
            existing = self.points.setdefault(w.doc, {})
            plan = plan_upsert(existing, self.heads.get(w.doc), w, self.flaws.last_write_wins)
            for pid in plan.delete:
                del existing[pid]
                self.out.persist.append(Put(f"pt/{pid}", None))
            for pt in plan.put:
                existing[pt.point_id] = pt
                self.out.persist.append(Put(f"pt/{pt.point_id}", pt))
            if plan.head_after is not None and plan.head_after != plan.head_before:
                self.heads[w.doc] = plan.head_after
                self.out.persist.append(Put(f"head/{w.doc}", plan.head_after))
            outcomes.append((w.msg_id, plan.outcome))
            self.out.events.append(CoreEvent(self.node_id, "vs-write", {
                "doc": w.doc, "version": w.version, "msg_id": w.msg_id, "req": message.req,
                "outcome": plan.outcome, "head_before": plan.head_before, "head_after": plan.head_after,
                "added": len(plan.put), "removed": len(plan.delete), "points": len(existing),
            }))
        self.out.messages.append(UpsertAck(self.node_id, message.src, message.req, tuple(outcomes)))

    def ready(self) -> Ready:
        return self.out.take()

    def snapshot(self) -> dict[str, list[list[Any]]]:
        """doc -> ``[[point_id, version, index], ...]`` (sorted), for the final-state record."""
        return {doc: [[p.point_id, p.version, p.index] for _, p in sorted(pts.items())]
                for doc, pts in sorted(self.points.items()) if pts}


__all__ = ["DocStore", "EmbeddingWorker", "VectorStoreNode"]
