"""Workloads: what clients ask of the system, drawn from a seeded RNG.

Written values are unique (``process * 1_000_000 + counter``), as in Jepsen's register
tests: a read then names the one write it observed, which keeps the linearizability search
small and the explanations concrete ("read returned 3004, written by process 3").
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scenarios.script import ScriptOp, due_order

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

KINDS = ("register",)
_ALLOWED = {"kind", "keys", "read_ratio", "cas_ratio", "ops_per_client", "think_ms"}


@dataclass(frozen=True)
class RegisterOps:
    """What a register system calls its operations, and whether it has compare-and-set.

    The operation names are what its client sends and what its checker's model reads, so
    they belong to the system: the Raft KV says get/put/cas, the quorum register read/write.
    """

    read: str
    write: str
    cas: bool
    name: str = field(default="", compare=False)
    """How error messages call the system (``the quorum register``)."""


KV_OPS = RegisterOps("get", "put", True, "the key-value store")
REGISTER_OPS = RegisterOps("read", "write", False, "the quorum register")


def check_workload(ops: RegisterOps, spec: dict[str, Any]) -> None:
    unknown = sorted(set(spec) - _ALLOWED)
    if unknown:
        raise ValueError(f"workload: unknown field {unknown[0]!r}; allowed: {', '.join(sorted(_ALLOWED))}")
    kind = spec.get("kind", "register")
    if kind not in KINDS:
        raise ValueError(f"workload: unknown kind {kind!r}; known: {', '.join(KINDS)}")
    keys = spec.get("keys", 3)
    if not isinstance(keys, int) or keys < 1:
        raise ValueError(f"workload: keys must be a positive integer, got {keys!r}")
    for r in ("read_ratio", "cas_ratio"):
        v = spec.get(r, 0.0)
        if not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
            raise ValueError(f"workload: {r} must be between 0 and 1, got {v!r}")
    think = spec.get("think_ms", [0, 20])
    if (not isinstance(think, (list, tuple)) or len(think) != 2
            or not all(isinstance(x, int) and x >= 0 for x in think) or think[0] > think[1]):
        raise ValueError(f"workload: think_ms must be [min, max] milliseconds, got {think!r}")
    if not ops.cas and spec.get("cas_ratio", 0):
        raise ValueError(f"workload: {ops.name or 'this system'} has no cas; set cas_ratio = 0")


@dataclass
class RegisterWorkload:
    """Reads, writes and (where the system has it) compare-and-set over a few keys."""

    ops: RegisterOps = KV_OPS
    keys: int = 3
    read_ratio: float = 0.5
    cas_ratio: float = 0.15
    ops_per_client: int | None = None
    clients: int = 1

    def __post_init__(self) -> None:
        self._counter: dict[int, int] = {}
        self._recent: dict[str, list[int]] = {}
        self._issued: dict[int, int] = {}
        self._read, self._write = self.ops.read, self.ops.write

    def next_op(self, process: int, rng: random.Random) -> tuple[str, str | None, Any] | None:
        slot = process % max(1, self.clients)  # after an info, a slot continues as a new process id
        if self.ops_per_client is not None:
            n = self._issued.get(slot, 0)
            if n >= self.ops_per_client:
                return None
            self._issued[slot] = n + 1
        key = f"k{rng.randrange(self.keys)}"
        r = rng.random()
        if r < self.read_ratio:
            return (self._read, key, None)
        c = self._counter.get(process, 0) + 1
        self._counter[process] = c
        value = process * 1_000_000 + c
        recent = self._recent.setdefault(key, [])
        if self.ops.cas and r < self.read_ratio + self.cas_ratio:
            expected = rng.choice(recent) if recent else None
            recent.append(value)
            del recent[:-4]
            return ("cas", key, [expected, value])
        recent.append(value)
        del recent[:-4]
        return (self._write, key, value)


def think_ms(spec: dict[str, Any]) -> tuple[int, int]:
    """Pause between one client's operations: [min, max] milliseconds."""
    lo, hi = spec.get("think_ms", [0, 20])
    return int(lo), int(hi)


