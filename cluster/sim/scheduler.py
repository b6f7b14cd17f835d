"""Virtual time: one heap of pending work ordered by ``(time_ms, seq)``.

Everything that will happen in a simulation -- a message arriving, a node's or a client's
tick, a client starting its next operation, a fault's callback -- is an entry on this heap.
``seq`` is a global insertion counter, so entries due at the same millisecond run in the
order they were scheduled and no ordering ever depends on ``id()``, hashing or the wall
clock.  That is what makes a seed replay byte for byte.

An entry is ``(time_ms, seq, fn, a, b)`` and running it is ``fn(a, b)``: the part that
scheduled it (network, node process, client slots) handles it, so the scheduler knows no
kinds and the loop stays one pop and one call per entry.  Entries that belong to a life
that has ended (a tick of a node that crashed since) are not removed; their handler sees a
stale generation number and does nothing, which is cheaper than finding them in the heap.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any

__all__ = ["STOP_CHECK_EVERY", "Handler", "Scheduler"]

Handler = Callable[[Any, Any], None]
"""What runs a heap entry: ``fn(a, b)`` with the entry's two arguments."""

STOP_CHECK_EVERY = 1024
"""Entries run between two calls of a run's ``should_stop`` (a wall-clock budget is cheap
to read, but not free)."""


def _call(fn: Callable[[], None], _: object) -> None:
    fn()


class Scheduler:
    """The clock and the heap.  ``now`` is the time of the entry being run (ms)."""

    __slots__ = ("now", "_seq", "_queue", "_cancelled")

    def __init__(self) -> None:
        self.now = 0
        self._seq = 0
        self._queue: list[tuple[int, int, Handler, Any, Any]] = []
        # Membership only (never iterated), so determinism does not depend on hash order.
        self._cancelled: set[int] = set()

    def at(self, time_ms: int, fn: Handler, a: Any, b: Any) -> int:
        """Run ``fn(a, b)`` at ``time_ms`` (after whatever is already due then); returns
        the entry's sequence number.  ``time_ms`` must not be in the past."""
        seq = self._seq
        self._seq = seq + 1
        heappush(self._queue, (time_ms, seq, fn, a, b))
        return seq

    def call_at(self, time_ms: int, fn: Callable[[], None]) -> int:
        """Run ``fn()`` at ``time_ms`` (now if earlier); returns a handle for :meth:`cancel`."""
        return self.at(max(int(time_ms), self.now), _call, fn, None)

    def cancel(self, handle: int) -> None:
        """Skip the entry ``handle`` names if it has not run yet."""
        self._cancelled.add(handle)

    def pending(self) -> int:
        """Entries on the heap (cancelled and stale ones included)."""
        return len(self._queue)

    def run_until(self, end_ms: int, should_stop: Callable[[], bool] | None = None) -> bool:
        """Run every entry due before ``end_ms`` in order; ``now`` ends at ``end_ms``.

        ``should_stop`` is asked every :data:`STOP_CHECK_EVERY` entries; when it says yes
        the run ends at once and ``now`` stays at the last entry's time.  Returns whether
        the run was stopped that way.
        """
        queue = self._queue
        cancelled = self._cancelled
        budget = STOP_CHECK_EVERY
        while queue and queue[0][0] < end_ms:
            at, seq, fn, a, b = heappop(queue)
            self.now = at
            if cancelled and seq in cancelled:
                cancelled.discard(seq)
                continue
            fn(a, b)
            if should_stop is not None:
                budget -= 1
                if budget <= 0:
                    budget = STOP_CHECK_EVERY
                    if should_stop():
                        return True
        self.now = end_ms
        return False
