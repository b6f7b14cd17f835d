"""Embedding benchmark: the model alone, then the whole ingestion pipeline.

* model alone: sentences/s of all-MiniLM-L6-v2 by batch size (CPU here; CUDA if present),
  one process using every core as torch threads;
* end to end: document versions/s through docstore -> outbox -> broker model -> 2 embedding
  worker cores -> real vector store, with 1 and with 2 model actors on Ray (each actor gets
  its share of the cores as threads; with 1 actor both workers wait for the same model).

Prints a table and writes bench/results/embed.json.  Exit 3 (one line saying what to
install) when torch / sentence-transformers / the model package is missing.

Run:  .venv/bin/python bench/embed.py [--sentences 512] [--batches 8,32,128] [--docs 96]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def sentences(n: int) -> list[str]:
    from cluster.runtime.embed.ingest import CORPUS

    words = " ".join(t for _, t in CORPUS).split()
    return [" ".join(words[(i * 7) % (len(words) - 24):(i * 7) % (len(words) - 24) + 12 + i % 12]) for i in range(n)]


def bench_model(n: int, batches: list[int]) -> list[dict[str, object]]:
    from cluster.runtime.embed.model import SentenceEmbedder

    threads = os.cpu_count() or 1
    m = SentenceEmbedder(threads=threads)
    texts = sentences(n)
    m.embed(texts[:32])  # warm-up
    rows = []
    for b in batches:
        m.batch_size = b
        t0 = time.perf_counter()
        m.embed(texts)
        dt = time.perf_counter() - t0
        rows.append({"batch_size": b, "sentences": n, "seconds": round(dt, 3), "sentences_per_s": round(n / dt, 1),
                     "device": m.device, "threads": threads})
    return rows


def bench_pipeline(docs: int, batch_size: int) -> list[dict[str, object]]:
    from cluster.runtime.embed.ingest import run_ingest

    rows = []
    for actors in (1, 2):
        with tempfile.TemporaryDirectory() as d:
            run = run_ingest(docs=docs, batch_size=batch_size, store_dir=Path(d) / "s", model_actors=actors)
        import ray

        ray.shutdown()  # a fresh cluster per row, so actors do not pile up
        rows.append({"model_actors": actors, "worker_cores": 2, **run.stats,
                     "verdicts": [r["verdict"] for r in run.results]})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sentences", type=int, default=512)
    ap.add_argument("--batches", default="8,32,128")
    ap.add_argument("--docs", type=int, default=96)
    ap.add_argument("--batch-size", type=int, default=8, help="documents per worker batch (end to end)")
    args = ap.parse_args()
    from cluster.runtime.embed.model import missing

    reason = missing()
    if reason:
        sys.stderr.write(f"bench/embed.py: {reason}\n")
        return 3
    model = bench_model(args.sentences, [int(x) for x in args.batches.split(",")])
    print(f"{'batch':>6} {'sentences/s':>12} {'device':>7} {'threads':>8}")
    for r in model:
        print(f"{r['batch_size']:>6} {r['sentences_per_s']:>12} {r['device']:>7} {r['threads']:>8}")
    e2e = bench_pipeline(args.docs, args.batch_size)
    print(f"\n{'actors':>6} {'versions':>9} {'wall s':>7} {'docs/s':>7} {'chunks':>7}  verdicts")
    for r in e2e:
        print(f"{r['model_actors']:>6} {r['versions']:>9} {r['wall_s']:>7} {r['docs_per_s']:>7} {r['points']:>7}  "
              f"{','.join(r['verdicts'])}")  # type: ignore[arg-type]
    out = ROOT / "bench" / "results" / "embed.json"
    out.write_text(json.dumps({"machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
                               "model": model, "end_to_end": e2e}, indent=2) + "\n")
    print(f"\nwrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
