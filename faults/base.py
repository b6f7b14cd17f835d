"""The :class:`Fault` protocol, target selectors, and the bookkeeping that lets faults overlap.

A fault is *data* (a frozen dataclass) that knows how to act on an :class:`~faults.engine.Engine`.
Applying it returns an :class:`Applied` record of what it actually did -- which node turned out
to be "the leader", which directed links were cut -- because a report must say what happened,
not what was asked for, and ``heal`` must undo exactly that and nothing else.

Faults may overlap (a partition while a link is degraded while a node is crashed).  To keep
heal-in-any-order correct, every change goes through a per-engine :class:`Ledger`:

* links cut, nodes crashed and nodes paused are *reference counted*: the engine is told to cut
  on the first holder and to restore on the last release;
* link degradations and clock settings are *stacks*: healing one pops its own entry and
  re-applies whatever is still on top (or the healthy default).
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from faults.engine import Engine

# --- errors ---------------------------------------------------------------------------------


class FaultError(Exception):
    """Base class of every error raised by the fault package."""


class FaultSpecError(FaultError, ValueError):
    """A fault or schedule description is wrong (unknown name, kind or field, bad value).

    Definite: the same description will always fail, so it is reported before a run starts.
    """


class FaultNotApplicable(FaultError):
    """The fault cannot act on this cluster *right now* (no follower exists, unknown node...).

    Schedules catch it and record a ``fault-skipped`` event instead of aborting the run,
    because a chaos run should keep going when one fault finds nothing to hit.
    """


# --- what a fault did ------------------------------------------------------------------------

Link = tuple[str, str]


@dataclass(frozen=True)
class Applied:
    """What one application of a fault actually did, in resolved terms.

    ``targets`` are the nodes acted on (for reports and ``fault-start`` events), ``notes`` say
    why a node was chosen (``("n2", "the leader")``), ``links`` are the directed links touched,
    ``groups`` the sides of a partition.  ``token`` identifies this application in the ledger,
    and ``state`` holds live state of repeating faults (a strobe's loop) -- it is deliberately
    left out of equality so two ``Applied`` values compare by what they did.
    """

    targets: tuple[str, ...]
    token: int
    links: tuple[Link, ...] = ()
    groups: tuple[tuple[str, ...], ...] = ()
    notes: tuple[tuple[str, str], ...] = ()
    state: Any = field(default=None, compare=False)

    def named(self, node: str) -> str:
        """``"n2 (the leader)"`` when there is a note for ``node``, else just ``"n2"``."""
        for noted, why in self.notes:
            if noted == node and why:
                return f"{node} ({why})"
        return node


@runtime_checkable
class Fault(Protocol):
    """A fault model: plain data plus apply / heal / describe.

    ``apply`` must not raise for "nothing to hit" situations other than
    :class:`FaultNotApplicable`; ``heal`` must undo only what ``apply`` did.
    """

    name: ClassVar[str]

    def apply(self, engine: Engine) -> Applied: ...

    def heal(self, engine: Engine, applied: Applied) -> None: ...

    def describe(self, applied: Applied) -> str: ...

    def to_dict(self) -> dict[str, Any]: ...


class FaultBase:
    """Shared helpers for fault dataclasses: ``to_dict`` and a default ``describe``.

    Subclasses are frozen dataclasses; ``to_dict`` writes every field (not only non-defaults)
    so a saved scenario replays the same even if a default later changes.
    """

    name: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"fault": self.name}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            out[f.name] = to_plain(getattr(self, f.name))
        return out

    def describe(self, applied: Applied) -> str:
        return f"{self.name} on {join_nodes(applied.targets)}"


def to_plain(value: Any) -> Any:
    """Tuples become lists so the result is exactly what ``json.loads`` would give back."""
    if isinstance(value, tuple | list):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    return value


def join_nodes(nodes: tuple[str, ...] | list[str]) -> str:
    return ", ".join(nodes) if nodes else "no nodes"


def fmt_ms(value: float) -> str:
    """``1500.0`` -> ``"1500 ms"``; keeps fractions only when there are some."""
    return f"{int(value)} ms" if float(value).is_integer() else f"{value} ms"


# --- selectors ---------------------------------------------------------------------------------

SELECTORS: tuple[str, ...] = ("leader", "random", "random-follower", "minority", "majority")
"""Target names resolved when a fault is applied rather than when it is written down."""


@dataclass(frozen=True)
class Resolved:
    """Nodes a selector resolved to, in ``engine.node_ids()`` order, and why they were chosen."""

    nodes: tuple[str, ...]
    note: str = ""

    def notes(self) -> tuple[tuple[str, str], ...]:
        return tuple((n, self.note) for n in self.nodes) if self.note else ()


def in_cluster_order(engine: Engine, nodes: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Sort by position in ``node_ids()`` -- never by set iteration, which is not reproducible."""
    order = {n: i for i, n in enumerate(engine.node_ids())}
    return tuple(sorted(nodes, key=lambda n: order[n]))


def resolve(engine: Engine, target: str) -> Resolved:
    """Resolve a literal node id or a selector against the cluster as it is now.

    "leader" with no leader falls back to a random node (saying so), because a schedule that
    wants to hurt the leader during an election should still hurt *someone*.
    """
    nodes = engine.node_ids()
    if not nodes:
        raise FaultNotApplicable("the cluster has no nodes")
    rng = engine.rng
    if target == "leader":
        leader = engine.leader()
        if leader is not None:
            if leader not in nodes:
                raise FaultNotApplicable(f"leader {leader!r} is not one of {join_nodes(nodes)}")
            return Resolved((leader,), getattr(engine, "bound_label", None) or "the leader")
        return Resolved((rng.choice(nodes),), "no leader, chosen at random")
    if target == "random":
        return Resolved((rng.choice(nodes),), "chosen at random")
    if target == "random-follower":
        leader = engine.leader()
        followers = tuple(n for n in nodes if n != leader)
        if not followers:
            raise FaultNotApplicable("there is no follower to choose")
        return Resolved(
            (rng.choice(followers),), "a follower" if leader else "no leader, chosen at random"
        )
    if target in ("minority", "majority"):
        size = (len(nodes) - 1) // 2 if target == "minority" else len(nodes) // 2 + 1
        if size == 0:
            raise FaultNotApplicable(f"a cluster of {len(nodes)} has no non-empty minority")
        return Resolved(in_cluster_order(engine, rng.sample(nodes, size)), f"a {target}")
    if target in nodes:
        return Resolved((target,))
    raise FaultNotApplicable(
        f"unknown node {target!r}; nodes are {join_nodes(nodes)}; selectors are {join_nodes(SELECTORS)}"
    )


def resolve_one(engine: Engine, target: str) -> Resolved:
    """Like :func:`resolve` but insists on exactly one node (crash, pause, clock faults)."""
    got = resolve(engine, target)
    if len(got.nodes) != 1:
        raise FaultNotApplicable(
            f"target {target!r} names {len(got.nodes)} nodes; this fault needs one"
        )
    return got


# --- bound engines (OnEvent binds "leader" to the node that triggered it) ---------------------


class BoundEngine:
    """An engine view whose ``leader()`` is pinned to one node.

    ``OnEvent("leader-elected", ...)`` must hit *the node that was elected*, even if leadership
    moved again before the (possibly delayed) fault applies; pinning ``leader()`` keeps every
    fault's selector logic unchanged.  Everything else is delegated.
    """

    def __init__(self, inner: Engine, leader: str | None, label: str | None = None) -> None:
        self.inner = inner
        self._leader = leader
        # how reports should name the bound node, e.g. "the node that voted"
        self.bound_label = label

    def node_ids(self) -> tuple[str, ...]:
        return self.inner.node_ids()

    def leader(self) -> str | None:
        return self._leader

    def now_ms(self) -> int:
        return self.inner.now_ms()

    @property
    def rng(self) -> Any:
        return self.inner.rng

    def cut(self, src: str, dst: str) -> None:
        self.inner.cut(src, dst)

    def restore(self, src: str, dst: str) -> None:
        self.inner.restore(src, dst)

    def set_link(self, src: str, dst: str, **settings: float) -> None:
        self.inner.set_link(src, dst, **settings)

    def set_clock(self, node: str, *, offset_ms: float = 0.0, rate: float = 1.0) -> None:
        self.inner.set_clock(node, offset_ms=offset_ms, rate=rate)

    def jump_clock(self, node: str, delta_ms: float) -> None:
        self.inner.jump_clock(node, delta_ms)

    def crash(self, node: str) -> None:
        self.inner.crash(node)

    def restart(self, node: str) -> None:
        self.inner.restart(node)

    def pause(self, node: str) -> None:
        self.inner.pause(node)

    def resume(self, node: str) -> None:
        self.inner.resume(node)

    def record(self, kind: str, data: dict[str, object]) -> None:
        self.inner.record(kind, data)

    def schedule(self, at_ms: int, fn: Callable[[], None]) -> object:
        return scheduler_of(self.inner)(at_ms, fn)


def unwrap(engine: Engine | BoundEngine) -> Engine:
    while isinstance(engine, BoundEngine):
        engine = engine.inner
    return engine


Schedule = Callable[[int, Callable[[], None]], object]


def scheduler_of(engine: Engine | BoundEngine) -> Schedule:
    """The engine's ``schedule(at_ms, fn)``; repeating faults (strobe, crash loop) need it.

    :class:`~faults.engine.Engine` does not declare ``schedule`` yet, so this is looked up
    dynamically and a missing one is a :class:`FaultNotApplicable` with a clear reason.
    """
    fn = getattr(engine, "schedule", None)
    if fn is None:
        raise FaultNotApplicable(
            f"{type(engine).__name__} has no schedule(at_ms, fn); repeating faults need one"
        )
    return fn  # type: ignore[no-any-return]


# --- the ledger ----------------------------------------------------------------------------------


class Ledger:
    """Per-engine reference counts and setting stacks so overlapping faults compose.

    Keys are plain tuples like ``("cut", "n1", "n2")`` or ``("clock", "n3")``.  Tokens are
    per-engine increasing ints; they also serve as the ``id`` in ``fault-start`` events.
    """

    def __init__(self) -> None:
        self.counts: dict[Hashable, int] = {}
        self.stacks: dict[Hashable, list[tuple[int, Any]]] = {}
        self._next_token = 0

    def token(self) -> int:
        self._next_token += 1
        return self._next_token

    def acquire(self, key: Hashable) -> bool:
        """Count one more holder; True when it is the first (so the caller should act)."""
        n = self.counts.get(key, 0)
        self.counts[key] = n + 1
        return n == 0

    def release(self, key: Hashable) -> bool:
        """Drop one holder; True when it was the last (so the caller should undo)."""
        n = self.counts.get(key, 0)
        if n <= 1:
            self.counts.pop(key, None)
            return n == 1
        self.counts[key] = n - 1
        return False

    def held(self, key: Hashable) -> bool:
        return self.counts.get(key, 0) > 0

    def push(self, key: Hashable, token: int, value: Any) -> None:
        self.stacks.setdefault(key, []).append((token, value))

    def pop(self, key: Hashable, token: int) -> tuple[bool, Any]:
        """Remove ``token``'s entry; return (something remains, the value now on top)."""
        stack = self.stacks.get(key, [])
        stack[:] = [(t, v) for t, v in stack if t != token]
        if not stack:
            self.stacks.pop(key, None)
            return False, None
        return True, stack[-1][1]


_LEDGERS: dict[int, Ledger] = {}

_LEDGER_ATTR = "_splitbrain_fault_ledger"


def ledger_for(engine: Engine | BoundEngine) -> Ledger:
    """The ledger of the underlying engine (bound views share their engine's ledger).

    The ledger is kept on the engine itself, so it lives and dies with it.  That holds for an
    engine reached through a weak proxy too (the simulator hands fault schedules one): the
    attribute lands on the engine behind it, while the proxy's own ``id`` -- all a table could
    key it by, since a proxy is neither hashable nor weakly referenceable -- is reused by the
    next run's proxy, which would inherit this run's counts.  An engine that takes no new
    attributes (slots) falls back to a table keyed by ``id``, with a weakref finalizer that
    drops the entry when the engine is collected.
    """
    base = unwrap(engine)
    own = getattr(base, _LEDGER_ATTR, None)
    if isinstance(own, Ledger):
        return own
    fresh = Ledger()
    try:
        setattr(base, _LEDGER_ATTR, fresh)
    except (AttributeError, TypeError):
        pass
    else:
        return fresh
    key = id(base)
    got = _LEDGERS.get(key)
    if got is None:
        got = _LEDGERS[key] = Ledger()
        try:
            weakref.finalize(base, _LEDGERS.pop, key, None)
        except TypeError:  # not weak-referenceable: entry lives as long as the process
            pass
    return got


# --- shared primitive operations -----------------------------------------------------------------


def cut_links(engine: Engine, links: list[Link] | tuple[Link, ...]) -> tuple[Link, ...]:
    """Cut each directed link (counting holders) and return them in the given order."""
    ledger = ledger_for(engine)
    for src, dst in links:
        if ledger.acquire(("cut", src, dst)):
            engine.cut(src, dst)
    return tuple(links)


def restore_links(engine: Engine, links: tuple[Link, ...]) -> None:
    """Release links cut by :func:`cut_links`; restore only those nobody else still holds."""
    ledger = ledger_for(engine)
    for src, dst in links:
        if ledger.release(("cut", src, dst)):
            engine.restore(src, dst)


def between(a: tuple[str, ...], b: tuple[str, ...]) -> list[Link]:
    """All directed links from every node of ``a`` to every node of ``b`` and back."""
    return [(x, y) for x in a for y in b if x != y] + [(y, x) for x in a for y in b if x != y]
