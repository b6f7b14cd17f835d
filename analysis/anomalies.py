"""The learner's anomaly vocabulary: a few plain words for what a checker found.

Every checker speaks its own precise language: linearizability names an operation that
cannot be placed, the Raft checker an invariant, the saga checkers their rules, the log and
isolation checkers Jepsen's and Elle's anomaly types (kept in their ``anomalies`` maps).
A learner who predicts "this will serve a stale read" needs one shared word list that every
checker maps onto, so that a prediction is graded from the results themselves instead of
from a string someone typed next to the scenario.

So every checker result carries ``anomaly_tags``: a sorted list of words from
:data:`VOCABULARY` naming what it found (empty when it found nothing).  The checker picks
them when it records a violation, because only it knows whether "applied 0 times" was a
lost write or "applied 3 times" a duplicate effect.  A plugin checker may use a new word
after :func:`register_anomaly`; an unknown word is a bug in the checker
(:func:`check_tags`), never silently dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "VOCABULARY",
    "check_tags",
    "describe",
    "register_anomaly",
    "tags_of",
]

VOCABULARY: dict[str, str] = {
    "stale-read": "a read returned a value that a write which had already completed had replaced",
    "lost-write": "a write that was acknowledged (or committed) is gone: later reads and the final state miss it",
    "lost-update": "a read-modify-write (compare-and-set) succeeded against a value that had already been replaced",
    "duplicate-effect": "one request took effect more than once: a double charge, a message processed twice, "
                        "a write applied twice, a passage stored twice",
    "timeout-as-failure": "an operation whose deadline passed was reported as failed, yet it took effect",
    "two-leaders": "two nodes were leader of the same term at once (split brain)",
    "divergent-replicas": "two replicas hold or applied different things at the same position of the log",
    "lost-message": "a message was acknowledged (or committed past) but never processed: it is gone",
    "skipped-message": "a consumer jumped over messages it should have read",
    "out-of-order": "messages or steps were seen in an order the system promised never to show",
    "phantom-publish": "an event announced a change that never committed (a dual write)",
    "stranded-saga": "a saga was left half done: some steps applied, never completed nor compensated",
    "stale-overwrite": "an older version replaced a newer one (last write wins without versions)",
    "dirty-write": "two transactions' writes interleaved in a cycle (G0)",
    "aborted-read": "a read saw a write of a transaction that aborted (G1a)",
    "intermediate-read": "a read saw a transaction's intermediate, not final, write (G1b)",
    "circular-flow": "transactions saw each other's writes in a cycle (G1c)",
    "read-skew": "a transaction saw part of another's writes but not the rest (G-single)",
    "write-skew": "two transactions each read what the other then overwrote, and both committed (G2)",
    "garbage-read": "a read returned a value that nobody wrote",
    "stuck-partition": "a partition stopped making progress: one event that never succeeds blocks every event behind it",
    "unfenced-write": "a storage accepted a write from a client whose lock had passed to another (no fencing token check)",
    "not-linearizable": "no order of the operations respects real time (no simpler cause was identified)",
}
"""Word -> one line saying what it means, shown by ``show``, ``learn`` and the report."""


def register_anomaly(word: str, meaning: str) -> None:
    """Add a word for a plugin checker (the same word twice must mean the same thing)."""
    if not word or word != word.strip().lower() or " " in word or ":" in word:
        raise ValueError(f"anomaly word {word!r}: use lower-case words joined by '-'")
    known = VOCABULARY.get(word)
    if known is not None and known != meaning:
        raise ValueError(f"anomaly word {word!r} is already registered with another meaning")
    VOCABULARY[word] = meaning


def describe(word: str) -> str:
    """What ``word`` means (raises ``KeyError`` for a word nobody registered)."""
    return VOCABULARY[word]


def check_tags(checker: str, tags: Any) -> list[str]:
    """``tags`` as a sorted list of known words; ``ValueError`` names the checker otherwise."""
    if not isinstance(tags, (list, tuple)):
        raise ValueError(f"checker {checker!r} returned anomaly_tags {tags!r}; expected a list of words")
    unknown = [t for t in tags if t not in VOCABULARY]
    if unknown:
        raise ValueError(f"checker {checker!r} returned anomaly tag {unknown[0]!r}, which is not in the "
                         "vocabulary (analysis/anomalies.py; plugins call register_anomaly)")
    return sorted(set(tags))


def tags_of(results: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every word the invalid results of a run name, sorted (what a prediction is graded on)."""
    found: set[str] = set()
    for r in results:
        if r.get("verdict") == "invalid":
            found.update(str(t) for t in r.get("anomaly_tags") or ())
    return sorted(found)
