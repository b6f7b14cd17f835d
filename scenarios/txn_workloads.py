"""Transactional workloads: Elle-style list-append / rw-register transactions, and a bank.

**list-append / rw-register** (``kind = "list-append" | "rw-register"``), after Jepsen's
Elle generators.  Each transaction is a few micro-ops over a small pool of *active* keys:
``["r", k, None]`` reads, ``["append", k, v]`` (or ``["w", k, v]``) writes.  Every value
written to a key is unique (a per-key counter), which is what lets the isolation checker
tell who wrote what from what was read, and a list read shows the order of the appends.
A key retires after ``max_writes_per_key`` writes and a fresh key takes its place, so
lists stay short (reads, histories and the checker stay cheap) while a handful of keys
stay hot enough for transactions to collide.  ``read_only`` of the transactions only read;
the others mix reads and writes (``read_ratio`` of their micro-ops read) in any order
(``shape = "random"``, Elle's).  ``shape = "reads-then-writes"`` puts a read-write
transaction's reads before its writes: read, decide, write, the pattern read skew and
lost updates bite (and no read shows the transaction's own writes).  With
``shape = "read-all-write-one"`` a read-write transaction reads every active key and then
writes one: the on-call doctors' transaction ("if someone else is still on call, I may
go off"), the shape write skew needs.

**bank** (``kind = "bank"``), after Jepsen's bank test: ``accounts`` accounts opened with
``balance`` each; transfers of 1..``max_transfer`` between two random accounts, and reads
of every balance.  Each Jepsen process starts with ``open`` (which opens the bank once;
later ones find it open), so the bank exists before that process moves money.  Whatever
happens, every read should show the same total: see :mod:`analysis.bank`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from cluster.spec import Op

__all__ = [
    "TXN_KINDS",
    "BankWorkload",
    "TxnWorkload",
    "check_txn_workload",
    "make_txn_workload",
]

TXN_KINDS: tuple[str, ...] = ("list-append", "rw-register", "bank")
SHAPES: tuple[str, ...] = ("random", "reads-then-writes", "read-all-write-one")
_COMMON = {"kind", "ops_per_client", "think_ms"}
_ALLOWED: dict[str, set[str]] = {
    "list-append": _COMMON | {"keys", "max_writes_per_key", "txn_len", "read_only", "read_ratio", "shape"},
    "bank": _COMMON | {"accounts", "balance", "max_transfer", "read_ratio"},
}
_ALLOWED["rw-register"] = _ALLOWED["list-append"]


def _positive_int(spec: dict[str, Any], name: str, default: int) -> int:
    v = spec.get(name, default)
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise ValueError(f"workload: {name} must be a positive integer, got {v!r}")
    return v


def _ratio(spec: dict[str, Any], name: str, default: float) -> float:
    v = spec.get(name, default)
    if not isinstance(v, int | float) or isinstance(v, bool) or not 0.0 <= v <= 1.0:
        raise ValueError(f"workload: {name} must be between 0 and 1, got {v!r}")
    return float(v)


def _range(spec: dict[str, Any], name: str, default: list[int], least: int) -> tuple[int, int]:
    v = spec.get(name, default)
    if (not isinstance(v, list | tuple) or len(v) != 2
            or not all(isinstance(x, int) and not isinstance(x, bool) and x >= least for x in v)
            or v[0] > v[1]):
        raise ValueError(f"workload: {name} must be [min, max] with {least} <= min <= max, got {v!r}")
    return int(v[0]), int(v[1])


def check_txn_workload(spec: dict[str, Any]) -> None:
    """Validate a transactional workload table (``ValueError`` names the field)."""
    kind = spec.get("kind")
    if kind not in _ALLOWED:
        raise ValueError(f"workload: unknown kind {kind!r}; known: {', '.join(TXN_KINDS)}")
    unknown = sorted(set(spec) - _ALLOWED[kind])
    if unknown:
        raise ValueError(f"workload: unknown field {unknown[0]!r} for kind {kind}; "
                         f"allowed: {', '.join(sorted(_ALLOWED[kind]))}")
    _range(spec, "think_ms", [0, 20], 0)
    if spec.get("ops_per_client") is not None:
        _positive_int(spec, "ops_per_client", 1)
    if kind == "bank":
        if _positive_int(spec, "accounts", 5) < 2:
            raise ValueError("workload: a bank needs at least 2 accounts")
        _positive_int(spec, "balance", 10)
        _positive_int(spec, "max_transfer", 5)
        _ratio(spec, "read_ratio", 0.5)
        return
    _positive_int(spec, "keys", 3)
    _positive_int(spec, "max_writes_per_key", 32)
    _range(spec, "txn_len", [1, 4], 1)
    _ratio(spec, "read_only", 0.25)
    _ratio(spec, "read_ratio", 0.5)
    shape = spec.get("shape", "random")
    if shape not in SHAPES:
        raise ValueError(f"workload: unknown shape {shape!r}; known: {', '.join(SHAPES)}")


def make_txn_workload(spec: dict[str, Any], clients: int = 1) -> TxnWorkload | BankWorkload:
    check_txn_workload(spec)
    opc = spec.get("ops_per_client")
    if spec["kind"] == "bank":
        return BankWorkload(
            accounts=int(spec.get("accounts", 5)),
            balance=int(spec.get("balance", 10)),
            max_transfer=int(spec.get("max_transfer", 5)),
            read_ratio=float(spec.get("read_ratio", 0.5)),
            ops_per_client=opc,
            clients=clients,
        )
    return TxnWorkload(
        write="append" if spec["kind"] == "list-append" else "w",
        keys=int(spec.get("keys", 3)),
        max_writes_per_key=int(spec.get("max_writes_per_key", 32)),
        txn_len=_range(spec, "txn_len", [1, 4], 1),
        read_only=float(spec.get("read_only", 0.25)),
        read_ratio=float(spec.get("read_ratio", 0.5)),
        shape=str(spec.get("shape", "random")),
        ops_per_client=opc,
        clients=clients,
    )


class _Budget:
    """How many operations each client slot may still issue (``None``: unlimited)."""

    def __init__(self, per_slot: int | None, clients: int) -> None:
        self.per_slot = per_slot
        self.clients = max(1, clients)
        self.issued: dict[int, int] = {}

    def take(self, process: int) -> bool:
        if self.per_slot is None:
            return True
        slot = process % self.clients  # after an info, a slot continues as a new process id
        n = self.issued.get(slot, 0)
        if n >= self.per_slot:
            return False
        self.issued[slot] = n + 1
        return True


@dataclass
class TxnWorkload:
    """Elle-style transactions over a rotating pool of keys (see the module doc)."""

    write: str = "append"  # "append" (list-append) or "w" (rw-register)
    keys: int = 3
    max_writes_per_key: int = 32
    txn_len: tuple[int, int] = (1, 4)
    read_only: float = 0.25
    read_ratio: float = 0.5
    shape: str = "random"
    ops_per_client: int | None = None
    clients: int = 1
    _active: list[str] = field(init=False, default_factory=list)
    _writes: dict[str, int] = field(init=False, default_factory=dict)
    _next_key: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self._budget = _Budget(self.ops_per_client, self.clients)
        for _ in range(self.keys):
            self._active.append(self._fresh_key())

    def _fresh_key(self) -> str:
        name = f"k{self._next_key}"
        self._next_key += 1
        self._writes[name] = 0
        return name

    def _write(self, slot: int) -> list[Any]:
        """A write of the key in active slot ``slot``, with its next unique value; the key
        retires (a fresh one takes its slot) once it has had its share of writes."""
        key = self._active[slot]
        n = self._writes[key] + 1
        self._writes[key] = n
        if n >= self.max_writes_per_key:
            self._active[slot] = self._fresh_key()
        return [self.write, key, n]

    def next_op(self, process: int, rng: random.Random) -> Op | None:
        if not self._budget.take(process):
            return None
        n = len(self._active)
        if rng.random() < self.read_only:
            length = rng.randint(*self.txn_len)
            return ("txn", None, [["r", self._active[rng.randrange(n)], None] for _ in range(length)])
        mops: list[list[Any]]
        if self.shape == "read-all-write-one":
            mops = [["r", key, None] for key in self._active]
            mops.append(self._write(rng.randrange(n)))
            return ("txn", None, mops)
        length = rng.randint(*self.txn_len)
        if self.shape == "reads-then-writes":
            reads = sum(1 for _ in range(length - 1) if rng.random() < self.read_ratio)
            mops = [["r", self._active[rng.randrange(n)], None] for _ in range(reads)]
            mops.extend(self._write(rng.randrange(n)) for _ in range(length - reads))
            return ("txn", None, mops)
        mops = []
        for i in range(length):
            slot = rng.randrange(n)
            # A read-write transaction writes at least once (its last micro-op, if need be).
            if rng.random() < self.read_ratio and not (i == length - 1 and all(m[0] == "r" for m in mops)):
                mops.append(["r", self._active[slot], None])
            else:
                mops.append(self._write(slot))
        return ("txn", None, mops)


@dataclass
class BankWorkload:
    """Jepsen's bank: open once per process, then transfers and reads of every balance."""

    accounts: int = 5
    balance: int = 10
    max_transfer: int = 5
    read_ratio: float = 0.5
    ops_per_client: int | None = None
    clients: int = 1

    def __post_init__(self) -> None:
        self._budget = _Budget(self.ops_per_client, self.clients)
        self._names = [f"a{i}" for i in range(self.accounts)]
        self._opened: set[int] = set()

    @property
    def total(self) -> int:
        return self.accounts * self.balance

    def next_op(self, process: int, rng: random.Random) -> Op | None:
        if not self._budget.take(process):
            return None
        if process not in self._opened:
            self._opened.add(process)
            return ("open", None, {name: self.balance for name in self._names})
        if rng.random() < self.read_ratio:
            return ("read", None, None)
        src, dst = rng.sample(self._names, 2)
        return ("transfer", None, {"from": src, "to": dst, "amount": rng.randint(1, self.max_transfer)})
