"""Network partitions: which nodes can still talk to which.

Every shape is built from directed ``engine.cut(src, dst)`` calls so the simulator and the
real runtime need only one primitive, and one-way partitions come for free.  Shapes are
resolved when applied (random splits use ``engine.rng``; node order is always the cluster's
``node_ids()`` order), and heal releases exactly the links this application cut, so
overlapping partitions compose (see :mod:`faults.base`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from faults.base import (
    Applied,
    FaultBase,
    FaultNotApplicable,
    FaultSpecError,
    Link,
    between,
    cut_links,
    in_cluster_order,
    join_nodes,
    ledger_for,
    resolve,
    resolve_one,
    restore_links,
)
from faults.engine import Engine
from faults.registry import register

KINDS: tuple[str, ...] = (
    "halves",
    "isolate",
    "isolate-leader",
    "majorities-ring",
    "bridge",
    "one-way",
    "groups",
)
"""Partition shapes.  ``groups`` and ``one-way`` accept explicit ``groups``; ``isolate``,
``one-way`` and ``bridge`` accept a ``target`` (node id or selector)."""

_TAKES_TARGET = ("isolate", "one-way", "bridge")
_TAKES_GROUPS = ("groups", "one-way")


@register
@dataclass(frozen=True)
class Partition(FaultBase):
    """Cut the network into sides.

    * ``halves`` -- a random minority and majority (the classic split brain test).
    * ``isolate`` -- ``target`` (default a random node; may be "minority") vs everyone else.
    * ``isolate-leader`` -- the current leader vs everyone else.
    * ``majorities-ring`` -- nodes on a shuffled ring reach only their neighbours, so every
      node sees a *different* majority (needs 4+ nodes); catches protocols that assume
      majorities agree with each other.
    * ``bridge`` -- two halves that cannot talk, plus one node (``target``) that talks to both.
    * ``one-way`` -- ``groups[0]`` (or ``target``) cannot send to ``groups[1]`` (or everyone
      else); the reverse direction still works, like an asymmetric firewall rule.
    * ``groups`` -- explicit sides; nodes in no group stay connected to everyone.
    """

    name: ClassVar[str] = "partition"

    kind: str = "halves"
    target: str | None = None
    groups: tuple[tuple[str, ...], ...] = ()

    def __post_init__(self) -> None:
        where = f"fault {self.name!r}"
        if self.kind not in KINDS:
            raise FaultSpecError(
                f"{where}: unknown kind {self.kind!r}; known: {', '.join(sorted(KINDS))}"
            )
        if self.target is not None and self.kind not in _TAKES_TARGET:
            hint = "; use kind 'isolate' with target" if self.kind == "isolate-leader" else ""
            raise FaultSpecError(f"{where}: kind {self.kind!r} takes no 'target'{hint}")
        if self.groups and self.kind not in _TAKES_GROUPS:
            raise FaultSpecError(f"{where}: kind {self.kind!r} takes no 'groups'")
        if self.kind == "groups" and len(self.groups) < 2:
            raise FaultSpecError(f"{where}: kind 'groups' needs 'groups' with at least two groups")
        if self.kind == "one-way" and self.groups:
            if len(self.groups) != 2:
                raise FaultSpecError(
                    f"{where}: kind 'one-way' needs exactly two groups [from, to], got {len(self.groups)}"
                )
            if self.target is not None:
                raise FaultSpecError(
                    f"{where}: kind 'one-way' takes 'target' or 'groups', not both"
                )
        seen: list[str] = []
        for group in self.groups:
            if not group:
                raise FaultSpecError(f"{where}: 'groups' contains an empty group")
            for node in group:
                if node in seen:
                    raise FaultSpecError(f"{where}: node {node!r} is in more than one group")
                seen.append(node)

    # --- apply / heal -----------------------------------------------------------------------

    def apply(self, engine: Engine) -> Applied:
        nodes = engine.node_ids()
        notes: tuple[tuple[str, str], ...] = ()
        links: list[Link]
        groups: tuple[tuple[str, ...], ...]
        targets: tuple[str, ...]
        if self.kind == "halves":
            if len(nodes) < 2:
                raise FaultNotApplicable("halves needs at least two nodes")
            shuffled = engine.rng.sample(nodes, len(nodes))
            cut_at = len(nodes) // 2
            groups = (
                in_cluster_order(engine, shuffled[:cut_at]),
                in_cluster_order(engine, shuffled[cut_at:]),
            )
            links, targets = between(*groups), nodes
        elif self.kind in ("isolate", "isolate-leader"):
            default = "leader" if self.kind == "isolate-leader" else "random"
            chosen = resolve(engine, self.target or default)
            rest = tuple(n for n in nodes if n not in chosen.nodes)
            if not rest:
                raise FaultNotApplicable(f"isolating {join_nodes(chosen.nodes)} leaves nobody else")
            groups = (chosen.nodes, rest)
            links, targets, notes = between(*groups), chosen.nodes, chosen.notes()
        elif self.kind == "majorities-ring":
            groups, links = self._ring(engine)
            targets = tuple(g[len(g) // 2] for g in groups)
        elif self.kind == "bridge":
            if len(nodes) < 3:
                raise FaultNotApplicable("bridge needs at least three nodes")
            bridge = resolve_one(engine, self.target or "random")
            others = [n for n in nodes if n not in bridge.nodes]
            shuffled = engine.rng.sample(others, len(others))
            cut_at = len(others) // 2
            left = in_cluster_order(engine, shuffled[:cut_at])
            right = in_cluster_order(engine, shuffled[cut_at:])
            groups = (left, bridge.nodes, right)
            links, targets, notes = between(left, right), bridge.nodes, bridge.notes()
        elif self.kind == "one-way":
            if self.groups:
                self._check_known(engine)
                src, dst = self.groups[0], self.groups[1]
            else:
                chosen = resolve(engine, self.target or "random")
                src, notes = chosen.nodes, chosen.notes()
                dst = tuple(n for n in nodes if n not in src)
            groups = (src, dst)
            links, targets = [(s, d) for s in src for d in dst if s != d], src
        else:  # "groups"
            self._check_known(engine)
            groups = self.groups
            links = []
            for i, a in enumerate(groups):
                for b in groups[i + 1 :]:
                    links += between(a, b)
            targets = in_cluster_order(engine, [n for g in groups for n in g])
        token = ledger_for(engine).token()
        cut = cut_links(engine, links)
        return Applied(targets=tuple(targets), token=token, links=cut, groups=groups, notes=notes)

    def heal(self, engine: Engine, applied: Applied) -> None:
        restore_links(engine, applied.links)

    def _check_known(self, engine: Engine) -> None:
        nodes = engine.node_ids()
        for group in self.groups:
            for node in group:
                if node not in nodes:
                    raise FaultNotApplicable(
                        f"unknown node {node!r} in groups; nodes are {join_nodes(nodes)}"
                    )

    def _ring(self, engine: Engine) -> tuple[tuple[tuple[str, ...], ...], list[Link]]:
        """Shuffle nodes onto a ring; keep links within ``reach`` hops, cut the rest.

        With majority ``m`` a node must reach ``m - 1`` others; keeping ``ceil((m-1)/2)`` hops
        each way gives that (or one more), and the views differ because the ring is rotated.
        Groups are each node's view: the ring segment centred on it, in ring order.
        """
        nodes = engine.node_ids()
        n = len(nodes)
        if n < 4:
            raise FaultNotApplicable(f"majorities-ring needs at least four nodes, have {n}")
        ring = engine.rng.sample(nodes, n)
        majority = n // 2 + 1
        reach = majority // 2  # == ceil((majority - 1) / 2)

        def hops(i: int, j: int) -> int:
            d = abs(i - j)
            return min(d, n - d)

        links: list[Link] = []
        for i in range(n):
            for j in range(i + 1, n):
                if hops(i, j) > reach:
                    links += [(ring[i], ring[j]), (ring[j], ring[i])]
        views = tuple(tuple(ring[(i + k) % n] for k in range(-reach, reach + 1)) for i in range(n))
        return views, links

    # --- words --------------------------------------------------------------------------------

    def describe(self, applied: Applied) -> str:
        g = applied.groups
        if self.kind in ("isolate", "isolate-leader"):
            who = join_nodes([applied.named(n) for n in g[0]])
            return f"isolated {who} from {join_nodes(g[1])}"
        if self.kind == "halves":
            return f"split the network into halves {join_nodes(g[0])} | {join_nodes(g[1])}"
        if self.kind == "bridge":
            bridge = applied.named(g[1][0])
            return (
                f"split the network into {join_nodes(g[0])} | {join_nodes(g[2])}"
                f" with {bridge} bridging both sides"
            )
        if self.kind == "one-way":
            src = join_nodes([applied.named(n) for n in g[0]])
            return f"{src} can no longer send to {join_nodes(g[1])}; messages the other way still arrive"
        if self.kind == "majorities-ring":
            ring = "-".join(v[len(v) // 2] for v in g)
            views = "; ".join(f"{v[len(v) // 2]} sees {join_nodes(v)}" for v in g)
            return f"cut the ring {ring} so each node sees a different majority ({views})"
        return "partitioned the network into " + " | ".join(join_nodes(x) for x in g)