def make_workload(ops: RegisterOps, spec: dict[str, Any], clients: int = 1) -> RegisterWorkload:
    check_workload(ops, spec)
    return RegisterWorkload(
        ops=ops,
        keys=int(spec.get("keys", 3)),
        read_ratio=float(spec.get("read_ratio", 0.5)),
        cas_ratio=float(spec.get("cas_ratio", 0.15 if ops.cas else 0.0)),
        ops_per_client=spec.get("ops_per_client"),
        clients=clients,
    )


# --- workload kinds that plugins add ---------------------------------------------------------


@dataclass(frozen=True)
class WorkloadKind:
    """A workload a plugin adds, chosen in a scenario with ``workload = { kind = NAME, ... }``.

    A system brings its own workload (its :attr:`~scenarios.systems.System.workload_kinds`);
    a workload kind is another generator of operations for the systems in ``systems`` (every
    system when empty), e.g. a hot-key register workload for ``raft-kv`` and ``quorum``.

    * ``check(spec, system)`` raises ``ValueError`` naming the bad field of the scenario's
      ``workload`` table (``kind`` included), before anything runs;
    * ``build(spec, clients, system)`` returns an object with
      ``next_op(process, rng) -> (f, key, value) | None``; it must pickle (a module-level
      class or function) so the real engine can ship it to the client process.

    ``system`` is the scenario's system name: the operation names are the system's (the
    Raft KV says get/put/cas, the quorum register read/write).  ``think_ms`` is read by the
    runner for every kind.
    """

    name: str
    summary: str
    check: Callable[[dict[str, Any], str], None]
    build: Callable[[dict[str, Any], int, str], Any]
    systems: tuple[str, ...] = ()

    def suits(self, system: str) -> bool:
        return not self.systems or system in self.systems


_KINDS: dict[str, WorkloadKind] = {}


def register_workload(kind: WorkloadKind) -> WorkloadKind:
    """Make ``kind`` selectable by ``workload.kind``.  Refused when the name is another
    registered kind's (from another module) or a kind a system's own workload accepts."""
    from faults.registry import RegistrationError, origin
    from scenarios.systems import get_system, system_names

    if not isinstance(kind, WorkloadKind):
        raise RegistrationError(f"register_workload takes a scenarios.workloads.WorkloadKind, got {type(kind).__name__}")
    if not isinstance(kind.name, str) or not kind.name.strip():
        raise RegistrationError(f"a workload kind needs a non-empty name, got {kind.name!r}")
    for f in ("check", "build"):
        if not callable(getattr(kind, f)):
            raise RegistrationError(f"workload kind {kind.name!r}: field {f!r} must be callable")
    if not isinstance(kind.systems, list | tuple) or not all(isinstance(s, str) for s in kind.systems):
        raise RegistrationError(f"workload kind {kind.name!r}: field 'systems' must be a list of system names")
    existing = _KINDS.get(kind.name)
    if existing is not None and _module(existing) != _module(kind):
        raise RegistrationError(f"workload kind {kind.name!r} is already taken, {origin(_module(existing))}; "
                                "choose another name")
    owners = [s for s in system_names() if kind.name in get_system(s).workload_kinds and kind.suits(s)]
    if owners:
        raise RegistrationError(f"workload kind {kind.name!r} is already taken by the own workload of "
                                f"{', '.join(owners)}; a plugin may not replace it: choose another name")
    _KINDS[kind.name] = kind
    return kind


def _module(kind: WorkloadKind) -> str | None:
    fn: Any = kind.build
    while hasattr(fn, "func"):  # functools.partial
        fn = fn.func
    return getattr(fn, "__module__", None)


def unregister_workload(name: str) -> None:
    """Forget a workload kind (tests and notebooks use this)."""
    _KINDS.pop(name, None)


