"""The RAG ingestion pipeline's shared vocabulary: flaws, config, chunker, messages, store rule.

The pipeline (see ``docs/pipeline.md``)::

    client --write doc--> docstore (doc row + outbox row, one transaction)
        --relay, keyed by doc id--> broker topic embed-<k>
        --> embedding worker (batches, chunks, embeds, upserts) --> vector store
        <-- UpsertAck -- then inbox row + broker ack / offset commit

Everything here is pure and deterministic, so the simulator and the real runtime (Ray +
sentence-transformers + a sqlite/numpy store) share it:

* :func:`chunk_text` -- fixed-size word windows with overlap.  Deterministic in the text,
  so the same document version always gives the same chunks, hence stable chunk ids
  ``f"{doc}:{version}:{i}"`` (:func:`chunk_id`).
* :func:`hash_embed` -- the simulator's stand-in for the model: a hash-derived unit
  vector with the same interface as the real embedder (texts in, vectors out).
* :func:`plan_upsert` -- the vector store's conditional upsert, shared by the simulated
  store node and the real store so both decide "newer / same / stale" identically.
"""

from __future__ import annotations

import hashlib
import math
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from cluster.core.flaws import Flaws
from cluster.core.service import SagaConfig
from cluster.core.types import Message

EmbedFn = Callable[[Sequence[str]], Sequence[Sequence[float]]]
"""Texts in, one vector per text out (the real one is a sentence-transformers model)."""

DOC_TOPIC_PREFIX = "embed-"
DOCSTORE_TOPIC = "docstore"


# --------------------------------------------------------------------------- flaws


@dataclass(frozen=True)
class PipelineFlaws(Flaws):
    """Deliberate mistakes in the ingestion pipeline; all off is the correct design."""

    last_write_wins: bool = False
    """The vector store writes whatever arrives, without comparing versions."""
    ack_before_embed: bool = False
    """The worker acks / commits a document as soon as it is delivered, before embedding."""
    no_dedup: bool = False
    """The worker keeps no inbox: every redelivery is embedded again (wasted work only)."""
    unstable_chunk_ids: bool = False
    """Chunk ids carry a per-attempt nonce, so a re-embedded version adds duplicate chunks."""


PipelineFlaws.DOCS = {
    "last_write_wins": (
        "The vector store writes every upsert it receives, without comparing the version it "
        "was computed from: a late or redelivered embedding of an old version overwrites the "
        "newer one, and the store serves stale text until (unless) the document changes again."
    ),
    "ack_before_embed": (
        "The worker acknowledges a document (queue ack / offset commit) as soon as it arrives "
        "and embeds it afterwards: a worker crash mid-batch loses those documents for good."
    ),
    "no_dedup": (
        "The worker keeps no inbox of finished message ids, so every redelivery is chunked and "
        "embedded again. The versioned store makes the rewrite a no-op, so this is wasted GPU "
        "time (see the cost line), not a wrong result."
    ),
    "unstable_chunk_ids": (
        "Chunk ids include a nonce drawn per embedding attempt instead of doc:version:index, so "
        "when a version is embedded twice (a retry after a crash) the store cannot recognise "
        "the chunks and keeps both copies: search returns the same passage twice."
    ),
}


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class PipelineConfig(SagaConfig):
    """Broker/outbox options (inherited from :class:`SagaConfig`) plus the worker's own.

    Times are milliseconds of the node's local clock.  ``embed_*`` is the simulated GPU time
    of one batch (the real runtime sets both to 0 and lets the model take real time).
    """

    prefetch: int = 16
    batch_size: int = 4
    """Documents per embedding batch (a batch also starts when ``batch_wait_ms`` elapsed)."""
    batch_wait_ms: int = 30
    chunk_words: int = 12
    """Words per chunk window."""
    chunk_overlap: int = 4
    """Words shared by consecutive windows (so a sentence cut at a boundary is in both)."""
    embed_base_ms: int = 40
    embed_ms_per_chunk: int = 5
    store_timeout_ms: int = 300
    """Resend an upsert the store has not confirmed after this long."""
    dim: int = 8
    """Vector size of the simulated embedding (the real model has 384)."""
    embedder: str = "hash"
    """``"hash"``: the simulator's deterministic stand-in; ``"minilm"``: the real
    all-MiniLM-L6-v2 model (the real engine's default; injected by the system factory, the
    core only sees a function from texts to vectors)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.batch_size < 1:
            raise ValueError("config: batch_size must be >= 1")
        if self.chunk_words < 1 or not 0 <= self.chunk_overlap < self.chunk_words:
            raise ValueError("config: need chunk_words >= 1 and 0 <= chunk_overlap < chunk_words")
        if self.dim < 1:
            raise ValueError("config: dim must be >= 1")
        if self.embedder not in ("hash", "minilm"):
            raise ValueError(f"config: embedder must be 'hash' or 'minilm', got {self.embedder!r}")


# --------------------------------------------------------------------------- roles


def pipeline_roles(nodes: tuple[str, ...]) -> tuple[str, str, tuple[str, ...], str]:
    """``(broker, docstore, workers, vector_store)``: n1, n2, n3..n(N-1), nN.

    Five nodes give two workers; each worker owns one topic (``embed-0``, ``embed-1``...) and
    a document always goes to the same topic (crc32 of its id), which keeps one document's
    versions in order on one worker -- the ordering a keyed Kafka partition gives.
    """
    if len(nodes) < 5:
        raise ValueError(f"the pipeline system needs at least 5 nodes (broker, docstore, 2 workers, "
                         f"vector store), got {len(nodes)}")
    return nodes[0], nodes[1], tuple(nodes[2:-1]), nodes[-1]


def topic_of(doc: str, workers: int) -> str:
    return f"{DOC_TOPIC_PREFIX}{zlib.crc32(doc.encode()) % max(1, workers)}"


# --------------------------------------------------------------------------- chunking and embedding


def chunk_text(text: str, words: int, overlap: int) -> tuple[str, ...]:
    """Fixed windows of ``words`` words, consecutive windows sharing ``overlap`` words.

    The last window ends at the last word (it may be shorter).  An empty text has no chunks.
    Deterministic in the text alone, which is what makes chunk ids stable across retries.
    """
    toks = text.split()
    if not toks:
        return ()
    step = words - overlap
    out: list[str] = []
    start = 0
    while True:
        out.append(" ".join(toks[start:start + words]))
        if start + words >= len(toks):
            break
        start += step
    return tuple(out)


def chunk_count(text: str, words: int, overlap: int) -> int:
    n = len(text.split())
    if n == 0:
        return 0
    if n <= words:
        return 1
    step = words - overlap
    return 1 + math.ceil((n - words) / step)


def chunk_id(doc: str, version: int, index: int, nonce: str | None = None) -> str:
    """``doc:version:index`` -- the same chunk of the same version always has the same id."""
    base = f"{doc}:{version}:{index}"
    return base if nonce is None else f"{base}~{nonce}"


def hash_embed(dim: int) -> EmbedFn:
    """The simulator's embedding: a unit vector from sha256 of the text (same interface)."""

    def embed(texts: Sequence[str]) -> list[tuple[float, ...]]:
        out: list[tuple[float, ...]] = []
        for t in texts:
            h = hashlib.sha256(t.encode()).digest()
            raw = [(h[i % len(h)] - 127.5) / 127.5 for i in range(dim)]
            norm = math.sqrt(sum(x * x for x in raw)) or 1.0
            out.append(tuple(round(x / norm, 6) for x in raw))
        return out

    return embed


