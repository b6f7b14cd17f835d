"""Versions of a leaderless register and the two ways to resolve conflicts between them.

Every write creates a :class:`Version`: the value, a *dot* (the coordinator that created it
and that coordinator's counter: unique, never reused), the *causal context* the client read
before writing (a version vector: node -> the highest counter of that node it had seen),
and the coordinator's wall-clock timestamp.  A replica keeps some of the versions it is
given, by one of two rules:

* **Dotted version vectors** (the correct design, as Riak does it): a version is obsolete
  exactly when a newer write *saw* it -- its dot is covered by that write's context.  A
  replica keeps every version no other version covers: concurrent writes stay side by
  side as *siblings*, a read returns them all with their joined context, and the client
  merges them and writes back with that context, which obsoletes all of them at once.
  Nothing a client was told is stored can disappear unless a write that read it replaces
  it.  Plain per-server version vectors are not enough: two concurrent writes through the
  same coordinator would get vectors that look ordered, and the "older" one would be
  dropped; the dot names the one event a version stands for.
* **Last write wins** (the flaw): keep only the version with the highest ``(timestamp,
  node, counter)``.  The timestamp is the coordinator's wall clock, so a write through a
  node whose clock is behind loses to a write it *read* and meant to replace: an
  acknowledged write, silently discarded.  Hybrid logical clocks would fix that causal
  case, but LWW still throws away one of two truly concurrent writes; siblings keep both.

Pure functions over immutable values; :mod:`cluster.core.replicated_register` drives them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Context",
    "Version",
    "covers",
    "join_contexts",
    "lww_store",
    "read_context",
    "resolve",
    "store",
]

Context = tuple[tuple[str, int], ...]
"""A version vector as a sorted tuple of ``(node, counter)`` (hashable, persistable)."""


@dataclass(frozen=True, slots=True)
class Version:
    """One write: ``value`` (a tuple of items), its dot ``(node, counter)``, the causal
    ``context`` it was written with, and the coordinator's wall-clock ``ts`` (ms)."""

    value: tuple[Any, ...]
    node: str
    counter: int
    context: Context
    ts: int

    @property
    def dot(self) -> tuple[str, int]:
        return (self.node, self.counter)

    def lww_rank(self) -> tuple[int, str, int]:
        """Last-write-wins order: timestamp first, then node and counter to break ties."""
        return (self.ts, self.node, self.counter)


def covers(context: Context, dot: tuple[str, int]) -> bool:
    """Does a write made with ``context`` descend from the write ``dot`` stands for?"""
    node, counter = dot
    return any(n == node and c >= counter for n, c in context)


def join_contexts(contexts: Iterable[Context]) -> Context:
    """Pointwise maximum of version vectors."""
    out: dict[str, int] = {}
    for ctx in contexts:
        for n, c in ctx:
            if c > out.get(n, 0):
                out[n] = c
    return tuple(sorted(out.items()))


def read_context(versions: Iterable[Version]) -> Context:
    """What a client has seen after reading ``versions``: their contexts and their dots."""
    vs = list(versions)
    return join_contexts([*(v.context for v in vs), *(((v.node, v.counter),) for v in vs)])


def store(siblings: tuple[Version, ...], new: Version) -> tuple[tuple[Version, ...], tuple[Version, ...]]:
    """Dotted-version-vector store: ``(kept siblings, obsoleted ones)``.

    ``new`` replaces every sibling its context covers, and is itself dropped when a kept
    sibling already descends from it (it arrived late) or is the same write."""
    if any(s.dot == new.dot or covers(s.context, new.dot) for s in siblings):
        return siblings, ()
    gone = tuple(s for s in siblings if covers(new.context, s.dot))
    kept = tuple(s for s in siblings if s not in gone)
    return tuple(sorted((*kept, new), key=lambda v: v.dot)), gone


def lww_store(current: tuple[Version, ...], new: Version) -> tuple[tuple[Version, ...], tuple[Version, ...]]:
    """Last-write-wins store: ``(the one version kept, the one discarded)``."""
    if not current:
        return (new,), ()
    old = current[0]
    if old.dot == new.dot:
        return current, ()
    if new.lww_rank() > old.lww_rank():
        return (new,), (old,)
    return current, (new,)


def resolve(replies: Iterable[tuple[Version, ...]], *, lww: bool) -> tuple[Version, ...]:
    """What a coordinator returns after reading several replicas."""
    out: tuple[Version, ...] = ()
    for versions in replies:
        for v in versions:
            out = lww_store(out, v)[0] if lww else store(out, v)[0]
    return out
