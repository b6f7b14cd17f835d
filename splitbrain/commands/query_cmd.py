"""``splitbrain ingest`` and ``splitbrain query "text" --top 5``: the RAG pipeline, for real.

``ingest`` runs the catalog scenario ``pipeline-ingest`` (:mod:`scenarios.ingest`) on the
real engine: the pipeline's cores as Ray actors, the real model (all-MiniLM-L6-v2) in the
embedding workers, checked by the pipeline and delivery checkers like any run, and its
vector store exported for ``query``.  ``query`` embeds the question with the same model and
prints the top-k chunks by cosine similarity, each with the document version it was
computed from.  Both exit 3 with one line saying what to install when torch /
sentence-transformers / the model package is missing, and ``query`` when there is no store.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from splitbrain.commands import Command
from splitbrain.errors import EXIT_USAGE, VERDICT_EXIT, input_errors


def _fail(text: str) -> int:
    sys.stderr.write(f"splitbrain: error: {text}\n")
    return EXIT_USAGE


def _vectors(store: str | None) -> Path:
    from splitbrain.commands.run_cmd import vectors_root

    return vectors_root(None) if store is None else Path(store)


def _query_configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("text", help="what to search for")
    p.add_argument("--top", type=int, default=5, metavar="K", help="how many chunks to show (default 5)")
    p.add_argument("--store", metavar="DIR",
                   help="a vector store, or a folder whose LATEST names one (default: store/vectors, "
                        "where 'splitbrain ingest' and real pipeline runs leave theirs)")
    p.add_argument("--json", action="store_true", help="print hits as JSON")


def _query_run(args: argparse.Namespace) -> int:
    import json

    from cluster.runtime.embed.model import missing
    from cluster.runtime.embed.vector_store import VectorStore
    from scenarios.system_pipeline import STORE_POINTER, latest_store

    if args.top < 1:
        return _fail("--top must be at least 1")
    where = _vectors(args.store)
    store_dir = latest_store(where)
    if store_dir is None:
        shown = where if args.store else where / STORE_POINTER
        return _fail(f"no vector store at {shown}: run 'splitbrain ingest' first (or pass --store DIR)")
    reason = missing()
    if reason:
        return _fail(reason)
    from cluster.runtime.embed.model import SentenceEmbedder

    embedder = SentenceEmbedder(device="cpu", threads=1)
    store = VectorStore(store_dir)
    hits = store.search(embedder.embed([args.text])[0], args.top)
    store.close()
    if args.json:
        print(json.dumps([h.__dict__ for h in hits], indent=2))
        return 0
    print(f"top {len(hits)} of {store_dir} for: {args.text}")
    for h in hits:
        text = h.text if len(h.text) <= 110 else h.text[:107] + "..."
        print(f"  {h.score:.3f}  {h.doc} v{h.version} chunk {h.index}  {text}")
    return 0


def _ingest_configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--docs", type=int, default=12, help="documents to write (plus a few updates)")
    p.add_argument("--batch-size", type=int, default=8, help="documents per embedding batch")
    p.add_argument("--workers", type=int, default=2, help="embedding workers, 2 or more (default 2)")
    p.add_argument("--crash-after", type=int, default=0, metavar="N",
                   help="crash worker n3 right after its N-th batch's upsert (0: never)")
    p.add_argument("--broker", default="model", choices=("model", "rabbitmq", "kafka"),
                   help="model: the broker core as a node (default); rabbitmq/kafka: a real broker, "
                        "private unless --broker-address names one")
    p.add_argument("--broker-address", metavar="ADDR", help="amqp URL or Kafka bootstrap address of a running broker")
    p.add_argument("--flaw", action="append", metavar="FLAW", help="switch a pipeline flaw on (repeatable)")
    p.add_argument("--store", metavar="DIR",
                   help="write the vector store under DIR and point DIR/LATEST at it (default: store/vectors)")
    p.add_argument("--ray-address", metavar="ADDR", help="join this Ray cluster instead of starting one")


def _ingest_run(args: argparse.Namespace) -> int:
    try:
        return _ingest(args)
    except input_errors() as e:
        return _fail(str(e))


def _ingest(args: argparse.Namespace) -> int:
    from cluster.runtime.launch import RayLauncher, RayOptions
    from scenarios.ingest import ingest_scenario, summarize
    from scenarios.results import write_run
    from scenarios.runner import effective, run_scenario

    if args.broker_address and args.broker == "model":
        return _fail("--broker-address needs --broker rabbitmq or --broker kafka")
    sc = ingest_scenario(docs=args.docs, batch_size=args.batch_size, workers=args.workers,
                         crash_after=args.crash_after, broker=args.broker)
    sc = effective(sc, seed=None, flaws=tuple(args.flaw) if args.flaw else None, time_limit_s=None)
    options = RayOptions(address=args.ray_address, model_broker=args.broker == "model",
                         amqp_url=args.broker_address if args.broker == "rabbitmq" else None,
                         kafka_bootstrap=args.broker_address if args.broker == "kafka" else None)
    # Ray prints worker-death notices on stdout (a --crash-after crash is one); keep stdout
    # for the result.
    with contextlib.redirect_stdout(sys.stderr):
        outcome = run_scenario(sc, RayLauncher(options), export_dir=_vectors(args.store))
    run_dir = write_run(outcome)
    s = summarize(outcome)
    rate = f"{s.docs_per_s} docs/s" if s.docs_per_s is not None else "no document processed"
    crashed = f", worker n3 crashed {s.crashes} time(s)" if s.crashes else ""
    print(f"ingested {s.versions} document versions ({s.documents} documents) into "
          f"{outcome.stats.get('vector_store', 'no vector store')} ({rate}, {s.chunks} chunks, "
          f"{s.workers} workers, batch {args.batch_size}{crashed})")
    for r in outcome.results:
        print(f"{r['checker']:<10} {r['verdict'].upper()}")
        for line in r["explanation"][:4]:
            print(f"  - {line}")
    print(f"results: {run_dir}")
    return VERDICT_EXIT[outcome.verdict]


COMMANDS = [
    Command("query", "search the last real ingestion's vector store (all-MiniLM-L6-v2, cosine top-k)",
            'splitbrain query "why do consumers need an inbox" --top 5', _query_configure, _query_run),
    Command("ingest", "run the RAG ingestion pipeline with the real model on Ray into a real vector store, then check it",
            "splitbrain ingest --docs 24 --crash-after 1", _ingest_configure, _ingest_run),
]
