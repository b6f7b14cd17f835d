"""Explicit operation scripts: a workload written out operation by operation.

A generated workload (``keys``, ``read_ratio``, ``think_ms``...) draws its operations from
the seed; a *script* lists them.  A learner writes one to ask a precise question ("does a
read on the old leader see my write?"), and ``splitbrain explore`` saves every minimal
failing run as one, so the shrunk counterexample is five lines anyone can read and edit::

    [[workload.script]]
    client = 0          # which client runs it (0 .. clients-1; default 0)
    at = 120            # due time, ms since the run started (default 0)
    f = "put"           # an operation of the system (raft-kv: get, put, cas)
    key = "k1"
    value = 3

Each client runs its entries in ``at`` order, one at a time, as Jepsen's processes do: an
operation starts at its ``at``, or as soon as the client's previous operation completed if
that is later.  Clients do not think between scripted operations; the script is the pace.
Both engines honour it: the simulator in virtual milliseconds, the real engine (``--engine
ray``) in milliseconds of the run's clock, the one fault schedules use.

What an entry may say (``f``, whether a key is needed, what a value looks like) belongs to
the system: its :attr:`scenarios.systems.System.script` is an :class:`OpVocabulary`, which
also tells ``explore`` how to draw operations for hypothesis to search and shrink.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

__all__ = [
    "ENTRY_FIELDS",
    "OpVocabulary",
    "ScriptOp",
    "ScriptWorkload",
    "check_script",
    "due_order",
    "entry_op",
    "has_script",
    "parse_script",
    "script_entries",
    "script_from_history",
]

ENTRY_FIELDS = ("client", "at", "f", "key", "value")
MAX_AT_MS = 24 * 3600 * 1000


def due_order(op: ScriptOp) -> tuple[int, int]:
    """Sort key: due time, then client (stable, so one client's entries due at the same
    time keep the order they were written in)."""
    return (op.at, op.client)


@dataclass(frozen=True)
class ScriptOp:
    """One scripted operation (``value`` holds a list as a tuple)."""

    at: int
    client: int
    f: str
    key: str | None = None
    value: Any = None

    def to_dict(self) -> dict[str, Any]:
        """The entry as a scenario file writes it (no ``key``/``value`` when there is none)."""
        d: dict[str, Any] = {"client": self.client, "at": self.at, "f": self.f}
        if self.key is not None:
            d["key"] = self.key
        if self.value is not None:
            d["value"] = list(self.value) if isinstance(self.value, tuple) else self.value
        return d


class OpVocabulary(Protocol):
    """What a system's clients can be scripted to do, and how ``explore`` draws it.

    ``check`` judges one entry (the reason it is wrong, in words, or None);
    ``check_all`` judges the script as a whole (a saga's trip ids must be unique).
    ``op_strategy`` is a hypothesis strategy for one operation given the scenario's
    generated-workload settings (its ``keys``, ``docs``...): its simplest value is the
    simplest operation, because that is where hypothesis shrinks to.  ``finish`` turns the
    drawn operations, in due order, into the script that runs: it fills in what is best
    numbered rather than drawn (unique write values, unique trip ids).  ``simpler`` offers
    simpler versions of one operation (a shorter text, a plain plan) for the last shrinking
    passes, which try them when hypothesis's budget ran out before its own shrinking did.
    """

    def check(self, op: ScriptOp) -> str | None: ...

    def check_all(self, ops: Sequence[ScriptOp]) -> str | None: ...

    def op_strategy(self, workload: Mapping[str, Any]) -> SearchStrategy[ScriptOp]: ...

    def finish(self, ops: Sequence[ScriptOp]) -> list[ScriptOp]: ...

    def simpler(self, op: ScriptOp) -> list[ScriptOp]: ...


def has_script(workload: Mapping[str, Any]) -> bool:
    """Whether a scenario's workload table is an explicit script."""
    return "script" in workload


def _where(i: int) -> str:
    return f"workload.script[{i}]"


def parse_script(workload: Mapping[str, Any], *, clients: int, system: str,
                 vocabulary: OpVocabulary | None) -> list[ScriptOp]:
    """The script of a workload table, validated.  Raises ``ValueError`` with one line
    naming the entry (``workload.script[3]: ...``) and what is wrong with it."""
    extra = sorted(set(workload) - {"script"})
    if extra:
        raise ValueError(f"workload: a script workload lists every operation itself; remove {extra[0]!r} "
                         "(generated-workload fields do not apply)")
    if vocabulary is None:
        raise ValueError(f"workload: the {system} system cannot be scripted (it declares no operation vocabulary)")
    raw = workload["script"]
    if not isinstance(raw, (list, tuple)):
        raise ValueError(f"workload.script must be a list of tables, got {type(raw).__name__}")
    ops: list[ScriptOp] = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, Mapping):
            raise ValueError(f"{_where(i)}: an entry must be a table with {', '.join(ENTRY_FIELDS)}, "
                             f"got {entry!r}")
        unknown = sorted(set(entry) - set(ENTRY_FIELDS))
        if unknown:
            raise ValueError(f"{_where(i)}: unknown field {unknown[0]!r}; allowed: {', '.join(ENTRY_FIELDS)}")
        client = entry.get("client", 0)
        if not isinstance(client, int) or isinstance(client, bool) or not 0 <= client < clients:
            raise ValueError(f"{_where(i)}: client must be an integer from 0 to {clients - 1} (this scenario "
                             f"has clients = {clients}), got {client!r}")
        at = entry.get("at", 0)
        if not isinstance(at, int) or isinstance(at, bool) or not 0 <= at <= MAX_AT_MS:
            raise ValueError(f"{_where(i)}: at must be a whole number of milliseconds >= 0, got {at!r}")
        f = entry.get("f")
        if not isinstance(f, str) or not f:
            raise ValueError(f"{_where(i)}: missing the operation name 'f' (a string)")
        key = entry.get("key")
        if key is not None and not isinstance(key, str):
            raise ValueError(f"{_where(i)}: key must be a string, got {key!r}")
        value = entry.get("value")
        if isinstance(value, list):
            value = tuple(value)
        op = ScriptOp(at, client, f, key, value)
        problem = vocabulary.check(op)
        if problem:
            raise ValueError(f"{_where(i)}: {problem}")
        ops.append(op)
    whole = vocabulary.check_all(ops)
    if whole:
        raise ValueError(f"workload.script: {whole}")
    return ops


