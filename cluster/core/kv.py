"""The replicated key-value state machine, with client deduplication.

It knows nothing of Raft: a replication protocol decides the order of commands and
feeds them to :meth:`KVStore.apply` in that order on every replica, and because
``apply`` is deterministic every replica ends in the same state.

Why deduplication lives *here*: a client that gets no answer (or ``unknown``) retries the
same ``(client_id, seq)``, possibly on another leader, so one operation can be in the log
twice.  Only the state machine sees the final order, so only it can tell that the second
copy must not run again.  Each client keeps at most one operation outstanding (see
:mod:`cluster.core.client`: ``seq`` grows by one per ``invoke`` and every attempt of an
operation reuses it), so remembering the *last* applied seq and its result per client
is enough: a copy of that seq gets the cached result; a copy of an even older seq belongs
to an operation the client has already finished, and gets :data:`STALE` (its answer is
never looked at, and the state is untouched).

Transactions (:mod:`cluster.core.kv_txn`) run here too: a whole transaction applied as
one command, or the commit of one evaluated earlier at a snapshot.  For those the store
keeps a *version*: a counter bumped by every command that writes, and per key the
version that last wrote it.  Every replica applies the same commands in the same order,
so versions agree everywhere, and "did anything write ``k`` after my snapshot?" is one
comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cluster.core import kv_txn
from cluster.core.frozen import finish_records

__all__ = ["OPS", "Command", "KVStore", "Result", "STALE", "freeze", "jsonable"]

OPS: tuple[str, ...] = ("get", "put", "cas")
"""The single-key client operations the store understands (transactions:
:data:`cluster.core.kv_txn.TXN_OPS`)."""


def freeze(value: Any) -> Any:
    """Lists become tuples (recursively) so a command can live in a persisted entry."""
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def jsonable(value: Any) -> Any:
    """Tuples become lists (recursively) so event data stays JSON-able."""
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value


@dataclass(frozen=True, slots=True)
class Command:
    """One client operation as it travels through the log.

    ``value``: put -> the new value; cas -> ``(expected, new)``; get -> ``None``; a
    transaction -> its request (``key`` is ``""``); :data:`~cluster.core.kv_txn.COMMIT`
    -> :func:`~cluster.core.kv_txn.commit_value`.
    """

    client_id: str
    seq: int
    op: str
    key: str
    value: Any = None

    def __init__(self, client_id: str, seq: int, op: str, key: str, value: Any = None) -> None:
        # Compiled, the native constructor; interpreted, fast_init's replaces it (cluster.core.frozen).
        self.client_id = client_id  # type: ignore[misc]
        self.seq = seq  # type: ignore[misc]
        self.op = op  # type: ignore[misc]
        self.key = key  # type: ignore[misc]
        self.value = value  # type: ignore[misc]

    def to_json(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "seq": self.seq,
            "op": self.op,
            "key": self.key,
            "value": jsonable(self.value),
        }


@dataclass(frozen=True, slots=True)
class Result:
    """What applying a command produced.

    ``status``: ``"ok"`` (took effect; ``value`` is the output), ``"fail"`` (definitely
    did nothing, e.g. a cas mismatch), or ``"stale"`` (an old duplicate; see module doc).
    """

    status: str
    value: Any = None

    def __init__(self, status: str, value: Any = None) -> None:
        # Compiled, the native constructor; interpreted, fast_init's replaces it (cluster.core.frozen).
        self.status = status  # type: ignore[misc]
        self.value = value  # type: ignore[misc]


finish_records(Command, Result)

STALE = Result("stale")


class KVStore:
    """A dict of key -> value, the per-client dedup table and the write versions."""

    def __init__(self) -> None:
        self._data: dict[str, Any] = {}
        self._sessions: dict[str, tuple[int, Result]] = {}
        self._versions: dict[str, int] = {}
        self.applied = 0
        """How many commands were applied (duplicates included)."""
        self.version = 0
        """How many commands wrote something: a transaction's snapshot is this number."""

    def apply(self, cmd: Command) -> Result:
        """Run ``cmd`` once per ``(client_id, seq)``; duplicates return the cached result."""
        self.applied += 1
        session = self._sessions.get(cmd.client_id)
        if session is not None:
            last_seq, last_result = session
            if cmd.seq == last_seq:
                return last_result
            if cmd.seq < last_seq:
                return STALE
        result = self._execute(cmd)
        self._sessions[cmd.client_id] = (cmd.seq, result)
        return result

    def _execute(self, cmd: Command) -> Result:
        if cmd.op == "get":
            return Result("ok", self._data.get(cmd.key))
        if cmd.op == "put":
            self._data[cmd.key] = cmd.value
            self._wrote((cmd.key,))
            return Result("ok")
        if cmd.op == "cas":
            # A cas whose expected value is None swaps an absent key: None means "absent".
            expected, new = cmd.value
            if self._data.get(cmd.key) != expected:
                return Result("fail")
            self._data[cmd.key] = new
            self._wrote((cmd.key,))
            return Result("ok")
        if cmd.op == kv_txn.COMMIT:
            return self._commit(cmd.value)
        if cmd.op in kv_txn.TXN_OPS:
            outcome = kv_txn.evaluate(cmd.op, cmd.value, self._data.get)
            if outcome.status == "ok" and outcome.writes:
                kv_txn.install(self._data, outcome.writes)
                self._wrote(outcome.written_keys)
            return Result(outcome.status, outcome.value)
        # Validated before it entered the log; kept definite so a bad op never "half runs".
        return Result("fail", f"unknown op {cmd.op!r}")

    def _commit(self, value: Any) -> Result:
        """Commit a transaction evaluated at snapshot version ``snapshot``: it fails if any
        key it must validate was written after the snapshot (someone else's commit got
        there first); otherwise its writes are installed."""
        snapshot, check, status, reply, writes = value
        if status != "ok":
            return Result("fail", reply)
        versions = self._versions
        for key in check:
            if versions.get(key, 0) > snapshot:
                return Result("fail", f"conflict: {key} was written after the snapshot")
        if writes:
            kv_txn.install(self._data, writes)
            self._wrote(tuple(dict.fromkeys(k for _, k, _ in writes)))
        return Result("ok", reply)

    def _wrote(self, keys: tuple[str, ...]) -> None:
        self.version += 1
        for key in keys:
            self._versions[key] = self.version

    def read(self, key: str) -> Any:
        """The current value of ``key`` (``None`` if absent), for reads outside the log and
        the snapshots transactions read."""
        return self._data.get(key)

    def outcome_of(self, client_id: str, seq: int) -> Result | None:
        """What applying ``(client_id, seq)`` gave, if it was applied (:data:`STALE` for
        a seq older than the client's last one): a retry asks before running again."""
        session = self._sessions.get(client_id)
        if session is None or seq > session[0]:
            return None
        return session[1] if seq == session[0] else STALE

    def last_seq(self, client_id: str) -> int | None:
        """The last applied seq of ``client_id`` (``None`` if it never wrote)."""
        session = self._sessions.get(client_id)
        return None if session is None else session[0]

    def snapshot(self) -> dict[str, Any]:
        """A copy of the data, keys sorted so two replicas compare and print alike."""
        return {k: self._data[k] for k in sorted(self._data)}
