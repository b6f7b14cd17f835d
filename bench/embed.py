"""Embedding benchmark: the model alone, then the whole ingestion pipeline through each broker.

* model alone: sentences/s of all-MiniLM-L6-v2 by batch size (CPU here; CUDA if present),
  one process using every core as torch threads (``--threads``), and in calls of 8 texts
  as a pipeline worker makes them;
* end to end: document versions/s through docstore -> outbox -> broker -> embedding workers
  -> vector store: the catalog scenario ``pipeline-ingest`` (what ``splitbrain ingest`` runs)
  on the real engine through the one runner, with 2 and with 3 embedding workers, each a Ray
  actor that loads the real model before the run's clock starts (CPU: ``cores // workers``
  threads each, so both rows use the whole machine).  Brokers: ``rabbitmq`` and ``kafka``
  (Tansu), private brokers started by the bench unless ``--amqp-url`` / ``--kafka-bootstrap``
  name running ones, and ``model`` (the broker node runs the broker model core: the baseline
  without a real broker).

Columns of the end-to-end table (times from the run's trace):

* ``docs/s``: versions / (last effect - first document write): what a client sees, including
  the wait until the consumers are subscribed (a Tansu group join takes ~3 s);
* ``steady/s``: versions / (last effect - first delivery): the pipeline once flowing;
* ``join s``: first document write -> first delivery to a worker;
* ``wall s``: the whole run once its actors exist: model loading, the run, and its settle
  phase (the quiet tail that makes sure no redelivery is still coming).

Every row must come out with both checkers ``valid``; the bench says so otherwise.

Prints the tables and writes JSON to ``--out`` (default ``splitbrain-bench/embed.json`` in the
temp directory; never into the repository).  Exit 3 (one line saying what to install) when
torch / sentence-transformers / the model package or a broker is missing.

Run:  .venv/bin/python bench/embed.py [--quick] [--docs 96] [--brokers model,rabbitmq,kafka]
      [--workers 2,3] [--sentences 512] [--batches 8,32,128] [--model-only] [--repeat 3] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.output import default_out, write_json  # noqa: E402


def sentences(n: int) -> list[str]:
    from scenarios.corpus import CORPUS

    words = " ".join(t for _, t in CORPUS).split()
    return [" ".join(words[(i * 7) % (len(words) - 24):(i * 7) % (len(words) - 24) + 12 + i % 12]) for i in range(n)]


def bench_model(n: int, batches: list[int], repeat: int, threads: int) -> list[dict[str, Any]]:
    """Sentences/s of ``SentenceEmbedder.embed`` by batch size, and in calls of 8 texts (the
    size of a pipeline worker's batch, where per-call overhead shows); each case the best of
    ``repeat`` passes, the cases taken in turn so that all see the same machine load."""
    from cluster.runtime.embed.model import SentenceEmbedder

    m = SentenceEmbedder(threads=threads)
    texts = sentences(n)
    m.embed(texts[:32])  # warm-up

    def embed(batch: int) -> Any:
        m.batch_size = batch
        return m.embed(texts)

    def in_calls_of_8() -> Any:
        m.batch_size = 8
        return [m.embed(texts[i:i + 8]) for i in range(0, n, 8)]

    cases: list[tuple[str, int, Any]] = [("embed", b, lambda b=b: embed(b)) for b in batches]
    cases.append(("embed, calls of 8", 8, in_calls_of_8))
    best = [float("inf")] * len(cases)
    for _ in range(repeat):
        for i, (_, _, run) in enumerate(cases):
            t0 = time.perf_counter()
            run()
            best[i] = min(best[i], time.perf_counter() - t0)
    return [{"path": path, "batch_size": b, "sentences": n, "seconds": round(dt, 3),
             "sentences_per_s": round(n / dt, 1), "device": m.device, "threads": threads}
            for (path, b, _), dt in zip(cases, best, strict=True)]


def timings(trace: list[dict[str, Any]], versions: int) -> dict[str, Any]:
    """End-to-end times from the run's trace (milliseconds since the run started)."""
    writes = [int(r["t"]) for r in trace if r.get("kind") == "doc-write"]
    consumes = [int(r["t"]) for r in trace if r.get("kind") == "consume"]
    done = [int(r["t"]) for r in trace if r.get("kind") in ("effect", "dedup")]
    if not (writes and consumes and done):
        return {"e2e_s": None, "steady_s": None, "join_s": None, "docs_per_s": None, "steady_docs_per_s": None}
    e2e = (max(done) - min(writes)) / 1000
    steady = (max(done) - min(consumes)) / 1000
    return {"e2e_s": round(e2e, 3), "steady_s": round(steady, 3), "join_s": round((min(consumes) - min(writes)) / 1000, 3),
            "docs_per_s": round(versions / e2e, 1) if e2e > 0 else None,
            "steady_docs_per_s": round(versions / steady, 1) if steady > 0 else None}


def bench_pipeline(docs: int, batch_size: int, brokers: list[str], workers: list[int], *,
                   amqp_url: str | None, kafka_bootstrap: str | None, timeout: float) -> list[dict[str, Any]]:
    from cluster.runtime.brokers import broker_endpoint
    from cluster.runtime.launch import RayLauncher, RayOptions
    from cluster.runtime.ray_local import start_local
    from scenarios.ingest import ingest_scenario, summarize
    from scenarios.runner import run_scenario

    rows = []
    with ExitStack() as stack:
        endpoints: dict[str, Any] = {}
        for kind in brokers:  # private brokers once for all rows (a cold RabbitMQ boot takes seconds)
            if kind != "model":
                t0 = time.perf_counter()
                endpoints[kind] = stack.enter_context(
                    broker_endpoint(kind, amqp_url=amqp_url, kafka_bootstrap=kafka_bootstrap))
                print(f"  {kind} broker up at {endpoints[kind].address} ({time.perf_counter() - t0:.1f} s)", flush=True)
        ray_tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="sb-bench-"))
        # one private loopback Ray for every row, started and swept like a run's own
        stack.enter_context(start_local(ray_tmp, tag=f"bench-embed-{os.getpid()}", num_cpus=os.cpu_count() or 1))
        for w in workers:
            for kind in brokers:
                sc = ingest_scenario(docs=docs, batch_size=batch_size, workers=w, broker=kind)
                sc = sc.with_overrides(time_limit_s=timeout)
                ep = endpoints.get(kind)
                options = RayOptions(model_broker=kind == "model",
                                     amqp_url=ep.address if ep is not None and kind == "rabbitmq" else None,
                                     kafka_bootstrap=ep.address if ep is not None and kind == "kafka" else None)
                with tempfile.TemporaryDirectory() as d:
                    out = run_scenario(sc, RayLauncher(options), export_dir=Path(d))
                s = summarize(out)
                verdicts = [str(r["verdict"]) for r in out.results]
                row = {"broker": "tansu" if kind == "kafka" else kind, "workers": w,
                       "threads_per_worker": max(1, (os.cpu_count() or 1) // w), "gpus": out.stats.get("gpus", 0.0),
                       "documents": s.documents, "versions": s.versions, "points": s.chunks,
                       "batch_size": batch_size, "wall_s": out.stats["wall_s"],
                       **timings(out.trace, s.versions), "verdicts": verdicts}
                rows.append(row)
                flag = "" if verdicts == ["valid", "valid"] else "  <-- NOT VALID"
                print(f"    {row['broker']:<9} workers={w}: {row['docs_per_s']} docs/s "
                      f"(steady {row['steady_docs_per_s']}), {','.join(verdicts)}{flag}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="small sizes (128 sentences, batches 8,32, 48 docs): the whole bench in ~2 minutes")
    ap.add_argument("--sentences", type=int, help="sentences for the model-alone part (default 512; quick 128)")
    ap.add_argument("--batches", help="model batch sizes, comma list (default 8,32,128; quick 8,32)")
    ap.add_argument("--docs", type=int, help="documents per end-to-end run (default 96; quick 48)")
    ap.add_argument("--batch-size", type=int, default=8, help="documents per worker batch (end to end)")
    ap.add_argument("--brokers", default="model,rabbitmq,kafka", help="comma list: model, rabbitmq, kafka (Tansu)")
    ap.add_argument("--workers", default="2,3", help="embedding worker counts (2 or more), comma list")
    ap.add_argument("--skip-model", action="store_true", help="only the end-to-end part")
    ap.add_argument("--model-only", action="store_true", help="only the model-alone part (no Ray, no broker)")
    ap.add_argument("--repeat", type=int, default=3, help="passes per model case; the best is reported")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads (model-alone part)")
    ap.add_argument("--amqp-url", help="use this RabbitMQ instead of a private node")
    ap.add_argument("--kafka-bootstrap", help="use this Kafka-protocol broker instead of a private Tansu")
    ap.add_argument("--timeout", type=float, default=300.0, help="time limit (s) of each end-to-end run")
    ap.add_argument("--out", default=default_out("embed"),
                    help="JSON results (default in the temp directory, never the repository)")
    args = ap.parse_args(argv)
    n_sentences = args.sentences or (128 if args.quick else 512)
    batches = [int(x) for x in (args.batches or ("8,32" if args.quick else "8,32,128")).split(",")]
    docs = args.docs or (48 if args.quick else 96)
    brokers = [b.strip().lower() for b in args.brokers.split(",") if b.strip()]
    brokers = ["kafka" if b == "tansu" else b for b in brokers]
    for b in brokers:
        if b not in ("model", "rabbitmq", "kafka"):
            ap.error(f"unknown broker {b!r} (model, rabbitmq, kafka)")
    workers = [int(x) for x in args.workers.split(",") if x.strip()]
    if any(w < 2 for w in workers):
        ap.error("--workers: the pipeline system has at least 2 embedding workers")

    from cluster.runtime.brokers import BrokerSetupError
    from cluster.runtime.embed.model import missing

    reason = missing()
    if reason:
        sys.stderr.write(f"bench/embed.py: {reason}\n")
        return 3
    if args.repeat < 1 or args.threads < 1:
        ap.error("--repeat and --threads must be at least 1")
    t_start = time.perf_counter()
    load_before = os.getloadavg()
    model: list[dict[str, Any]] = []
    if not args.skip_model:
        model = bench_model(n_sentences, batches, args.repeat, args.threads)
        print(f"{'path':<24} {'batch':>6} {'sentences/s':>12} {'device':>7} {'threads':>8}")
        for r in model:
            print(f"{r['path']:<24} {r['batch_size']:>6} {r['sentences_per_s']:>12} {r['device']:>7} {r['threads']:>8}")
        print(f"load average before/after: {'/'.join(f'{x:.2f}' for x in load_before)} -> "
              f"{'/'.join(f'{x:.2f}' for x in os.getloadavg())}; best of {args.repeat}", flush=True)
    e2e: list[dict[str, Any]] = []
    if not args.model_only:
        try:
            e2e = bench_pipeline(docs, args.batch_size, brokers, workers, amqp_url=args.amqp_url,
                                 kafka_bootstrap=args.kafka_bootstrap, timeout=args.timeout)
        except BrokerSetupError as exc:
            sys.stderr.write(f"bench/embed.py: {exc.line()}\n")
            return exc.exit_code
    if e2e:
        print(f"\n{'broker':<9} {'workers':>7} {'threads':>7} {'versions':>8} {'chunks':>6} {'docs/s':>7} "
              f"{'steady/s':>8} {'join s':>6} {'wall s':>7}  verdicts")
    for r in e2e:
        print(f"{r['broker']:<9} {r['workers']:>7} {r['threads_per_worker']:>7} {r['versions']:>8} {r['points']:>6} "
              f"{r['docs_per_s']!s:>7} {r['steady_docs_per_s']!s:>8} {r['join_s']!s:>6} {r['wall_s']:>7}  "
              f"{','.join(r['verdicts'])}")
    out = write_json(args.out, {
        "benchmark": "embed",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "params": {"quick": args.quick, "sentences": n_sentences, "batches": batches, "docs": docs,
                   "batch_size": args.batch_size, "brokers": brokers, "workers": workers},
        "load_before": load_before, "load_after": os.getloadavg(),
        "model": model, "end_to_end": e2e,
        "seconds": round(time.perf_counter() - t_start, 1)})
    print(f"\nwrote {out} "
          f"({time.perf_counter() - t_start:.0f} s)")
    bad = [r for r in e2e if r["verdicts"] != ["valid", "valid"]]
    if bad:
        print(f"{len(bad)} end-to-end run(s) were not judged valid: see {out}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
