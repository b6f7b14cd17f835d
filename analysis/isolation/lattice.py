"""Consistency models, anomalies, and which anomaly rules out which model.

The checker finds *anomalies* (a G-single cycle, an aborted read ...).  What a user wants
to know is what that means for the database's promise: "this history is not snapshot
isolated".  This module holds the two small graphs that answer it, after Adya's
"Weak Consistency" (2000), Adya/Liskov/O'Neil's "Generalized Isolation Level Definitions"
and the model hierarchy of jepsen.io/consistency, as Elle uses them:

* :data:`IMPLIES` -- model A implies model B (every A history is a B history);
* :data:`PROSCRIBED_BY` -- the models that *directly* forbid an anomaly.

An anomaly then rules out every model that forbids it and every model stronger than
those (:func:`ruled_out`); the friendly answer is the *weakest* models ruled out
(:func:`weakest`), because the stronger ones follow.

Process and realtime variants: a process edge says one session's transaction finished
before its next began; a realtime edge says one transaction finished before another
began.  Serializability allows both to be reordered, so a cycle that needs such an edge
rules out only the "strong" (session or realtime) models.  Because a process is
single-threaded, a process edge is also a realtime edge, so every ``-process`` anomaly
implies its ``-realtime`` twin.
"""

from __future__ import annotations

from collections.abc import Iterable

# Weakest first; the order is used when listing models to a user.
MODELS: tuple[str, ...] = (
    "read-uncommitted",
    "read-committed",
    "repeatable-read",
    "snapshot-isolation",
    "serializable",
    "strong-session-snapshot-isolation",
    "strong-snapshot-isolation",
    "strong-session-serializable",
    "strict-serializable",
)

#: What ``--consistency-model`` defaults to.  Elle's default, and what splitbrain's own
#: transactional store (a Raft log applying whole transactions in order) promises.
DEFAULT_MODEL = "strict-serializable"

#: Other spellings a user may type (Adya's PL names, Jepsen's aliases).
ALIASES: dict[str, str] = {
    "PL-1": "read-uncommitted",
    "PL-2": "read-committed",
    "PL-2.99": "repeatable-read",
    "PL-SI": "snapshot-isolation",
    "PL-3": "serializable",
    "conflict-serializable": "serializable",
    "PL-SS": "strict-serializable",
    "strong-serializable": "strict-serializable",
}

#: A -> models that A directly implies.
IMPLIES: dict[str, tuple[str, ...]] = {
    "strict-serializable": (
        "serializable",
        "strong-snapshot-isolation",
        "strong-session-serializable",
    ),
    "strong-session-serializable": ("serializable", "strong-session-snapshot-isolation"),
    "strong-snapshot-isolation": ("strong-session-snapshot-isolation",),
    "strong-session-snapshot-isolation": ("snapshot-isolation",),
    "serializable": ("repeatable-read", "snapshot-isolation"),
    "repeatable-read": ("read-committed",),
    "snapshot-isolation": ("read-committed",),
    "read-committed": ("read-uncommitted",),
    "read-uncommitted": (),
}

# Cycle anomalies, by data-edge shape, and their process/realtime variants.
CYCLE_BASES: tuple[str, ...] = ("G0", "G1c", "G-single", "G-nonadjacent", "G2-item")
VARIANTS: tuple[str, ...] = ("", "-process", "-realtime")
CYCLE_TYPES: tuple[str, ...] = tuple(b + v for v in VARIANTS for b in CYCLE_BASES)

#: Anomaly -> the models that directly forbid it (stronger ones follow by IMPLIES).
PROSCRIBED_BY: dict[str, tuple[str, ...]] = {
    # Adya PL-1 forbids write cycles; a version order must also be a total order of
    # distinct versions, and a read must return something that was written.
    "G0": ("read-uncommitted",),
    "duplicate-elements": ("read-uncommitted",),
    "cyclic-versions": ("read-uncommitted",),
    "garbage-read": ("read-uncommitted",),
    # PL-2 forbids G1: aborted reads, intermediate reads, cyclic information flow.
    # Reads that no single version order explains imply a dirty read; a read of the
    # transaction's own *later* write is a one-transaction G1c.
    "G1a": ("read-committed",),
    "G1b": ("read-committed",),
    "G1c": ("read-committed",),
    "incompatible-order": ("read-committed",),
    "future-read": ("read-committed",),
    # A transaction that does not see its own writes: Adya's model assumes it cannot
    # happen; Cerone et al.'s INT axiom (part of SI and serializability) forbids it.
    "internal": ("snapshot-isolation", "serializable"),
    # PL-2.99 forbids item anti-dependency cycles; PL-2+ and SI forbid G-single.  SI
    # forbids every cycle whose anti-dependencies are never adjacent (G-nonadjacent,
    # Cerone & Gotsman), of which G-single is the one-rw case; with item edges it is
    # also G2-item.
    "G-single": ("repeatable-read", "snapshot-isolation"),
    "G-nonadjacent": ("repeatable-read", "snapshot-isolation"),
    "G2-item": ("repeatable-read",),
    "G0-process": ("strong-session-snapshot-isolation",),
    "G1c-process": ("strong-session-snapshot-isolation",),
    "G-single-process": ("strong-session-snapshot-isolation",),
    "G-nonadjacent-process": ("strong-session-snapshot-isolation",),
    "G2-item-process": ("strong-session-serializable",),
    "G0-realtime": ("strong-snapshot-isolation",),
    "G1c-realtime": ("strong-snapshot-isolation",),
    "G-single-realtime": ("strong-snapshot-isolation",),
    "G-nonadjacent-realtime": ("strong-snapshot-isolation",),
    "G2-item-realtime": ("strict-serializable",),
    # A strongly connected component proves *some* cycle of its edge kinds exists even
    # when the search for the smallest ran out of budget: ww only is a G0; ww and wr at
    # least a G1c; with rw at least a G2-item (every data cycle rules out PL-2.99).
    "G0-cycle-exists": ("read-uncommitted",),
    "G1-cycle-exists": ("read-committed",),
    "G2-cycle-exists": ("repeatable-read",),
    "G0-process-cycle-exists": ("strong-session-snapshot-isolation",),
    "G1-process-cycle-exists": ("strong-session-snapshot-isolation",),
    "G2-process-cycle-exists": ("strong-session-serializable",),
    "G0-realtime-cycle-exists": ("strong-snapshot-isolation",),
    "G1-realtime-cycle-exists": ("strong-snapshot-isolation",),
    "G2-realtime-cycle-exists": ("strict-serializable",),
}

