"""The pipeline system: RAG ingestion from a document store to a versioned vector store.

Nodes, by position: ``n1`` broker (``config.broker = "queue" | "log"``), ``n2`` document
store (clients write documents to it), ``n3`` .. ``n(N-1)`` embedding workers (one topic
each), ``nN`` vector store.  With the default five nodes there are two workers.

In the simulator the embedding model is a deterministic stand-in (a sha256-derived unit
vector, same interface as the real model: texts in, vectors out) and embedding takes
``embed_base_ms + embed_ms_per_chunk * chunks`` of virtual time per batch.  The real
model (all-MiniLM-L6-v2 on Ray) lives in ``cluster/runtime/embed``.

Workloads: ``ingest`` (random words over ``docs`` document ids: what the catalog's lessons
use) and ``corpus`` (:mod:`scenarios.corpus`, real sentences worth searching: what
``splitbrain ingest`` writes with the real model).

Checkers: ``pipeline`` (final store state, stale overwrites, cost) and ``delivery``.

At the end of a run that used the real model, :func:`export_vectors` copies the vector
store node's durable points into a searchable store for ``splitbrain query``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analysis import trace_kinds as K
from analysis.idempotency import SETTLE_MS
from cluster.core.broker_model import make_broker
from cluster.core.pipeline import (
    PipelineConfig,
    PipelineFlaws,
    chunk_count,
    pipeline_roles,
    topic_of,
)
from cluster.core.pipeline_nodes import DocStore, EmbeddingWorker, VectorStoreNode
from cluster.core.types import Core
from cluster.session import FinalView
from cluster.spec import BrokerPlan, Workload
from faults.schedule import EventTrigger, register_triggers
from scenarios.corpus import CorpusWorkload
from scenarios.script import ScriptOp
from scenarios.system_saga import BROKER_REAL_TIME, broker_plan
from scenarios.systems import CoreFactory, RunInfo, System, default_client_factory, register_system
from scenarios.workload_parts import check_fields, take_turn

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

PIPELINE_TRIGGERS: dict[str, EventTrigger] = {
    "doc-written": EventTrigger(K.DOC_WRITE, {}, bind_leader="node"),
    "batch-started": EventTrigger(K.BATCH_START, {}, bind_leader="node"),
    "batch-embedded": EventTrigger(K.BATCH_EMBEDDED, {}, bind_leader="node"),
    "vector-written": EventTrigger(K.VS_WRITE, {"outcome": "applied"}, bind_leader="node"),
}
register_triggers(PIPELINE_TRIGGERS)

PIPELINE_FAULTS: tuple[dict[str, Any], ...] = (
    {"fault": "crash", "node": "leader"},  # with a trigger: the node that emitted the event
    {"fault": "crash", "node": "n1"},  # the broker
    {"fault": "crash", "node": "n2"},  # the document store (its relay)
    {"fault": "crash", "node": "n3"},  # a worker
    {"fault": "crash", "node": "n5"},  # the vector store (5 nodes)
    {"fault": "pause", "node": "leader"},
    {"fault": "pause", "node": "n3"},
    {"fault": "partition", "kind": "isolate", "target": "n1"},
    {"fault": "link", "src": "n3", "dst": "n5", "loss": 0.1, "delay_ms": 100, "jitter_ms": 400, "duplicate": 0.3, "reorder": 0.5},
    {"fault": "link", "src": "n1", "dst": "*", "loss": 0.1, "duplicate": 0.3, "delay_ms": 50, "jitter_ms": 200},
)

VOCAB = (
    "raft", "quorum", "lease", "clock", "skew", "partition", "leader", "follower", "vote", "term",
    "log", "commit", "offset", "broker", "queue", "ack", "retry", "outbox", "inbox", "saga",
    "vector", "embedding", "chunk", "model", "batch", "worker", "gpu", "store", "version", "index",
    "search", "cosine", "document", "replica", "crash", "restart", "fsync", "durable", "stale", "fresh",
)

# The real engine (``--engine ray``): the real model and real time.  Embedding time is the
# model's own (no simulated cost); broker timings as in the saga system (a Kafka consumer's
# first join takes seconds).  A scenario's ``config`` or ``[ray]`` table overrides these.
REAL_TIME_CONFIG: dict[str, Any] = {
    **BROKER_REAL_TIME,
    "embedder": "minilm",
    "embed_base_ms": 0,
    "embed_ms_per_chunk": 0,
    "store_timeout_ms": 1000,
}

_WL_ALLOWED = {"kind", "ops_per_client", "think_ms", "docs", "words"}
_WL_KINDS = ("ingest", "corpus")


def check_pipeline_workload(spec: dict[str, Any]) -> None:
    check_fields(spec, _WL_ALLOWED)
    if spec.get("kind", "ingest") not in _WL_KINDS:
        raise ValueError(f"workload: the pipeline system's kinds are {', '.join(_WL_KINDS)}, got {spec.get('kind')!r}")
    docs = spec.get("docs", 6)
    if not isinstance(docs, int) or docs < 1:
        raise ValueError(f"workload: docs must be a positive integer, got {docs!r}")
    n = spec.get("ops_per_client")
    if n is not None and (not isinstance(n, int) or n < 1):
        raise ValueError(f"workload: ops_per_client must be a positive integer, got {n!r}")
    for name, default in (("think_ms", [0, 20]), ("words", [8, 40])):
        v = spec.get(name, default)
        if (not isinstance(v, (list, tuple)) or len(v) != 2
                or not all(isinstance(x, int) and x >= 0 for x in v) or v[0] > v[1]):
            raise ValueError(f"workload: {name} must be [min, max] non-negative integers, got {v!r}")
    if spec.get("words", [8, 40])[0] < 1:
        raise ValueError("workload: words must start at 1 or more")


@dataclass
class IngestWorkload:
    """``write`` a new version of one of ``docs`` documents, with ``words`` random words."""

    clients: int = 1
    docs: int = 6
    words: tuple[int, int] = (8, 40)
    ops_per_client: int | None = None
    _issued: dict[int, int] = field(default_factory=dict)

    def next_op(self, process: int, rng: random.Random) -> tuple[str, str | None, Any] | None:
        slot = process % max(1, self.clients)
        n = take_turn(self._issued, slot, self.ops_per_client)
        if n is None:
            return None
        doc = f"d{rng.randrange(self.docs)}"
        count = rng.randint(self.words[0], self.words[1])
        text = " ".join(VOCAB[rng.randrange(len(VOCAB))] for _ in range(count))
        return ("write", doc, text)


class DocumentVocabulary:
    """What a pipeline client can be scripted to do: ``write`` a new version of a document
    (``key``: its id) with some text (``value``).

    A drawn document shrinks towards ``d0`` and towards a single word (fewer words, fewer
    chunks to embed); its words are a walk through :data:`VOCAB`, so a drawn text is one
    number of words and one starting word.
    """

    def check(self, op: ScriptOp) -> str | None:
        if op.f != "write":
            return f"f = {op.f!r} is not an operation of the pipeline system; it has write"
        if op.key is None:
            return "a write needs a key: the document id (e.g. key = \"d1\")"
        if not isinstance(op.value, str) or not op.value.split():
            return f"a write needs value = the document's text (a non-empty string), got {op.value!r}"
        return None

    def check_all(self, ops: Sequence[ScriptOp]) -> str | None:
        return None

    def op_strategy(self, workload: Mapping[str, Any]) -> SearchStrategy[ScriptOp]:
        from hypothesis import strategies as st

        docs = int(workload.get("docs", 6))
        most = int(workload.get("words", [8, 40])[1])

        def build(doc: int, words: int, start: int) -> ScriptOp:
            text = " ".join(VOCAB[(start + 7 * j) % len(VOCAB)] for j in range(words))
            return ScriptOp(0, 0, "write", f"d{doc}", text)

        return st.builds(build, st.integers(0, max(0, docs - 1)), st.integers(1, max(1, most)),
                         st.integers(0, len(VOCAB) - 1))

    def finish(self, ops: Sequence[ScriptOp]) -> list[ScriptOp]:
        return list(ops)

    def simpler(self, op: ScriptOp) -> list[ScriptOp]:
        """The text's first word, then its first half: fewer words, fewer chunks."""
        words = str(op.value).split()
        if len(words) <= 1:
            return []
        shorter = [words[:1]] + ([words[: len(words) // 2]] if len(words) > 3 else [])
        return [ScriptOp(op.at, op.client, op.f, op.key, " ".join(w)) for w in shorter]


def build_workload(spec: dict[str, Any], clients: int) -> Workload:
    check_pipeline_workload(spec)
    if spec.get("kind", "ingest") == "corpus":
        return CorpusWorkload(int(spec.get("docs", 12)))
    lo, hi = spec.get("words", [8, 40])
    return IngestWorkload(clients, int(spec.get("docs", 6)), (int(lo), int(hi)), spec.get("ops_per_client"))


def build_core(nodes: tuple[str, ...], config: Any, flaws: Any) -> CoreFactory:
    broker, docstore, workers, store = pipeline_roles(nodes)

    def make(node_id: str, durable: Mapping[str, Any] | None, rng: random.Random) -> Core:
        if node_id == broker:
            return make_broker(node_id, config, rng, durable)
        if node_id == docstore:
            return DocStore(node_id, nodes, config, rng, workers=len(workers), durable=durable)
        if node_id in workers:
            topic = topic_of_index(workers.index(node_id))
            embed = real_embedder(len(workers)) if config.embedder == "minilm" else None
            return EmbeddingWorker(node_id, broker, store, topic, config, rng, durable=durable, flaws=flaws,
                                   embed=embed)
        if node_id == store:
            return VectorStoreNode(node_id, config, rng, durable=durable, flaws=flaws)
        raise ValueError(f"node {node_id} has no role in the pipeline system")

    return make


def real_embedder(workers: int) -> Any:
    """all-MiniLM-L6-v2 for a worker process: loaded once per process (a restarted worker
    pays the load again, as a real one does), on CUDA when there is a GPU, else on the CPU
    with one thread per worker when workers share this machine's cores."""
    import os

    from cluster.runtime.embed.model import SentenceEmbedder

    global _EMBEDDER
    if _EMBEDDER is None:
        threads = max(1, (os.cpu_count() or 1) // max(1, workers))
        _EMBEDDER = SentenceEmbedder(threads=threads)
    model = _EMBEDDER

    def embed(texts: Any) -> list[tuple[float, ...]]:
        return [tuple(row) for row in model.embed(list(texts)).tolist()]

    return embed


_EMBEDDER: Any = None


def node_resources(node_id: str, nodes: tuple[str, ...], config: Any,
                   available: Mapping[str, float]) -> dict[str, float]:
    """An embedding worker with the real model asks for a GPU (an equal share when there
    are fewer GPUs than workers) when the machine has any; the model then runs on CUDA."""
    workers = pipeline_roles(nodes)[2]
    gpus = float(available.get("GPU", 0.0))
    if node_id not in workers or gpus <= 0 or config.embedder != "minilm":
        return {}
    return {"num_gpus": min(1.0, gpus / len(workers))}


def prepare_node(node_id: str, nodes: tuple[str, ...], config: Any) -> None:
    """A worker loads the real model before the run's clock starts."""
    workers = pipeline_roles(nodes)[2]
    if node_id in workers and config.embedder == "minilm":
        real_embedder(len(workers))(["warm up"])


def topic_of_index(i: int) -> str:
    from cluster.core.pipeline import DOC_TOPIC_PREFIX

    return f"{DOC_TOPIC_PREFIX}{i}"


def build_client(nodes: tuple[str, ...], spec: Mapping[str, Any]) -> Any:
    """Clients write to the document store only; a write is not retried after a timeout
    (the docstore does not deduplicate client requests, so a retry could make a second version)."""
    merged = {"timeout_ms": 2000, "retry_after_ambiguous": False, **dict(spec)}
    return default_client_factory((pipeline_roles(nodes)[1],), merged)


def final_state(view: FinalView) -> None:
    """Record the source of truth and the vector store as they are durably at the end.

    Read from each node's durable state (not its memory) so a node that is down at the end
    still counts with what it would come back with.
    """
    nodes = view.node_ids()
    _, docstore, workers, store = pipeline_roles(nodes)
    cfg = None
    for core in view.nodes.values():
        cfg = getattr(core, "config", None) or cfg
    words = getattr(cfg, "chunk_words", PipelineConfig.chunk_words)
    overlap = getattr(cfg, "chunk_overlap", PipelineConfig.chunk_overlap)
    docs: dict[str, list[Any]] = {}
    for k, v in sorted(view.durable(docstore).items()):
        if k.startswith("doc/") and v is not None:
            version, text = v
            doc = k[len("doc/"):]
            docs[doc] = [int(version), chunk_count(str(text), words, overlap), topic_of(doc, len(workers))]
    vs = VectorStoreNode(store, cfg if isinstance(cfg, PipelineConfig) else PipelineConfig(),
                         random.Random(0), durable=view.durable(store))
    view.record(K.PIPELINE_FINAL, {"docs": docs, "store": vs.snapshot(), "heads": dict(sorted(vs.heads.items()))})
    live = view.nodes
    for nid in nodes:
        pending = getattr(getattr(live.get(nid), "relay", None), "pending", None)
        if pending is not None:
            view.record(K.OUTBOX_FINAL, {"node": nid, "rows": list(pending)})
        if view.node_state(nid) != "up":
            view.record(K.NODE_FINAL, {"node": nid, "state": view.node_state(nid)})


STORE_POINTER = "LATEST"
"""The file in an export folder that names the newest vector store in it."""


def export_vectors(view: FinalView, config: Any, folder: Path, run: RunInfo) -> dict[str, Any]:
    """Copy the vector-store node's durable points into a searchable store under ``folder``
    (``store/vectors/`` for ``splitbrain run``) and point ``LATEST`` at it, so that
    ``splitbrain query`` searches this run.  Only a run with the real model has vectors
    worth searching; otherwise nothing is written."""
    if config.embedder != "minilm":
        return {}
    from cluster.runtime.embed.vector_store import VectorStore

    store_node = pipeline_roles(view.node_ids())[3]
    vs = VectorStoreNode(store_node, config, random.Random(0), durable=view.durable(store_node))
    points = [p for pts in vs.points.values() for p in pts.values()]
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{run.scenario}-{time.strftime('%Y%m%d-%H%M%S')}-s{run.seed}"
    store = VectorStore(target)
    store.import_points(points, dict(vs.heads))
    store.set_meta(scenario=run.scenario, seed=str(run.seed), engine=run.engine, model="all-MiniLM-L6-v2",
                   dim=str(len(points[0].vector) if points else 0), chunk_words=str(config.chunk_words),
                   chunk_overlap=str(config.chunk_overlap))
    store.close()
    (folder / STORE_POINTER).write_text(target.name + "\n")
    return {"vector_store": str(target)}


def latest_store(folder: Path) -> Path | None:
    """The vector store a folder's ``LATEST`` names (or the folder itself if it is one)."""
    from cluster.runtime.embed.vector_store import VectorStore

    if VectorStore.exists(folder):
        return folder
    pointer = folder / STORE_POINTER
    if pointer.is_file():
        p = folder / pointer.read_text().strip()
        if VectorStore.exists(p):
            return p
    return None


def model_missing(config: Any) -> str | None:
    """The real model's packages, when this configuration uses it and they are missing."""
    if config.embedder != "minilm":
        return None
    from cluster.runtime.embed.model import missing

    return missing()


def _broker(nodes: tuple[str, ...], config: Any) -> BrokerPlan:
    return broker_plan(pipeline_roles(nodes)[0], config)


register_system(
    System(
        name="pipeline",
        summary="RAG ingestion: docstore + outbox -> broker -> batching embedding workers -> versioned vector store",
        flaws=PipelineFlaws,
        config=PipelineConfig,
        build_core=build_core,
        build_workload=build_workload,
        check_workload=check_pipeline_workload,
        checkers=("pipeline", "delivery"),
        workload_kinds=_WL_KINDS,
        fault_menu=PIPELINE_FAULTS,
        triggers=tuple(PIPELINE_TRIGGERS),
        build_client=build_client,
        final_records=final_state,
        realtime_config=REAL_TIME_CONFIG,
        settle_ms=SETTLE_MS,
        broker=_broker,
        node_resources=node_resources,
        prepare_node=prepare_node,
        export=export_vectors,
        requirements=model_missing,
        script=DocumentVocabulary(),
    )
)
