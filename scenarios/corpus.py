"""A small corpus of real sentences about distributed systems, for ingesting and searching.

``splitbrain ingest`` writes these documents through the pipeline system (workload kind
``corpus``) with the real embedding model, so that ``splitbrain query "why do consumers need
an inbox"`` finds passages that answer it.  The simulator's random-word workload (kind
``ingest``) is fine for checking the pipeline, but nothing in it is worth searching.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["CORPUS", "UPDATES", "CorpusWorkload", "corpus_writes"]

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


def corpus_writes(n_docs: int) -> list[tuple[str, str]]:
    """``n_docs`` document writes (the corpus, repeated under numbered ids when more are
    asked for), then a new version of every updated document that is among them."""
    rounds = (n_docs + len(CORPUS) - 1) // len(CORPUS)
    out = [(name if i == 0 else f"{name}-{i}", text) for i in range(rounds) for name, text in CORPUS][:n_docs]
    names = {d for d, _ in out}
    out += [(d, t) for d, t in UPDATES if d in names]
    return out


@dataclass
class CorpusWorkload:
    """Every write of :func:`corpus_writes` exactly once, in order, shared by all clients."""

    docs: int = 12
    _writes: list[tuple[str, str]] = field(default_factory=list)
    _next: int = 0

    def __post_init__(self) -> None:
        self._writes = corpus_writes(self.docs)

    def next_op(self, process: int, rng: random.Random) -> tuple[str, str | None, str] | None:
        if self._next >= len(self._writes):
            return None
        doc, text = self._writes[self._next]
        self._next += 1
        return ("write", doc, text)
