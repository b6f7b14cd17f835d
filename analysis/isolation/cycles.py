"""Finding and classifying the smallest cycles of each anomaly type.

An anomaly type is a shape of cycle (after Adya, as Elle searches them):

============  =======================  ==================================
type          the edge that starts it  the edges that lead back
============  =======================  ==================================
G0            ww                       ww
G1c           wr                       ww, wr
G-single      rw                       ww, wr (so exactly one rw)
G-nonadjacent rw                       ww, wr, rw, never two rw in a row
G2-item       rw                       ww, wr, rw (two or more rw)
============  =======================  ==================================

The ``-process`` variant may also use process edges on the way back; ``-realtime`` may
use process and real-time edges.  A cycle found is classified by what it actually uses
(:func:`classify`), so a search never mislabels.

Work is bounded twice: by a shared :class:`~analysis.isolation.graph.Budget`, and per
(component, type) by an allowance of edges examined, so one huge component cannot starve
the others.  When a search stops early without a cycle, the component still proves that
*some* cycle of those edge kinds exists (that is what a strongly connected component
is), which already rules models out: it is reported as ``...-cycle-exists``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from analysis.isolation.graph import (
    ALL,
    DATA,
    PROCESS,
    REALTIME,
    RW,
    WR,
    WW,
    Budget,
    DepGraph,
    step_kind,
)
from analysis.isolation.lattice import CYCLE_TYPES

#: base type -> (kinds that may start the cycle, kinds that may lead back)
FAMILY: dict[str, tuple[int, int]] = {
    "G0": (WW, WW),
    "G1c": (WR, WW | WR),
    "G-single": (RW, WW | WR),
    "G-nonadjacent": (RW, WW | WR | RW),  # searched with no two rw edges in a row
    "G2-item": (RW, WW | WR | RW),
}
SUFFIX_MASK: dict[str, int] = {"": 0, "-process": PROCESS, "-realtime": PROCESS | REALTIME}
SUFFIX_RANK = {"": 0, "-process": 1, "-realtime": 2}
#: A type is not searched in a component where a type that implies it was found (as
#: Elle reports it): G0 is a G1c cycle, and a G-single is a G-nonadjacent and a G2-item
#: cycle; a variant is implied by the same type with fewer order edges.
IMPLIED_BY: dict[str, tuple[str, ...]] = {
    "G1c": ("G0",),
    "G-nonadjacent": ("G-single",),
    "G2-item": ("G-single", "G-nonadjacent"),
}


#: Starts tried per (component, type) at least, and the share of the whole budget one
#: (component, type) search may use before giving up on finding more.
MIN_ALLOWANCE = 200_000
ALLOWANCE_SHARE = 8
MAX_CYCLES_PER_TYPE = 8


def split(typ: str) -> tuple[str, str]:
    for suffix in ("-process", "-realtime"):
        if typ.endswith(suffix):
            return typ[: -len(suffix)], suffix
    return typ, ""


def classify(kinds: list[int]) -> str:
    """The anomaly type of a cycle whose steps are of these kinds."""
    n_rw = kinds.count(RW)
    n = len(kinds)
    if n_rw >= 2:
        adjacent = any(kinds[i] == RW and kinds[(i + 1) % n] == RW for i in range(n))
        base = "G2-item" if adjacent else "G-nonadjacent"
    elif n_rw == 1:
        base = "G-single"
    elif WR in kinds:
        base = "G1c"
    else:
        base = "G0"
    if REALTIME in kinds:
        return base + "-realtime"
    if PROCESS in kinds:
        return base + "-process"
    return base


def existence_type(mask: int) -> str:
    base = "G0" if mask & DATA == WW else ("G1" if not mask & RW else "G2")
    if mask & REALTIME:
        return base + "-realtime-cycle-exists"
    if mask & PROCESS:
        return base + "-process-cycle-exists"
    return base + "-cycle-exists"


@dataclass
class Cycle:
    """A cycle ``nodes[0] -> nodes[1] -> ... -> nodes[0]``, the kind each step is told
    as, its type, and the size of the strongly connected component it lies in."""

    type: str
    nodes: list[int]
    kinds: list[int]
    component: int


@dataclass
class Existence:
    """A component proving a cycle of some edge kinds exists, not searched to the end."""

    type: str
    nodes: list[int]
    searched_for: str


@dataclass
class SearchResult:
    cycles: dict[str, list[Cycle]] = field(default_factory=dict)
    exists: list[Existence] = field(default_factory=list)
    undetermined: set[str] = field(default_factory=set)
    components: int = 0
    largest: int = 0
    reason: str = ""


class CycleSearch:
    """Searches every component for the anomaly types asked for, in the order given."""

    def __init__(self, graph: DepGraph, budget: Budget, types: list[str], enabled: int = ALL):
        self.g = graph
        self.budget = budget
        self.types = [t for t in types if SUFFIX_MASK[split(t)[1]] & ~enabled == 0]
        self.enabled = enabled
        self.allowance = max(MIN_ALLOWANCE, budget.max_steps // ALLOWANCE_SHARE)

    def run(self) -> SearchResult:
        res = SearchResult()
        comps = self.g.components(self.enabled)
        res.components = len(comps)
        res.largest = len(comps[0]) if comps else 0
        # Small components first: they are cheap and give the shortest stories.
        for comp in sorted(comps, key=lambda c: (len(c), c[0])):
            self._component(comp, res)
        res.reason = self.budget.reason
        for cs in res.cycles.values():
            cs.sort(key=lambda c: (len(c.nodes), c.nodes))
            del cs[MAX_CYCLES_PER_TYPE:]
        return res

    def _component(self, comp: list[int], res: SearchResult) -> None:
        nodes = set(comp)
        subs: dict[int, list[list[int]]] = {}
        got: set[str] = set()

        def covered(typ: str) -> bool:
            base, suffix = split(typ)
            rank = SUFFIX_RANK[suffix]
            return any(
                b + s in got
                for b in (base, *IMPLIED_BY.get(base, ()))
                for s, r in SUFFIX_RANK.items()
                if r <= rank
            )

        for typ in self.types:
            if covered(typ):
                continue
            base, suffix = split(typ)
            start, back = FAMILY[base]
            back |= SUFFIX_MASK[suffix]
            mask = start | back
            if mask not in subs:
                subs[mask] = self.g.components(mask, nodes)
            if not subs[mask]:
                continue
            if self.budget.expired():
                self._unfinished(typ, mask, subs[mask], res)
                continue
            best: Cycle | None = None
            complete = True
            for sub in sorted(subs[mask], key=lambda c: (len(c), c[0])):
                found, done = self._search(
                    sub, start, back, best, len(comp), covered, base == "G-nonadjacent"
                )
                best = found or best
                complete = complete and done
                if self.budget.reason:
                    break
            if best is not None:
                got.add(best.type)
                res.cycles.setdefault(best.type, []).append(best)
            elif not complete:
                self._unfinished(typ, mask, subs[mask], res)

    def _unfinished(self, typ: str, mask: int, subs: list[list[int]], res: SearchResult) -> None:
        res.undetermined.add(typ)
        name = existence_type(mask)
        if not any(e.type == name and e.nodes == subs[0] for e in res.exists):
            res.exists.append(Existence(name, subs[0], typ))

    def _search(
        self,
        sub: list[int],
        start: int,
        back: int,
        best: Cycle | None,
        comp_size: int,
        covered: Callable[[str], bool],
        nonadjacent: bool = False,
    ) -> tuple[Cycle | None, bool]:
        """The shortest cycle in ``sub`` that begins with a ``start`` edge and returns
        over ``back`` edges, of a type not ``covered`` already (a G2-item search can
        meet a G-single cycle, which the G-single search has reported); and whether
        every start edge was tried."""
        g = self.g
        nodes = set(sub)
        budget = self.budget
        spent_at = budget.steps
        found: Cycle | None = None
        for a in sub:
            for b, k in g.out[a].items():
                if not k & start or b not in nodes:
                    continue
                if budget.steps - spent_at > self.allowance:
                    return found, False
                known = found or best
                best_len = len(known.nodes) if known is not None else len(sub) + 1
                limit = best_len - 2  # edges back from b to a that would beat it
                if limit < 1:
                    return found, True
                if nonadjacent:
                    steps = g.path_nonadjacent(b, a, back, nodes, limit, budget)
                    if budget.reason:
                        return found, False
                    if steps is None:
                        continue
                    cyc = [a, b, *(v for v, _k in steps[:-1])]
                    if len(set(cyc)) != len(cyc):
                        continue  # a walk through some transaction twice: not one cycle
                    kinds = [RW, *(kd for _v, kd in steps)]
                else:
                    path = g.path(b, a, back, nodes, limit, budget)
                    if budget.reason:
                        return found, False
                    if path is None:
                        continue
                    cyc = [a, *path[:-1]]
                    kinds = [step_kind(k, start | back)]
                    for x, y in zip(path, path[1:], strict=False):
                        kinds.append(step_kind(g.kinds(x, y), back))
                typ = classify(kinds)
                if not covered(typ):
                    found = Cycle(typ, cyc, kinds, comp_size)
        return found, True


def ordered_types(first: set[str]) -> list[str]:
    """Every cycle type, those in ``first`` (the ones the verdict needs) first."""
    return [t for t in CYCLE_TYPES if t in first] + [t for t in CYCLE_TYPES if t not in first]