#: Plain names for anomalies, used in explanations.
DESCRIPTIONS: dict[str, str] = {
    "G0": "write cycle (dirty write)",
    "G1a": "aborted read",
    "G1b": "intermediate read",
    "G1c": "cyclic information flow",
    "G-single": "read skew (a cycle with exactly one anti-dependency)",
    "G-nonadjacent": (
        "a cycle with two or more anti-dependencies, no two of them in a row (what snapshot "
        "isolation forbids beyond G-single)"
    ),
    "G2-item": "write skew / anti-dependency cycle (two or more anti-dependencies)",
    "internal": "a transaction that does not see its own earlier reads and writes",
    "future-read": "a transaction that reads its own write before making it",
    "duplicate-elements": "an element that appears twice in one read",
    "garbage-read": "a read of a value that no transaction wrote",
    "incompatible-order": "two reads that no single version order explains",
    "cyclic-versions": "a version order that goes round in a circle",
}
for _base in CYCLE_BASES:
    DESCRIPTIONS[_base + "-process"] = DESCRIPTIONS[_base] + ", using session order"
    DESCRIPTIONS[_base + "-realtime"] = DESCRIPTIONS[_base] + ", using real-time order"
for _name in [a for a in PROSCRIBED_BY if a.endswith("-cycle-exists")]:
    DESCRIPTIONS[_name] = "a cycle exists, but the search for the smallest ran out of budget"

#: Order in which anomalies are listed and searched (most severe first).
SEVERITY: tuple[str, ...] = (
    "garbage-read",
    "duplicate-elements",
    "cyclic-versions",
    "incompatible-order",
    "G0",
    "G1a",
    "G1b",
    "future-read",
    "G1c",
    "internal",
    "G-single",
    "G-nonadjacent",
    "G2-item",
    "G0-process",
    "G1c-process",
    "G-single-process",
    "G-nonadjacent-process",
    "G2-item-process",
    "G0-realtime",
    "G1c-realtime",
    "G-single-realtime",
    "G-nonadjacent-realtime",
    "G2-item-realtime",
)


def canonical(model: str) -> str:
    """The canonical name of ``model``; ``ValueError`` naming the choices if unknown."""
    name = ALIASES.get(model, model)
    if name not in IMPLIES:
        raise ValueError(
            f"unknown consistency model {model!r} (expected one of {', '.join(MODELS)})"
        )
    return name


def implied(model: str) -> set[str]:
    """``model`` and every model it implies (everything weaker)."""
    seen = {model}
    todo = [model]
    while todo:
        for m in IMPLIES[todo.pop()]:
            if m not in seen:
                seen.add(m)
                todo.append(m)
    return seen


def stronger(model: str) -> set[str]:
    """``model`` and every model that implies it (everything stronger)."""
    return {m for m in IMPLIES if model in implied(m)}


def ruled_out(anomalies: Iterable[str]) -> set[str]:
    """Every model that cannot hold, given these anomalies occurred."""
    out: set[str] = set()
    for a in anomalies:
        for m in PROSCRIBED_BY.get(a, ()):
            out |= stronger(m)
    return out


def prohibited(model: str) -> set[str]:
    """Every anomaly that ``model`` forbids."""
    allowed_models = implied(canonical(model))
    return {a for a, ms in PROSCRIBED_BY.items() if allowed_models.intersection(ms)}


def weakest(models: Iterable[str]) -> list[str]:
    """The models of the set that no other model of the set is weaker than, in
    :data:`MODELS` order: "not snapshot-isolation" says "not serializable" too."""
    ms = set(models)
    keep = [m for m in ms if not any(o != m and o in implied(m) for o in ms)]
    return sorted(keep, key=MODELS.index)


def ordered(models: Iterable[str]) -> list[str]:
    return sorted(set(models), key=MODELS.index)


def severity_key(anomaly: str) -> tuple[int, str]:
    return (SEVERITY.index(anomaly) if anomaly in SEVERITY else len(SEVERITY), anomaly)
