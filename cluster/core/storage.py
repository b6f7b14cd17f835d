"""Durable state for cores: a small protocol and an in-memory implementation.

A core never reads storage while it runs; it keeps its own copy of everything.  Storage
matters only at restart: the core is rebuilt from :meth:`Storage.load`.  That is what
makes crash semantics explicit: whatever was not synced when the node crashed is gone
(or, in the simulator, a seeded prefix of it survives, as with a real page cache).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, Protocol

from mypy_extensions import mypyc_attr

from cluster.core.types import PersistOp, Put, Splice


class Storage(Protocol):
    def write(self, ops: Sequence[PersistOp], sync: bool) -> None:
        """Apply ``ops``; if ``sync`` they (and every earlier unsynced op) become durable."""

    def load(self) -> dict[str, Any]:
        """What survives a crash: key -> value (lists are returned as tuples)."""


def apply_op(state: dict[str, Any], op: PersistOp) -> None:
    """Apply one durable write to a plain dict image of the store."""
    if isinstance(op, Put):
        state[op.key] = op.value
    elif isinstance(op, Splice):
        # Lists are kept inside the image and truncated/extended in place: copying a whole
        # log tuple per append made long runs quadratic.  ``load`` hands out tuples.
        cur = state.get(op.key)
        if not isinstance(cur, list):
            cur = list(cur or ())
            state[op.key] = cur
        del cur[op.start :]
        cur.extend(op.items)
    else:  # pragma: no cover - guarded by the type
        raise TypeError(f"unknown persist op {op!r}")


@mypyc_attr(allow_interpreted_subclasses=True)  # compiled (cluster.native): tests wrap it in a subclass
class MemoryStorage:
    """Storage for the simulator: synced writes are durable, unsynced ones are pending.

    ``crash(rng)`` drops pending writes.  With ``rng`` given, a random *prefix* of the
    pending writes survives (writes reach disk in order, some may have been flushed by
    the OS before the crash); without it, all pending writes are lost.
    """

    def __init__(self) -> None:
        self._durable: dict[str, Any] = {}
        self._pending: list[PersistOp] = []

    def write(self, ops: Sequence[PersistOp], sync: bool) -> None:
        if sync and not self._pending:  # the common case: nothing waits, apply in place
            durable = self._durable
            for op in ops:
                apply_op(durable, op)
            return
        self._pending.extend(ops)
        if sync:
            self.flush()

    def flush(self) -> None:
        for op in self._pending:
            apply_op(self._durable, op)
        self._pending.clear()

    def crash(self, rng: random.Random | None = None) -> int:
        """Lose unsynced writes; return how many were lost."""
        keep = rng.randint(0, len(self._pending)) if (rng is not None and self._pending) else 0
        for op in self._pending[:keep]:
            apply_op(self._durable, op)
        lost = len(self._pending) - keep
        self._pending.clear()
        return lost

    def load(self) -> dict[str, Any]:
        return {k: (tuple(v) if isinstance(v, list) else v) for k, v in self._durable.items()}

    @property
    def pending(self) -> int:
        return len(self._pending)
