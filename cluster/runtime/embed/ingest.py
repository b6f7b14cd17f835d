"""Drive the pipeline's pure cores in real time with the real model and the real vector store.

The cores are the simulator's, unchanged: :class:`~cluster.core.pipeline_nodes.DocStore`
(outbox relay), :class:`~cluster.core.pipeline_nodes.EmbeddingWorker` (consumer, batches,
acks after the store confirmed).  What is real here: the model (all-MiniLM-L6-v2 in Ray
actors, one per worker, running in parallel), the store (:class:`VectorStore`, sqlite +
numpy), time, and optionally the broker (RabbitMQ / Tansu through
:class:`~cluster.runtime.brokers.bridge.BrokerBridge`; default: the broker model core driven
in-process).  One or two embedding workers (``n3``, ``n4``; the vector store is ``n5``).
``crash_after_batches`` kills worker ``n3`` (volatile state gone, its durable inbox kept)
right after it sent that many batches' upserts and restarts it: the broker hands the
unacked documents out again.  With a real broker the crash drops ``n3``'s connection and
the bridge reconnects it exactly once (see :meth:`BrokerBridge.restart_consumer`).

The driver order is the design's: persist, then send, then record.  At the end the pipeline
checker judges the run exactly as in the simulator.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cluster.core.broker_model import QueueBroker
from cluster.core.pipeline import (
    DocWrite,
    PipelineConfig,
    PipelineFlaws,
    Upsert,
    UpsertAck,
    chunk_count,
)
from cluster.core.pipeline_nodes import DocStore, EmbeddingWorker
from cluster.core.saga_messages import Ack, CommitFailed, Deliver, Publish, PublishAck, Subscribe
from cluster.core.storage import MemoryStorage
from cluster.core.types import ClientRequest, CoreEvent, Message, Ready
from cluster.runtime.embed.vector_store import VectorStore

NODES = ("n1", "n2", "n3", "n4", "n5")
STORE_POINTER = "LATEST"

CORPUS: tuple[tuple[str, str], ...] = (
    ("raft", "Raft elects a leader with randomized election timeouts; the leader appends entries to its log "
             "and commits an entry once a majority of followers has stored it."),
    ("quorum", "Leaderless replication writes to W replicas and reads from R replicas; when R plus W exceeds N "
               "every read quorum overlaps the latest write quorum."),
    ("lease", "A leader lease lets a leader serve reads locally without a round trip, but only if clocks "
              "drift less than the lease margin; clock skew can make two leaders believe they hold it."),
    ("outbox", "The transactional outbox writes the business change and the event announcing it in one local "
               "transaction; a relay publishes the event afterwards and may publish it twice."),
    ("inbox", "An idempotent consumer records each message id in its inbox in the same transaction as the "
              "effect, so a redelivered message is recognised and skipped."),
    ("saga", "A saga books a flight, a hotel and a payment as separate steps and compensates the applied "
             "steps in reverse order when a later step fails."),
    ("kafka", "Kafka keeps a partitioned log; consumers in a group commit offsets, and a rebalance rewinds a "
              "partition to the last committed offset so records are delivered again."),
    ("rabbitmq", "RabbitMQ requeues unacknowledged messages when a consumer's channel closes and marks them "
                 "redelivered; publisher confirms tell the producer a message is durable."),
    ("embedding", "A sentence embedding model maps text to a vector so that similar meanings are close under "
                  "cosine similarity; documents are split into overlapping chunks before embedding."),
    ("vectors", "A vector store keeps each chunk's embedding with the document version it came from and only "
                "replaces it with an embedding of a newer version."),
    ("fsync", "A write acknowledged before fsync can vanish in a power loss; durable storage syncs the log "
              "before it answers."),
    ("partition", "A network partition splits the cluster; the minority side must stop accepting writes or "
                  "the two sides diverge into split brain."),
)
UPDATES: tuple[tuple[str, str], ...] = (
    ("lease", "Lease reads are only safe with bounded clock drift: the leader waits out the maximum skew "
              "before trusting its lease, otherwise a deposed leader may serve stale reads."),
    ("vectors", "The vector store compares versions on every upsert: a late embedding of an old version is "
                "rejected as stale, and chunks of older versions are deleted when a newer one arrives."),
)


def store_root() -> Path:
    from splitbrain.rundir import store_root as results_root

    return results_root() / "vectors"


def latest_store(root: Path | None = None) -> Path | None:
    """The store directory of the last real ingestion (``store/vectors/LATEST`` names it)."""
    root = root or store_root()
    pointer = root / STORE_POINTER
    if pointer.is_file():
        p = root / pointer.read_text().strip()
        if VectorStore.exists(p):
            return p
    return None


@dataclass
class IngestRun:
    store_dir: Path
    trace: list[dict[str, Any]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)


class StoreNode:
    """The real :class:`VectorStore` behind the same ``Upsert``/``UpsertAck`` vocabulary."""

    def __init__(self, node_id: str, store: VectorStore) -> None:
        self.node_id = node_id
        self.store = store
        self.events: list[CoreEvent] = []

    def handle(self, m: Upsert) -> UpsertAck:
        outcomes = []
        for w in m.writes:
            plan = self.store.upsert(w)
            outcomes.append((w.msg_id, plan.outcome))
            self.events.append(CoreEvent(self.node_id, "vs-write", {
                "doc": w.doc, "version": w.version, "msg_id": w.msg_id, "req": m.req, "outcome": plan.outcome,
                "head_before": plan.head_before, "head_after": plan.head_after, "added": len(plan.put),
                "removed": len(plan.delete)}))
        return UpsertAck(self.node_id, m.src, m.req, tuple(outcomes))


def _docs(n_docs: int) -> list[tuple[str, str]]:
    """``n_docs`` writes: the corpus (repeated with numbered ids if more are asked), then updates."""
    out = [(f"{name}" if i == 0 else f"{name}-{i}", text) for i in range((n_docs + len(CORPUS) - 1) // len(CORPUS))
           for name, text in CORPUS][:n_docs]
    names = {d for d, _ in out}
    out += [(d, t) for d, t in UPDATES if d in names]
    return out


def run_ingest(
    *,
    docs: int = 12,
    workers: int = 2,
    batch_size: int = 8,
    store_dir: Path | None = None,
    crash_after_batches: int = 0,
    broker: str = "model",
    broker_address: str | None = None,
    flaws: PipelineFlaws | None = None,
    embed_fns: Sequence[Callable[[Sequence[str]], Any]] | None = None,
    timeout_s: float = 300.0,
    seed: int = 0,
    model_actors: int | None = None,
    embed_actors: Sequence[Any] | None = None,
) -> IngestRun:
    """Ingest ``docs`` documents (plus updates) and check the result; see the module docstring.

    ``embed_fns``: one embed function per worker (tests inject the hash stand-in); default:
    one Ray actor per worker with the real model (``model_actors=1``: both workers share one
    model process, which is what a single GPU would give).  ``embed_actors``: already
    started model actors (:func:`~cluster.runtime.embed.actors.start_embed_actors`) to use
    instead of starting new ones (the bench reuses them across runs).
    """
    if workers not in (1, 2):
        raise ValueError("the real driver runs the five-node layout: 1 or 2 workers")
    worker_nodes = NODES[2:2 + workers]
    flaws = flaws or PipelineFlaws()
    cfg = PipelineConfig(broker="log" if broker == "kafka" else "queue", batch_size=batch_size,
                         batch_wait_ms=20, embed_base_ms=1, embed_ms_per_chunk=0, store_timeout_ms=30_000,
                         prefetch=max(16, 2 * batch_size), heartbeat_ms=200, session_timeout_ms=6000,
                         ack_timeout_ms=60_000, confirm_timeout_ms=5000, relay_interval_ms=5, commit_interval_ms=50,
                         chunk_words=24, chunk_overlap=6, dim=384)
    root = store_root()
    if store_dir is None:
        store_dir = root / time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    store = VectorStore(store_dir, last_write_wins=flaws.last_write_wins)
    store.set_meta(model="all-MiniLM-L6-v2", dim="384", chunk_words=str(cfg.chunk_words),
                   chunk_overlap=str(cfg.chunk_overlap))
    futures: dict[str, Any] = {}
    if embed_fns is None:
        import ray

        from cluster.runtime.embed.actors import start_embed_actors

        actors = list(embed_actors) if embed_actors else start_embed_actors(model_actors or workers, batch_size)

        def remote_fn(nid: str) -> Callable[[Sequence[str]], Any]:
            return lambda texts: ray.get(futures.pop(nid)) if nid in futures else ray.get(
                actors[(NODES.index(nid) - 2) % len(actors)].embed.remote(list(texts)))

        fns = {nid: remote_fn(nid) for nid in worker_nodes}
    else:
        actors = []
        fns = {nid: embed_fns[i] for i, nid in enumerate(worker_nodes)}
    disks = {n: MemoryStorage() for n in NODES}
    rng = random.Random(seed)
    bridge: Any = None
    model_broker: QueueBroker | None = None
    if broker == "model":
        model_broker = QueueBroker("n1", cfg, rng)
    else:
        from cluster.runtime.brokers.bridge import BrokerBridge

        if broker_address is None:
            raise ValueError("a real broker needs broker_address")
        bridge = BrokerBridge.connect("n1", broker, broker_address, namespace=f"sb-{rng.getrandbits(24):06x}.",
                                      partitions=cfg.partitions)

    def make_worker(nid: str) -> EmbeddingWorker:
        return EmbeddingWorker(nid, "n1", "n5", f"embed-{NODES.index(nid) - 2}", cfg, random.Random(rng.random()),
                               durable=disks[nid].load(), flaws=flaws, embed=fns[nid])

    docstore = DocStore("n2", NODES, cfg, random.Random(seed), workers=workers)
    cores: dict[str, Any] = {"n2": docstore, **{nid: make_worker(nid) for nid in worker_nodes}}
    vs = StoreNode("n5", store)
    run = IngestRun(store_dir)
    t0 = time.monotonic()
    inbox: list[Message] = []
    batches = {"n3": 0}
    crashed = False

    def now() -> int:
        return int((time.monotonic() - t0) * 1000)

    committed_rows: set[str] = set()  # membership only
    processed_rows: set[str] = set()

    def record(events: Sequence[CoreEvent]) -> None:
        for ev in events:
            run.trace.append({**ev.data, "t": now(), "kind": ev.kind, "node": ev.node})
            if ev.kind == "doc-write":
                committed_rows.add(str(ev.data["row"]))
            elif ev.kind in ("effect", "dedup"):
                processed_rows.add(str(ev.data["row"]))

    def do(nid: str, r: Ready) -> None:
        nonlocal crashed
        if r.persist:
            disks[nid].write(r.persist, r.sync)
        for m in r.messages:
            inbox.append(m)
        record(r.events)
        for ev in r.events:
            if ev.kind == "batch-start" and embed_fns is None:
                batch = cores[ev.node].embedding
                if batch is not None and batch.id == ev.data["batch"]:  # submit now: workers embed in parallel
                    texts = [t for cs in batch.chunks for t in cs]
                    futures[ev.node] = actors[(NODES.index(ev.node) - 2) % len(actors)].embed.remote(texts)
            if ev.kind == "batch-embedded" and ev.node == "n3":
                batches["n3"] += 1
                if crash_after_batches and batches["n3"] == crash_after_batches and not crashed:
                    crashed = True
                    run.trace.append({"t": now(), "kind": "fault-start", "id": "crash-n3", "fault": "crash",
                                      "description": "crashed n3 (real worker) right after it sent an upsert",
                                      "targets": ["n3"]})
                    disks["n3"].crash()
                    cores["n3"] = make_worker("n3")
                    futures.pop("n3", None)
                    if bridge is not None:
                        # The process died with its connection: reconnect now, and name the
                        # new incarnation's session so its first Subscribe does not
                        # reconnect a second time (on Tansu that wedges the group).
                        bridge.restart_consumer("n3", session=cores["n3"].consumer.session)
                    run.trace.append({"t": now(), "kind": "fault-end", "id": "crash-n3"})
                    return  # the rest of this batch of outputs died with the process

    writes = _docs(docs)
    quiet_since: float | None = None
    settle_s = 0.3 if bridge is None else 1.0
    seq = 0
    expected = len(writes)
    while time.monotonic() - t0 < timeout_s:
        if writes and seq < expected and len(inbox) < 64:
            doc, text = writes.pop(0)
            seq += 1
            docstore.step(ClientRequest("c1", "n2", "c1", seq, "write", doc, text))
        for nid in ("n2", *worker_nodes):
            core = cores[nid]
            if nid in futures and core.embedding is not None:
                import ray

                ready, _ = ray.wait([futures[nid]], timeout=0)
                if not ready:
                    continue  # the model is still busy with this worker's batch
            core.tick(now())
            do(nid, core.ready())
        if model_broker is not None:
            model_broker.tick(now())
            r = model_broker.ready()
            inbox.extend(r.messages)
            record(r.events)
        else:
            for nid in worker_nodes:
                inbox.extend(bridge.poll(nid, 0.001, max_messages=50))
        pending, inbox[:] = list(inbox), []
        for m in pending:
            if isinstance(m, Upsert):
                ack = vs.handle(m)
                record(vs.events)
                vs.events.clear()
                inbox.append(ack)
            elif m.dst == "n1" and bridge is not None:
                if isinstance(m, Publish):
                    a = bridge.on_publish(m)
                    if a is not None:
                        inbox.append(a)
                elif isinstance(m, Ack):
                    f = bridge.on_ack(m)
                    if f is not None:
                        inbox.append(f)
                elif isinstance(m, Subscribe):
                    bridge.on_subscribe(m)
            elif m.dst == "n1" and model_broker is not None:
                model_broker.step(m)
                r = model_broker.ready()
                inbox.extend(r.messages)
                record(r.events)
            elif isinstance(m, (Deliver, PublishAck, UpsertAck, CommitFailed)) and m.dst in cores:
                cores[m.dst].step(m)
                do(m.dst, cores[m.dst].ready())
        final = store.heads()
        idle = (not writes and not inbox and committed_rows <= processed_rows
                and all(final.get(d) == v for d, (v, _) in docstore.docs().items())
                and not any(c.pending or c.entries for n, c in cores.items() if n != "n2")
                and (model_broker is None
                     or not (model_broker.unacked or any(model_broker.ready_q.values()))))
        if not idle:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= settle_s:
            break  # converged and quiet long enough for stragglers (redeliveries) to show up
        time.sleep(0.001)
    wall = time.monotonic() - t0
    if bridge is not None:
        bridge.close()
    docs_final: dict[str, list[Any]] = {d: [v, chunk_count(t, cfg.chunk_words, cfg.chunk_overlap), ""]
                                        for d, (v, t) in docstore.docs().items()}
    run.trace.append({"t": now(), "kind": "pipeline-final", "docs": docs_final, "store": store.snapshot(),
                      "heads": store.heads()})
    from analysis.delivery import check_trace as delivery
    from analysis.pipeline_check import check_trace as pipeline

    run.results = [pipeline(run.trace, None, settle_ms=0), delivery(run.trace, settle_ms=0)]
    versions = sum(int(v[0]) for v in docs_final.values())
    run.stats = {"documents": len(docs_final), "versions": versions, "wall_s": round(wall, 3),
                 "docs_per_s": round(versions / wall, 2) if wall > 0 else None, "points": store.count(),
                 "workers": workers, "model_actors": len(actors) if embed_fns is None else 0,
                 "batch_size": batch_size, "broker": broker,
                 "crashed_worker": crashed}
    store.set_meta(stats=json.dumps(run.stats, sort_keys=True))
    store.close()
    if store_dir.parent == root:
        (root / STORE_POINTER).write_text(store_dir.name + "\n")
    return run


__all__ = ["CORPUS", "DocWrite", "IngestRun", "latest_store", "run_ingest", "store_root"]
