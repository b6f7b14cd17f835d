"""The ingest run: the catalog's ``pipeline-ingest`` scenario with a command's overrides.

``splitbrain ingest`` is this scenario on the real engine with the real model; its flags
become scenario overrides here (how many documents, the batch size, the workers, a worker
crash, a flaw, which broker), so the run goes through the one runner like any scenario:
the same faults (:mod:`faults`), the same checkers, the same results folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from analysis import trace_kinds as K
from scenarios.runner import RunOutcome
from scenarios.spec import Scenario, ScenarioError, load

__all__ = ["SCENARIO", "IngestSummary", "ingest_scenario", "summarize"]

SCENARIO = "pipeline-ingest"
BROKERS = ("model", "rabbitmq", "kafka")


def ingest_scenario(*, docs: int = 12, batch_size: int = 8, workers: int = 2, crash_after: int = 0,
                    broker: str = "model", flaws: Sequence[str] = (), embedder: str | None = None) -> Scenario:
    """``pipeline-ingest`` with these settings.

    * ``crash_after`` N > 0: worker ``n3`` crashes right after its N-th batch left for the
      store (and restarts): the broker hands its unacknowledged documents out again;
    * ``broker``: ``model`` (the broker node runs the modelled broker core), ``rabbitmq`` (a
      queue) or ``kafka`` (a log); which real broker serves it is the engine's choice;
    * ``embedder``: ``minilm`` (the real model: the real engine's default) or ``hash``.
    """
    if docs < 1:
        raise ScenarioError(f"--docs must be at least 1, got {docs}")
    if batch_size < 1:
        raise ScenarioError(f"--batch-size must be at least 1, got {batch_size}")
    if workers < 2:
        raise ScenarioError(f"--workers must be at least 2 (the pipeline system's layout), got {workers}")
    if crash_after < 0:
        raise ScenarioError(f"--crash-after must be 0 (never) or more, got {crash_after}")
    if broker not in BROKERS:
        raise ScenarioError(f"--broker must be one of {', '.join(BROKERS)}, got {broker!r}")
    base = load(SCENARIO)
    config: dict[str, Any] = {**base.config, "batch_size": batch_size, "prefetch": max(16, 2 * batch_size),
                              "broker": "log" if broker == "kafka" else "queue"}
    if embedder is not None:
        config["embedder"] = embedder
    faults: tuple[dict[str, Any], ...] = ()
    if crash_after:
        faults = ({"on": {"kind": K.BATCH_EMBEDDED, "where": {"node": "n3"}}, "skip": crash_after - 1,
                   "delay": 0, "duration": 100, "times": 1, "fault": {"fault": "crash", "node": "n3"}},)
    return base.with_overrides(
        nodes=workers + 3,
        workload={**base.workload, "docs": docs},
        config=config,
        faults=faults,
        flaws=tuple(flaws),
        duration_ms=max(base.duration_ms, 5_000 + 300 * docs),
    )


@dataclass(frozen=True)
class IngestSummary:
    """What an ingest run left in the vector store, and how fast it got there."""

    documents: int
    versions: int
    chunks: int
    workers: int
    crashes: int
    e2e_s: float | None
    """First document write to the last document processed (what a client waits)."""
    docs_per_s: float | None


def summarize(outcome: RunOutcome) -> IngestSummary:
    trace = outcome.trace
    final: dict[str, Any] = next((r for r in reversed(trace) if r.get("kind") == K.PIPELINE_FINAL), {})
    docs = final.get("docs", {})
    versions = sum(int(v[0]) for v in docs.values())
    chunks = sum(len(points) for points in final.get("store", {}).values())
    writes = [int(r["t"]) for r in trace if r.get("kind") == K.DOC_WRITE]
    done = [int(r["t"]) for r in trace if r.get("kind") in (K.EFFECT, K.DEDUP)]
    e2e = (max(done) - min(writes)) / 1000 if writes and done else None
    return IngestSummary(
        documents=len(docs), versions=versions, chunks=chunks, workers=outcome.scenario.nodes - 3,
        crashes=sum(1 for r in trace if r.get("kind") == K.CRASH),
        e2e_s=round(e2e, 3) if e2e is not None else None,
        docs_per_s=round(versions / e2e, 2) if e2e else None,
    )