# --------------------------------------------------------------------------- messages


@dataclass(frozen=True)
class Point:
    """One chunk's embedding as the vector store keeps it, with the version it came from."""

    point_id: str
    doc: str
    version: int
    index: int
    text: str
    vector: tuple[float, ...]


@dataclass(frozen=True)
class DocWrite:
    """All chunks of one document version (``msg_id`` names the outbox message)."""

    doc: str
    version: int
    msg_id: str
    points: tuple[Point, ...]


@dataclass(frozen=True)
class Upsert(Message):
    """worker -> vector store.  ``req`` is stable across resends of the same batch."""

    req: str
    writes: tuple[DocWrite, ...]


@dataclass(frozen=True)
class UpsertAck(Message):
    """vector store -> worker, after the writes are durable: ``(msg_id, outcome)`` each."""

    req: str
    outcomes: tuple[tuple[str, str], ...]


# --------------------------------------------------------------------------- the store's rule


@dataclass(frozen=True)
class UpsertPlan:
    """What the store does with one :class:`DocWrite`.

    ``outcome``: ``"applied"`` (something changed), ``"noop"`` (already there: a retry of
    the same version with the same ids) or ``"stale"`` (older than the stored version:
    rejected).  ``head_before``/``head_after`` are the doc's version before and after.
    """

    outcome: str
    delete: tuple[str, ...]
    put: tuple[Point, ...]
    head_before: int | None
    head_after: int | None


def plan_upsert(existing: Mapping[str, Point], head: int | None, w: DocWrite,
                last_write_wins: bool) -> UpsertPlan:
    """The conditional, versioned upsert (``existing``: the doc's points by id).

    Correct rule: reject a version older than the doc's head; otherwise delete the doc's
    points of *older* versions and insert this version's points whose ids are not stored yet.
    Keying by id is why ids must be stable: a second copy of the same version with the same
    ids changes nothing, with fresh ids it adds a second set of chunks.  With ``last_write_wins`` the
    version is not compared: whatever arrives last replaces every other version.
    """
    if not last_write_wins and head is not None and w.version < head:
        return UpsertPlan("stale", (), (), head, head)
    if last_write_wins:
        delete = tuple(sorted(pid for pid, p in existing.items() if p.version != w.version))
        new_head: int | None = w.version
    else:
        delete = tuple(sorted(pid for pid, p in existing.items() if p.version < w.version))
        new_head = w.version if head is None else max(head, w.version)
    # An id already stored is the same chunk (doc:version:index is its identity): keep it.
    # Comparing vectors instead would call a re-embedding "new" whenever the model's float
    # output differs in the last bits (it does, with a different batch composition).
    put = tuple(p for p in w.points if p.point_id not in existing)
    outcome = "applied" if (delete or put or head != new_head) else "noop"
    return UpsertPlan(outcome, delete, put, head, new_head)


__all__ = [
    "DOCSTORE_TOPIC",
    "DocWrite",
    "EmbedFn",
    "PipelineConfig",
    "PipelineFlaws",
    "Point",
    "Upsert",
    "UpsertAck",
    "UpsertPlan",
    "chunk_count",
    "chunk_id",
    "chunk_text",
    "hash_embed",
    "pipeline_roles",
    "plan_upsert",
    "topic_of",
]
