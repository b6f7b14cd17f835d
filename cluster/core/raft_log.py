"""The Raft log: entries, their durable writes, term lookups, and the commit/apply indexes.

:class:`RaftLog` is the only owner of a node's entries (as etcd's ``raftLog`` is).  The
state machine (:class:`~cluster.core.raft.RaftNode`) asks it questions ("does my log hold
``prev`` at term ``t``?", "what should a leader retry after?") and tells it what happened
("append this", "merge what the leader sent", "commit up to here"); it never touches the
list itself.  Keeping the durable writes here too means a ``Splice`` can never disagree
with the entries it describes: every change to the list records the write that repeats
it on disk, and :meth:`take_writes` hands those to the next ``Ready`` in order.

Indices are 1-based as in the Raft paper: entry ``i`` is ``entries[i - 1]``, index 0 is
the empty prefix with term 0, so ``term_at(0) == 0`` and ``prev_log_index == 0`` always
matches.

``commit`` and ``applied`` are volatile (a restarted node learns its commit index again
from a leader and re-applies its log), so they start at 0 whatever the durable log holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from cluster.core.raft_messages import Entry
from cluster.core.types import Splice

__all__ = ["LOG", "RaftLog", "Truncation"]

LOG = "log"
"""Durable key of the log: a tuple of :class:`Entry`, written with ``Splice`` (0-based)."""


class Truncation(NamedTuple):
    """A conflicting suffix was cut: the entries from ``start`` on (``removed`` of them)."""

    start: int
    removed: int


class RaftLog:
    """One node's log plus the commit and apply indexes over it."""

    __slots__ = ("_entries", "_view", "writes", "_commit", "_applied")

    def __init__(self, entries: Iterable[Entry] = ()) -> None:
        self._entries: list[Entry] = list(entries)
        self._view: tuple[Entry, ...] | None = None
        self.writes: list[Splice] = []
        """The durable writes since the last :meth:`take_writes`: read it, never change it
        (the node tests it after every input, so it is a field rather than a method)."""
        self._commit = 0
        self._applied = 0

    # --- reading ------------------------------------------------------------------------

    @property
    def last_index(self) -> int:
        return len(self._entries)

    @property
    def last_term(self) -> int:
        entries = self._entries
        return entries[-1].term if entries else 0

    @property
    def commit(self) -> int:
        return self._commit

    @property
    def applied(self) -> int:
        return self._applied

    def term_at(self, index: int) -> int:
        """The term of entry ``index``; 0 for index 0 and for an index past the end."""
        entries = self._entries
        return entries[index - 1].term if 0 < index <= len(entries) else 0

    def entries(self) -> tuple[Entry, ...]:
        """The whole log as a tuple, cached until the log changes."""
        if self._view is None:
            self._view = tuple(self._entries)
        return self._view

    def after(self, prev: int, limit: int) -> tuple[int, tuple[Entry, ...]]:
        """What one AppendEntries from index ``prev`` carries: the term at ``prev`` and at
        most ``limit`` entries following it."""
        entries = self._entries
        prev_term = entries[prev - 1].term if 0 < prev <= len(entries) else 0
        return prev_term, tuple(entries[prev : prev + limit])

    def matches(self, index: int, term: int) -> bool:
        """The Log Matching check: do we hold entry ``index`` with ``term``?"""
        entries = self._entries
        if index > len(entries):
            return False
        return (entries[index - 1].term if index > 0 else 0) == term

    def is_up_to_date(self, last_term: int, last_index: int) -> bool:
        """Whether a log ending at ``(last_term, last_index)`` is at least as up to date as
        ours (Raft paper 5.4.1): the later last term wins, then the longer log."""
        return (last_term, last_index) >= (self.last_term, len(self._entries))

    def reject_hint(self, prev: int) -> int:
        """Where a leader should retry after a failed match at ``prev``: our last index if
        we are short, otherwise the index before the first entry of the conflicting term
        (so one round trip skips a whole term)."""
        last = len(self._entries)
        if prev > last:
            return last
        conflict_term = self.term_at(prev)
        index = prev
        while index > 1 and self.term_at(index - 1) == conflict_term:
            index -= 1
        return index - 1

    # --- writing ------------------------------------------------------------------------

    def append(self, entry: Entry) -> int:
        """A leader's new entry; returns its index."""
        self._entries.append(entry)
        self._view = None
        index = len(self._entries)
        self.writes.append(Splice(LOG, index - 1, (entry,)))
        return index

    def merge(self, prev: int, entries: tuple[Entry, ...]) -> Truncation | None:
        """Place a leader's ``entries`` after ``prev`` (which must already match).

        Entries we already hold with the same term are skipped; only a real conflict cuts
        the log.  A delayed or duplicated AppendEntries must never cut entries we already
        match, since a later message may have extended them and been acknowledged.
        Returns what was cut, if anything, so the node can report it.
        """
        log = self._entries
        for k, entry in enumerate(entries):
            index = prev + 1 + k
            cut: Truncation | None = None
            if index <= len(log):
                if log[index - 1].term == entry.term:
                    continue
                cut = Truncation(index, len(log) - index + 1)
                del log[index - 1 :]
            rest = entries[k:]
            log.extend(rest)
            self._view = None
            self.writes.append(Splice(LOG, index - 1, rest))
            return cut
        return None

    @property
    def has_writes(self) -> bool:
        return bool(self.writes)

    def take_writes(self) -> list[Splice]:
        """The durable writes since the last call, in the order they happened."""
        writes, self.writes = self.writes, []
        return writes

    def commit_to(self, index: int) -> None:
        """Raise the commit index (callers have checked that ``index`` may commit)."""
        self._commit = index

    def next_to_apply(self) -> tuple[int, Entry] | None:
        """Mark the next committed entry applied and return it, or ``None`` when caught up."""
        if self._applied >= self._commit:
            return None
        self._applied += 1
        index = self._applied
        return index, self._entries[index - 1]
