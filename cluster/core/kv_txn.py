"""Transactions on the replicated key-value store: what one reads, what it writes, and
whether it may still commit.

A transaction is one client operation that reads and writes several keys atomically.  The
store understands four of them:

* ``txn`` -- a list of *micro-ops* ``[f, key, value]``, as Jepsen's Elle writes them:
  ``["r", k, None]`` reads ``k`` (a list for list-append keys, a value for registers;
  ``None`` when never written), ``["append", k, v]`` appends ``v`` to the list at ``k``,
  ``["w", k, v]`` sets ``k`` to ``v``.  The reply is the same micro-ops with the reads
  filled in, which is the transactional history format the isolation checker reads.
* ``open`` -- ``{account: balance, ...}``: open a bank with these accounts, once (a
  second ``open`` finds the bank open and changes nothing).
* ``transfer`` -- ``{"from": a, "to": b, "amount": n}``: move ``n`` from ``a`` to ``b``;
  fails definitely (nothing written) when ``a`` holds less than ``n`` (no overdrafts)
  or an account does not exist.
* ``read`` -- every balance of the bank, as ``{account: balance}`` (``{}`` before it is
  open).

Everything here is pure and works on a *view* of the state (a ``get(key)`` function), so
the same evaluation serves every way a node may run a transaction (see
:mod:`cluster.core.raft`): inside the log at apply time (the whole transaction is one log
entry: strict serializable by construction), or at a snapshot first and committed through
the log afterwards, as a :data:`COMMIT` command that carries the snapshot's version, the
keys to validate, the reply and the writes.  :func:`validated_keys` says which keys a
commit re-checks, and the flaws that leave keys out are exactly the textbook anomalies:
no read-set check is snapshot isolation (write skew), no check of the written keys is a
lost update.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cluster.core.frozen import pickle_by_fields

__all__ = [
    "BANK_KEY",
    "COMMIT",
    "MICRO_OPS",
    "TXN_OPS",
    "Outcome",
    "commit_value",
    "evaluate",
    "install",
    "may_write",
    "request_error",
    "validated_keys",
]

TXN_OPS: tuple[str, ...] = ("txn", "open", "transfer", "read")
"""Client operations the store runs as transactions."""
COMMIT = "txn-commit"
"""The log command of a transaction evaluated at a snapshot (never sent by a client)."""
MICRO_OPS: tuple[str, ...] = ("r", "append", "w")
BANK_KEY = "bank"
"""The key holding the bank's account names (so ``read`` knows which keys are accounts)."""

Get = Callable[[str], Any]
Write = tuple[str, str, Any]
"""``("append", key, element)`` or ``("set", key, value)``."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a transaction did against one view of the state.

    ``status`` is ``"ok"`` or ``"fail"`` (a definite abort: nothing is written);
    ``value`` is what the client is told; ``reads`` the keys it read, in order;
    ``writes`` what it installs, in order.  Appends stay appends, so a commit that lands
    after other appends extends the list as it is then, as a list-append store does.
    """

    status: str
    value: Any
    reads: tuple[str, ...]
    writes: tuple[Write, ...]

    @property
    def written_keys(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(k for _, k, _ in self.writes))


# --- requests ---------------------------------------------------------------------------------


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _scalar(v: Any) -> bool:
    return (_is_int(v) or isinstance(v, str | float)) and not isinstance(v, bool)


def request_error(op: str, value: Any) -> str | None:
    """Why a transactional request is malformed (checked before it reaches the log), or
    None.  A malformed request fails definitely: it never runs at all."""
    if op == "txn":
        if not isinstance(value, list | tuple) or not value:
            return "a txn's value must be a non-empty list of micro-ops [f, key, value]"
        for i, mop in enumerate(value):
            if not isinstance(mop, list | tuple) or len(mop) != 3:
                return f"micro-op {i + 1} must be [f, key, value]"
            f, k, v = mop
            if f not in MICRO_OPS:
                return f"micro-op {i + 1}: unknown micro-op {f!r} (expected one of {', '.join(MICRO_OPS)})"
            if not isinstance(k, str):
                return f"micro-op {i + 1}: the key must be a string, got {k!r}"
            if f != "r" and not _scalar(v):
                return f"micro-op {i + 1}: a written value must be a number or a string, got {v!r}"
        return None
    if op == "open":
        if not isinstance(value, Mapping) or not value:
            return "open takes {account: balance, ...} with at least one account"
        for name, balance in value.items():
            if not isinstance(name, str) or name == BANK_KEY:
                return f"open: account names are strings other than {BANK_KEY!r}, got {name!r}"
            if not _is_int(balance) or balance < 0:
                return f"open: account {name!r} needs a non-negative integer balance, got {balance!r}"
        return None
    if op == "transfer":
        if not isinstance(value, Mapping) or set(value) != {"from", "to", "amount"}:
            return 'transfer takes {"from": account, "to": account, "amount": n}'
        src, dst, amount = value["from"], value["to"], value["amount"]
        if not isinstance(src, str) or not isinstance(dst, str) or src == dst:
            return f"transfer: from and to must be two different accounts, got {src!r} and {dst!r}"
        if not _is_int(amount) or amount <= 0:
            return f"transfer: amount must be a positive integer, got {amount!r}"
        return None
    if op == "read":
        return None if value is None else "read takes no value (it reads every account)"
    return f"{op!r} is not a transaction"


