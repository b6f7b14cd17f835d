"""Virtual time: pending work in the order ``(time_ms, insertion order)``.

Everything that will happen in a simulation -- a message arriving, a node's or a client's
tick, a client starting its next operation, a fault's callback -- is an entry here.  Entries
due at the same millisecond run in the order they were scheduled, so no ordering ever
depends on ``id()``, hashing or the wall clock.  That is what makes a seed replay byte for
byte.

Time is whole milliseconds and almost everything is due within a few of them (message
latencies, 10 ms ticks), so the queue is a *bucket* queue: one list per due time, plus a
heap of the distinct due times.  Scheduling is a dict lookup and an append; running is
walking a list.  Insertion order within a bucket is the tie-break a ``(time, seq)`` heap
would give, including for entries scheduled for the millisecond being run (they join the
end of the bucket being walked), at a fraction of the cost of comparing tuples on every
heap operation.

An entry is ``(fn, a, b)`` and running it is ``fn(a, b)``: the part that scheduled it
(network, node process, client slots) handles it, so the scheduler knows no kinds and the
loop stays one call per entry.  Entries that belong to a life that has ended (a tick of a
node that crashed since) are not removed; their handler sees a stale generation number
and does nothing, which is cheaper than finding them.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any

__all__ = ["STOP_CHECK_EVERY", "Handler", "Scheduler"]

Handler = Callable[[Any, Any], None]
"""What runs an entry: ``fn(a, b)`` with the entry's two arguments."""

STOP_CHECK_EVERY = 1024
"""Entries run between two calls of a run's ``should_stop`` (a wall-clock budget is cheap
to read, but not free)."""

_Entry = tuple[Handler, Any, Any]


class Scheduler:
    """The clock and the queue.  ``now`` is the time of the entry being run (ms)."""

    __slots__ = ("now", "_buckets", "_times", "_handles", "_cancelled")

    def __init__(self) -> None:
        self.now = 0
        self._buckets: dict[int, list[_Entry]] = {}
        self._times: list[int] = []  # heap of the keys of _buckets
        self._handles = 0
        # Membership only (never iterated), so determinism does not depend on hash order.
        self._cancelled: set[int] = set()

    def at(self, time_ms: int, fn: Handler, a: Any, b: Any) -> None:
        """Run ``fn(a, b)`` at ``time_ms``, after whatever is already due then.
        ``time_ms`` must not be in the past."""
        bucket = self._buckets.get(time_ms)
        if bucket is None:
            self._buckets[time_ms] = [(fn, a, b)]
            heappush(self._times, time_ms)
        else:
            bucket.append((fn, a, b))

    def call_at(self, time_ms: int, fn: Callable[[], None]) -> int:
        """Run ``fn()`` at ``time_ms`` (now if earlier); returns a handle for :meth:`cancel`."""
        handle = self._handles
        self._handles = handle + 1
        self.at(max(int(time_ms), self.now), self._call, fn, handle)
        return handle

    def cancel(self, handle: int) -> None:
        """Skip the :meth:`call_at` entry ``handle`` names if it has not run yet."""
        self._cancelled.add(handle)

    def _call(self, fn: Callable[[], None], handle: int) -> None:
        if self._cancelled and handle in self._cancelled:
            self._cancelled.discard(handle)
        else:
            fn()

    def clear(self) -> None:
        """Drop every pending entry: the run is over.  Entries hold the parts that scheduled
        them, which hold this scheduler; dropping them is what lets an ended simulation be
        freed the moment its last user lets go, instead of at a full garbage collection."""
        self._buckets.clear()
        self._times.clear()
        self._cancelled.clear()

    def pending(self) -> int:
        """Entries waiting (stale and cancelled ones included)."""
        return sum(len(b) for b in self._buckets.values())

    def run_until(self, end_ms: int, should_stop: Callable[[], bool] | None = None) -> bool:
        """Run every entry due before ``end_ms`` in order; ``now`` ends at ``end_ms``.

        ``should_stop`` is asked every :data:`STOP_CHECK_EVERY` entries; when it says yes
        the run ends at once and ``now`` stays at the last entry's time (the rest of that
        millisecond's entries wait for the next run).  Returns whether it was stopped.
        """
        times = self._times
        buckets = self._buckets
        budget = STOP_CHECK_EVERY  # entries, counted from the start of the bucket, until the next check
        while times and times[0] < end_ms:
            t = times[0]
            self.now = t
            bucket = buckets[t]
            # A list's iterator reads the length at every step, so entries due now that are
            # added while the bucket runs are run too, after the ones already there.
            if should_stop is None:
                for fn, a, b in bucket:
                    fn(a, b)
            else:
                for i, (fn, a, b) in enumerate(bucket, 1):
                    fn(a, b)
                    if i >= budget:
                        budget = i + STOP_CHECK_EVERY
                        if should_stop():
                            del bucket[:i]
                            if not bucket:
                                heappop(times)
                                del buckets[t]
                            return True
                budget -= len(bucket)
            heappop(times)
            del buckets[t]
        self.now = end_ms
        return False
