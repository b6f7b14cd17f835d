"""A leader's view of its followers: next/match indexes, liveness, and quorum arithmetic.

:class:`ProgressTracker` is the only owner of per-peer replication progress (etcd's
``tracker.ProgressTracker``).  The leader tells it what it sent and what came back; it
answers "what do I send this peer next?", "which index does a majority hold?" and "have I
heard from a majority lately?".

``next`` is optimistic: after sending entries up to ``i`` the leader assumes they will
arrive and sends the following ones without waiting (the entries between ``match`` and
``next`` are the ones in flight).  A rejection or a periodic heartbeat rewinds ``next``
to just after ``match``, which is how lost AppendEntries are sent again.
"""

from __future__ import annotations

__all__ = ["ProgressTracker", "quorum_value"]


def quorum_value(values: list[int], quorum: int) -> int:
    """The largest value that at least ``quorum`` of ``values`` reach (one per voter).

    With match indexes this is the highest index a majority stores; with acknowledged
    heartbeat rounds, the newest round a majority has answered.  ``values`` is a list the
    caller built for the purpose: it is sorted in place (a leader asks on every ack).
    """
    values.sort(reverse=True)
    return values[quorum - 1]


class ProgressTracker:
    """Per-follower progress of one leader's term; empty while the node is not leader."""

    __slots__ = ("others", "quorum", "_next", "_match", "_last_heard")

    def __init__(self, others: tuple[str, ...], quorum: int) -> None:
        self.others = others
        """Every voter but this node, in configuration order."""
        self.quorum = quorum
        """Votes (or replicas, or acks) that make a majority, counting this node."""
        self._next: dict[str, int] = {}
        self._match: dict[str, int] = {}
        self._last_heard: dict[str, int] = {}

    def reset(self, last_index: int, now: int) -> None:
        """A new term as leader: assume every follower is up to date (``next`` just after
        our log) and has been heard from just now; nothing is known to match yet."""
        self._next = {p: last_index + 1 for p in self.others}
        self._match = {p: 0 for p in self.others}
        self._last_heard = {p: now for p in self.others}

    def clear(self) -> None:
        """Stepping down: the indexes mean nothing under another leader."""
        self._next.clear()
        self._match.clear()

    # --- questions ------------------------------------------------------------------------

    def tracks(self, peer: str) -> bool:
        """Whether ``peer`` is a follower of the current term (replies from others are stale)."""
        return peer in self._match

    def next_index(self, peer: str) -> int:
        return self._next[peer]

    def match_of(self, peer: str) -> int:
        return self._match[peer]

    def match_index(self) -> dict[str, int]:
        """A copy of every follower's match index."""
        return dict(self._match)

    def needs_entries(self, peer: str, last_index: int) -> bool:
        """Whether the leader holds entries it has not yet sent to ``peer``."""
        return self._next[peer] <= last_index

    def committed(self, own_last_index: int) -> int:
        """The highest index stored on a majority, counting the leader's own log."""
        values = list(self._match.values())
        values.append(own_last_index)
        return quorum_value(values, self.quorum)

    def quorum_active(self, now: int, window: int) -> bool:
        """Whether a majority (counting us) was heard from within ``window`` before ``now``."""
        last_heard = self._last_heard
        heard = sum(1 for p in self.others if now - last_heard[p] < window)
        return 1 + heard >= self.quorum

    def quorum_expiry(self, window: int) -> int | None:
        """The first ``now`` at which :meth:`quorum_active` turns false if nobody is heard
        from meanwhile (None: a one-node cluster, which is always its own quorum)."""
        needed = self.quorum - 1
        if needed <= 0:
            return None
        heard = sorted((self._last_heard[p] for p in self.others), reverse=True)
        return heard[needed - 1] + window

    # --- updates --------------------------------------------------------------------------

    def sent(self, peer: str, through: int) -> None:
        """Entries up to ``through`` are on their way to ``peer``."""
        self._next[peer] = through + 1

    def rewind(self, peer: str) -> None:
        """Resend everything not yet acknowledged (periodic heartbeats do this)."""
        self._next[peer] = self._match[peer] + 1

    def heard_from(self, peer: str, now: int) -> None:
        self._last_heard[peer] = now

    def succeeded(self, peer: str, match_index: int) -> bool:
        """``peer`` acknowledged entries through ``match_index``; acks may arrive out of
        order or twice, so neither index ever moves back.  Returns whether its match index
        advanced (only then can the committed index have moved)."""
        old = self._match[peer]
        match = match_index if match_index > old else old
        self._match[peer] = match
        if self._next[peer] <= match:
            self._next[peer] = match + 1
        return match > old

    def rejected(self, peer: str, hint: int) -> None:
        """``peer`` did not match; retry after ``hint`` but never at or below its match."""
        self._next[peer] = max(self._match[peer] + 1, min(self._next[peer], hint + 1))
