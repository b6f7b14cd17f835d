"""A node's local transactional store: tables of rows, and the transaction that changes them.

The one rule this module exists to enforce: **a business change, the outbox rows announcing
it and the inbox row recording which message caused it are written in one transaction**.
In the simulator a transaction is one ``Ready`` batch of ``Put`` ops with ``sync=True``, and
the driver persists a batch before it sends anything, so either all of it survives a crash
or none of it does.  That is what makes "apply the effect, then ack" safe to retry.

:class:`LocalStore` owns the tables; everyone else reads them through :meth:`~LocalStore.table`
and changes them only by committing a :class:`Txn` (:meth:`~LocalStore.apply`) or through
:meth:`~LocalStore.put`/:meth:`~LocalStore.delete`, which hand back the durable writes that
repeat the change on disk.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cluster.core.outbox import OutboxRow
from cluster.core.types import CoreEvent, Put

__all__ = ["LocalStore", "Txn"]


@dataclass
class Txn:
    """Writes, outbox rows and trace events that commit (or vanish) together."""

    id: str
    writes: list[tuple[str, str, Any]] = field(default_factory=list)
    outbox: list[OutboxRow] = field(default_factory=list)
    events: list[CoreEvent] = field(default_factory=list)

    def put(self, table: str, key: str, value: Any) -> None:
        """Set ``table/key`` to ``value`` at commit (``None`` deletes the row)."""
        self.writes.append((table, key, value))


class LocalStore:
    """Tables of rows, durable as ``"table/key"`` Puts (``None`` = deleted).

    The store keeps an in-memory image; durable state is read only at construction (restart).
    """

    def __init__(self, durable: Mapping[str, Any] | None) -> None:
        self._tables: dict[str, dict[str, Any]] = {}
        for k in sorted(durable or {}):
            table, _, key = k.partition("/")
            value = (durable or {})[k]
            if value is not None:
                self._tables.setdefault(table, {})[key] = value

    def table(self, name: str) -> Mapping[str, Any]:
        """The rows of table ``name`` (live: later commits show through)."""
        return self._tables.setdefault(name, {})

    def apply(self, txn: Txn) -> list[Put]:
        """Commit ``txn``'s writes to the image; returns the durable writes, in order."""
        ops: list[Put] = []
        for table, key, value in txn.writes:
            self._set(table, key, value)
            ops.append(Put(f"{table}/{key}", value))
        return ops

    def put(self, table: str, key: str, value: Any) -> Put:
        """One row outside a transaction; returns its durable write."""
        self._set(table, key, value)
        return Put(f"{table}/{key}", value)

    def delete(self, table: str, keys: Iterable[str]) -> list[Put]:
        """Remove rows outside a transaction; returns their durable writes."""
        return [self.put(table, key, None) for key in keys]

    def _set(self, table: str, key: str, value: Any) -> None:
        t = self._tables.setdefault(table, {})
        if value is None:
            t.pop(key, None)
        else:
            t[key] = value