def workload_kinds() -> dict[str, WorkloadKind]:
    """Every workload kind plugins registered, by name (installed packages' included)."""
    from scenarios.plugins import load_installed

    load_installed()
    return dict(sorted(_KINDS.items()))


def _scalar(v: Any) -> bool:
    return isinstance(v, (int, str)) and not isinstance(v, bool)


@dataclass(frozen=True)
class RegisterVocabulary:
    """What a register system's clients can be scripted to do (an
    :class:`~scenarios.script.OpVocabulary`): read a key, write a value to it, and where
    the system has it, compare-and-set (``value = [expected, new]``).

    Drawn writes are numbered 1, 2, 3... in due order: unique, so a read names the one
    write it saw, and as small as values get.
    """

    ops: RegisterOps

    def _names(self) -> tuple[str, ...]:
        return (self.ops.read, self.ops.write, "cas") if self.ops.cas else (self.ops.read, self.ops.write)

    def check(self, op: ScriptOp) -> str | None:
        names = self._names()
        if op.f not in names:
            return f"f = {op.f!r} is not an operation of {self.ops.name or 'this system'}; it has {', '.join(names)}"
        if op.key is None:
            return f"a {op.f} needs a key (e.g. key = \"k1\")"
        if op.f == self.ops.read:
            if op.value is not None:
                return f"a {op.f} takes no value (what it returns is recorded in the history)"
            return None
        if op.f == self.ops.write:
            if not _scalar(op.value):
                return f"a {op.f} needs a value: an integer or a string, got {op.value!r}"
            return None
        v = op.value
        if not isinstance(v, tuple) or len(v) != 2 or not all(x is None or _scalar(x) for x in v) or v[1] is None:
            return f"a cas needs value = [expected, new] (integers or strings), got {v!r}"
        return None

    def check_all(self, ops: Sequence[ScriptOp]) -> str | None:
        return None

    def op_strategy(self, workload: Mapping[str, Any]) -> SearchStrategy[ScriptOp]:
        """Which operation (shrinking towards a read), which key (towards ``k0``), and for
        a cas which earlier value it expects (towards the first write); the read/cas mix
        follows the scenario's ratios."""
        from hypothesis import strategies as st

        keys = int(workload.get("keys", 3))
        reads = round(100 * float(workload.get("read_ratio", 0.5)))
        cas = round(100 * float(workload.get("cas_ratio", 0.15 if self.ops.cas else 0.0))) if self.ops.cas else 0
        ops = self.ops

        def build(kind: int, key: int, expected: int) -> ScriptOp:
            k = f"k{key}"
            if kind < reads:
                return ScriptOp(0, 0, ops.read, k)
            if kind < reads + cas:
                return ScriptOp(0, 0, "cas", k, (expected, None))
            return ScriptOp(0, 0, ops.write, k)

        return st.builds(build, st.integers(0, 99), st.integers(0, max(0, keys - 1)), st.integers(1, 8))

    def finish(self, ops: Sequence[ScriptOp]) -> list[ScriptOp]:
        out: list[ScriptOp] = []
        n = 0
        for op in sorted(ops, key=due_order):
            if op.f == self.ops.write and op.value is None:
                n += 1
                op = ScriptOp(op.at, op.client, op.f, op.key, n)
            elif op.f == "cas" and isinstance(op.value, tuple) and op.value[1] is None:
                n += 1
                op = ScriptOp(op.at, op.client, op.f, op.key, (op.value[0], n))
            out.append(op)
        return out


    def simpler(self, op: ScriptOp) -> list[ScriptOp]:
        """Nothing: drawn values are already numbered 1, 2, 3, and turning a write into a
        read is hypothesis's job."""
        return []


KV_SCRIPT = RegisterVocabulary(KV_OPS)
REGISTER_SCRIPT = RegisterVocabulary(REGISTER_OPS)
