"""Pipeline cores as transcripts: inputs in, outputs out."""

from __future__ import annotations

import random

from cluster.core.pipeline import (
    DocWrite,
    PipelineConfig,
    PipelineFlaws,
    Point,
    Upsert,
    UpsertAck,
    chunk_count,
    chunk_id,
    chunk_text,
    hash_embed,
    plan_upsert,
)
from cluster.core.pipeline_nodes import EmbeddingWorker, VectorStoreNode
from cluster.core.saga_messages import Ack, Deliver, payload_of
from cluster.core.types import Put


def test_chunker_windows_overlap_and_count() -> None:
    text = " ".join(f"w{i}" for i in range(20))
    chunks = chunk_text(text, 8, 3)
    assert chunks[0].split() == [f"w{i}" for i in range(8)]
    assert chunks[1].split()[0] == "w5"  # step = 8 - 3
    assert chunks[-1].split()[-1] == "w19"
    assert len(chunks) == chunk_count(text, 8, 3) == 4
    assert chunk_text("", 8, 3) == () and chunk_count("  ", 8, 3) == 0
    assert chunk_text("a b", 8, 3) == ("a b",)


def test_hash_embed_is_deterministic_unit_vectors() -> None:
    e = hash_embed(8)
    a, b = e(["hello", "world"])
    assert a == e(["hello"])[0] and a != b
    assert abs(sum(x * x for x in a) - 1.0) < 1e-4


def _write(doc: str, version: int, n: int, nonce: str | None = None) -> DocWrite:
    pts = tuple(Point(chunk_id(doc, version, i, nonce), doc, version, i, f"t{i}", (1.0,)) for i in range(n))
    return DocWrite(doc, version, f"{doc}@v{version}", pts)


def _apply(existing: dict[str, Point], head: int | None, w: DocWrite, lww: bool) -> tuple[str, int | None]:
    plan = plan_upsert(existing, head, w, lww)
    for pid in plan.delete:
        del existing[pid]
    for p in plan.put:
        existing[p.point_id] = p
    return plan.outcome, plan.head_after


def test_conditional_upsert_rejects_older_and_is_idempotent() -> None:
    pts: dict[str, Point] = {}
    assert _apply(pts, None, _write("d", 2, 3), False) == ("applied", 2)
    assert _apply(pts, 2, _write("d", 1, 5), False) == ("stale", 2)  # older version: rejected
    assert _apply(pts, 2, _write("d", 2, 3), False) == ("noop", 2)  # same ids again: no-op
    assert _apply(pts, 2, _write("d", 3, 1), False) == ("applied", 3)
    assert sorted(pts) == ["d:3:0"]  # older version's chunks deleted


def test_last_write_wins_lets_an_old_version_replace_a_new_one() -> None:
    pts: dict[str, Point] = {}
    _apply(pts, None, _write("d", 2, 2), True)
    assert _apply(pts, 2, _write("d", 1, 1), True) == ("applied", 1)
    assert sorted(pts) == ["d:1:0"]


def test_unstable_ids_duplicate_chunks_of_the_same_version() -> None:
    pts: dict[str, Point] = {}
    _apply(pts, None, _write("d", 1, 2, "aa"), False)
    assert _apply(pts, 1, _write("d", 1, 2, "bb"), False)[0] == "applied"
    assert len(pts) == 4


def _deliver(doc: str, version: int, text: str, tag: str, redelivered: bool = False) -> Deliver:
    return Deliver("n1", "n3", "embed-0", 0, int(tag), tag, f"{doc}@v{version}", f"row-{doc}-{version}", doc,
                   payload_of(doc=doc, version=version, text=text), redelivered)


def test_worker_acks_only_after_the_store_confirmed() -> None:
    cfg = PipelineConfig(batch_size=2, batch_wait_ms=10, embed_base_ms=20, embed_ms_per_chunk=0)
    w = EmbeddingWorker("n3", "n1", "n5", "embed-0", cfg, random.Random(1))
    w.tick(0)
    w.ready()
    w.step(_deliver("a", 1, "one two three", "1"))
    w.step(_deliver("b", 1, "four five", "2"))
    w.tick(10)  # batch full: embedding starts (busy until 30)
    r = w.ready()
    assert [e.kind for e in r.events] == ["consume", "consume", "batch-start"]
    assert not [m for m in r.messages if isinstance(m, Ack)]
    w.tick(30)
    r = w.ready()
    ups = [m for m in r.messages if isinstance(m, Upsert)]
    assert len(ups) == 1 and [x.msg_id for x in ups[0].writes] == ["a@v1", "b@v1"]
    assert not [m for m in r.messages if isinstance(m, Ack)]
    w.step(UpsertAck("n5", "n3", ups[0].req, (("a@v1", "applied"), ("b@v1", "applied"))))
    r = w.ready()
    assert [p.key for p in r.persist] == ["inbox/a@v1", "inbox/b@v1"]  # inbox first (persisted before send)
    assert [m.tag for m in r.messages if isinstance(m, Ack)] == ["1", "2"]
    # a redelivery is skipped by the inbox and acked without embedding
    w.step(_deliver("a", 1, "one two three", "3", redelivered=True))
    r = w.ready()
    assert [e.kind for e in r.events] == ["consume", "dedup", "msg-ack"]


def test_worker_with_ack_before_embed_acks_on_receipt() -> None:
    cfg = PipelineConfig(batch_size=1)
    w = EmbeddingWorker("n3", "n1", "n5", "embed-0", cfg, random.Random(1),
                        flaws=PipelineFlaws(ack_before_embed=True))
    w.tick(0)
    w.ready()
    w.step(_deliver("a", 1, "x y", "1"))
    r = w.ready()
    assert [m.tag for m in r.messages if isinstance(m, Ack)] == ["1"]


def test_store_node_persists_before_confirming_and_reports_outcomes() -> None:
    s = VectorStoreNode("n5", PipelineConfig(), random.Random(1))
    s.step(Upsert("n3", "n5", "b1", (_write("d", 2, 2), _write("d", 1, 1))))
    r = s.ready()
    assert r.sync and len(r.persist) == 3  # two points + head
    (ack,) = r.messages
    assert isinstance(ack, UpsertAck) and ack.outcomes == (("d@v2", "applied"), ("d@v1", "stale"))
    restarted = VectorStoreNode("n5", PipelineConfig(), random.Random(1),
                                durable={op.key: op.value for op in r.persist if isinstance(op, Put)})
    assert restarted.snapshot() == s.snapshot() and restarted.heads == {"d": 2}