def may_write(op: str, value: Any) -> bool:
    """Whether ``op`` could write, known before it runs.  A transaction that cannot is
    answered at its snapshot; one that can always goes through the log, even when it ends
    up writing nothing, so that retries of it are deduplicated in one place."""
    if op == "txn":
        return any(mop[0] != "r" for mop in value)
    return op in ("open", "transfer")


# --- evaluation -------------------------------------------------------------------------------


class _View:
    """The state as one transaction sees it: the store underneath, its own writes on top."""

    __slots__ = ("_get", "_own", "_overwritten", "reads", "writes")

    def __init__(self, get: Get) -> None:
        self._get = get
        self._own: dict[str, Any] = {}
        self._overwritten: set[str] = set()
        self.reads: dict[str, None] = {}
        self.writes: list[Write] = []

    def read(self, key: str) -> Any:
        """A read of ``key``; it depends on the store's value unless this transaction
        overwrote the key (after its own append it still shows the store's list)."""
        if key not in self._overwritten:
            self.reads.setdefault(key)
        return self._own[key] if key in self._own else self._get(key)

    def append(self, key: str, element: Any) -> bool:
        current = self.read_own(key)
        if current is not None and not isinstance(current, tuple):
            return False
        self._own[key] = (*(current or ()), element)
        self.writes.append(("append", key, element))
        return True

    def set(self, key: str, value: Any) -> None:
        self._own[key] = value
        self._overwritten.add(key)
        self.writes.append(("set", key, value))

    def read_own(self, key: str) -> Any:
        """The current value without counting it as a read (an append reads nothing)."""
        return self._own[key] if key in self._own else self._get(key)

    def outcome(self, value: Any) -> Outcome:
        return Outcome("ok", value, tuple(self.reads), tuple(self.writes))


def _fail(reason: str) -> Outcome:
    return Outcome("fail", reason, (), ())


def evaluate(op: str, value: Any, get: Get) -> Outcome:
    """Run transaction ``op`` against the view ``get`` (``key -> value``, ``None`` if
    absent), without changing anything: the caller installs :attr:`Outcome.writes`."""
    view = _View(get)
    if op == "txn":
        return _txn(value, view)
    if op == "read":
        accounts = view.read(BANK_KEY)
        return view.outcome({} if accounts is None else {a: view.read(a) for a in accounts})
    if op == "open":
        if view.read(BANK_KEY) is None:
            for name in sorted(value):
                view.set(name, value[name])
            view.set(BANK_KEY, tuple(sorted(value)))
        return view.outcome(dict(value))
    if op == "transfer":
        src, dst, amount = value["from"], value["to"], value["amount"]
        have, other = view.read(src), view.read(dst)
        if have is None or other is None:
            return _fail(f"no such account: {src if have is None else dst}")
        if have < amount:
            return _fail(f"insufficient funds: {src} holds {have}, the transfer needs {amount}")
        view.set(src, have - amount)
        view.set(dst, other + amount)
        return view.outcome(dict(value))
    return _fail(f"{op!r} is not a transaction")


def _txn(mops: Sequence[Sequence[Any]], view: _View) -> Outcome:
    done: list[tuple[str, str, Any]] = []
    for f, k, v in mops:
        if f == "r":
            done.append(("r", k, view.read(k)))
        elif f == "append":
            if not view.append(k, v):
                return _fail(f"cannot append to {k}: it holds a value, not a list")
            done.append(("append", k, v))
        else:
            view.set(k, v)
            done.append(("w", k, v))
    return view.outcome(tuple(done))


def install(data: dict[str, Any], writes: Sequence[Write]) -> None:
    """Apply ``writes`` to ``data`` in order (appends extend the list as it is now)."""
    for kind, key, v in writes:
        if kind == "append":
            current = data.get(key)
            data[key] = (v,) if current is None else (*current, v)
        else:
            data[key] = v


# --- commits of snapshot transactions -------------------------------------------------------------


def validated_keys(outcome: Outcome, *, reads: bool, writes: bool) -> tuple[str, ...]:
    """The keys a commit re-checks: a key fails the commit if anything wrote it after the
    snapshot.  Checking both (optimistic concurrency control) makes the transaction
    serializable at its commit; ``reads=False`` leaves keys only read unchecked
    (snapshot isolation: write skew); ``writes=False`` leaves the written keys unchecked
    (lost updates); neither checks nothing."""
    written = outcome.written_keys
    keys: list[str] = []
    if reads:
        keys.extend(k for k in outcome.reads if k not in written)
    if writes:
        keys.extend(written)
    return tuple(sorted(keys))


def commit_value(snapshot: int, check: tuple[str, ...], outcome: Outcome) -> tuple[Any, ...]:
    """The value of a :data:`COMMIT` command: ``(snapshot version, keys to validate,
    status, reply, writes)``; plain tuples, so it persists and travels as JSON."""
    return (snapshot, check, outcome.status, outcome.value, outcome.writes)


pickle_by_fields(Outcome)