def check_script(workload: Mapping[str, Any], *, clients: int, system: str,
                 vocabulary: OpVocabulary | None) -> None:
    parse_script(workload, clients=clients, system=system, vocabulary=vocabulary)


def entry_op(entry: Mapping[str, Any]) -> ScriptOp:
    """A validated script entry back as a :class:`ScriptOp`."""
    value = entry.get("value")
    return ScriptOp(int(entry.get("at", 0)), int(entry.get("client", 0)), str(entry["f"]), entry.get("key"),
                    tuple(value) if isinstance(value, list) else value)


def script_entries(ops: Iterable[ScriptOp]) -> list[dict[str, Any]]:
    """A workload table's ``script`` list for ``ops``, in due order."""
    return [op.to_dict() for op in sorted(ops, key=due_order)]


class ScriptWorkload:
    """The workload an engine runs for a script: per client slot, its operations in due
    order (:class:`cluster.spec.TimedWorkload`).  A slot keeps its script across the
    process ids it goes through after ``info`` completions."""

    def __init__(self, ops: Iterable[ScriptOp], clients: int) -> None:
        self._clients = max(1, clients)
        per: dict[int, list[ScriptOp]] = {}
        for op in sorted(ops, key=due_order):
            per.setdefault(op.client, []).append(op)
        self._ops = per
        self._pos: dict[int, int] = {}

    def _peek(self, process: int) -> ScriptOp | None:
        slot = process % self._clients
        ops = self._ops.get(slot, ())
        i = self._pos.get(slot, 0)
        return ops[i] if i < len(ops) else None

    def due_ms(self, process: int) -> int | None:
        op = self._peek(process)
        return None if op is None else op.at

    def next_op(self, process: int, rng: random.Random) -> tuple[str, str | None, Any] | None:
        op = self._peek(process)
        if op is None:
            return None
        slot = process % self._clients
        self._pos[slot] = self._pos.get(slot, 0) + 1
        value = list(op.value) if isinstance(op.value, tuple) else op.value
        return (op.f, op.key, value)


def script_from_history(events: Iterable[Any], clients: int) -> list[ScriptOp]:
    """The operations a run invoked, as a script that invokes each again at the same
    virtual millisecond from the same client slot.

    In the simulator this replays the run exactly: a script's client invokes at the due
    time its think time had picked, the engine's other random streams are independent of
    the workload's, and so the same history comes out -- but now every operation is an
    entry that can be deleted, which is what shrinking a generated workload needs.
    """
    out = []
    n = max(1, clients)
    for e in events:
        if e.type != "invoke" or not isinstance(e.process, int) or e.time is None:
            continue
        value = tuple(e.value) if isinstance(e.value, list) else e.value
        out.append(ScriptOp(e.time // 1_000_000, e.process % n, e.f, e.key, value))
    return out
