"""``splitbrain query "text" --top 5``: search the vector store of the last real ingestion.

``splitbrain ingest`` runs the pipeline's cores with the real model (all-MiniLM-L6-v2 in Ray
actors) into a real vector store (sqlite + numpy) and checks the result; ``query`` embeds the
question with the same model and prints the top-k chunks by cosine similarity, each with the
document version it was computed from.  Both exit 3 with one line saying what to install when
torch / sentence-transformers / the model package is missing, and ``query`` when there is no
store yet.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from splitbrain.commands import Command
from splitbrain.errors import EXIT_USAGE, VERDICT_EXIT


def _fail(text: str) -> int:
    sys.stderr.write(f"splitbrain: error: {text}\n")
    return EXIT_USAGE


def _query_configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("text", help="what to search for")
    p.add_argument("--top", type=int, default=5, metavar="K", help="how many chunks to show (default 5)")
    p.add_argument("--store", metavar="DIR", help="a vector store folder (default: the last 'splitbrain ingest')")
    p.add_argument("--json", action="store_true", help="print hits as JSON")


def _query_run(args: argparse.Namespace) -> int:
    import json

    from cluster.runtime.embed.ingest import latest_store, store_root
    from cluster.runtime.embed.model import missing
    from cluster.runtime.embed.vector_store import VectorStore

    if args.top < 1:
        return _fail("--top must be at least 1")
    store_dir = Path(args.store) if args.store else latest_store()
    if store_dir is None or not VectorStore.exists(store_dir):
        where = store_dir if store_dir is not None else f"{store_root()}/LATEST"
        return _fail(f"no vector store at {where}: run 'splitbrain ingest' first (or pass --store DIR)")
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
    p.add_argument("--crash-after", type=int, default=0, metavar="N",
                   help="crash worker n3 right after its N-th batch's upsert (0: never)")
    p.add_argument("--broker", default="model", choices=("model", "rabbitmq", "kafka"),
                   help="model: the broker core in-process (default); rabbitmq/kafka need --broker-address")
    p.add_argument("--broker-address", metavar="ADDR", help="amqp URL or Kafka bootstrap address")
    p.add_argument("--flaw", action="append", metavar="FLAW", help="switch a pipeline flaw on (repeatable)")
    p.add_argument("--store", metavar="DIR", help="write the vector store here (default: store/vectors/<time>)")


def _ingest_run(args: argparse.Namespace) -> int:
    from cluster.core.pipeline import PipelineFlaws
    from cluster.runtime.embed.ingest import run_ingest
    from cluster.runtime.embed.model import missing

    reason = missing()
    if reason:
        return _fail(reason)
    try:
        flaws = PipelineFlaws.from_names(args.flaw or ())
    except ValueError as e:
        return _fail(str(e))
    run = run_ingest(docs=args.docs, batch_size=args.batch_size, crash_after_batches=args.crash_after,
                     broker=args.broker, broker_address=args.broker_address, flaws=flaws,
                     store_dir=Path(args.store) if args.store else None)
    s = run.stats
    print(f"ingested {s['versions']} document versions ({s['documents']} documents) into {run.store_dir} "
          f"in {s['wall_s']} s ({s['docs_per_s']} docs/s, {s['points']} chunks, 2 workers, batch {s['batch_size']}"
          f"{', worker n3 crashed once' if s['crashed_worker'] else ''})")
    for r in run.results:
        print(f"{r['checker']:<10} {r['verdict'].upper()}")
        for line in r["explanation"][:4]:
            print(f"  - {line}")
    from analysis.verdicts import overall

    return VERDICT_EXIT[overall(run.results)]


COMMANDS = [
    Command("query", "search the last real ingestion's vector store (all-MiniLM-L6-v2, cosine top-k)",
            'splitbrain query "why do consumers need an inbox" --top 5', _query_configure, _query_run),
    Command("ingest", "run the RAG ingestion pipeline with the real model on Ray into a real vector store, then check it",
            "splitbrain ingest --docs 24 --crash-after 1", _ingest_configure, _ingest_run),
]
