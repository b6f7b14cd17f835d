"""The dependency graph between transactions, and the search for its smallest cycles.

Nodes are transaction ids; an edge ``a -> b`` says "a must come before b" and carries a
bit mask of *why* (one pair of transactions can be related for several reasons):

* ``WW`` -- b overwrote (appended after) a version a installed;
* ``WR`` -- b read a version a installed;
* ``RW`` -- a read a version that b's write replaced (an anti-dependency);
* ``PROCESS`` -- the same client ran a, then b;
* ``REALTIME`` -- a completed before b was invoked.

A cycle means no serial order explains what clients saw.  Which edges the cycle needs
says which models it breaks (:mod:`analysis.isolation.lattice`).  The search follows
Elle: strongly connected components first (networkx), since a cycle lies inside one;
then, inside each component, a breadth-first search restricted to the edge kinds of one
anomaly, from every edge that could start it, keeping the shortest cycle.  Breadth-first
search finds the shortest path back, and once a cycle of length L is known the later
searches stop at depth L - 1, so trying many start edges stays cheap.

A :class:`Budget` (deadline and a cap on edges examined) bounds the search; graph
construction is capped by ``max_edges``, so a huge history ends in ``unknown`` with a
reason, not in an out-of-memory.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain

import networkx as nx

WW = 1
WR = 2
RW = 4
PROCESS = 8
REALTIME = 16
DATA = WW | WR | RW
ALL = DATA | PROCESS | REALTIME

KIND_NAMES: dict[int, str] = {WW: "ww", WR: "wr", RW: "rw", PROCESS: "process", REALTIME: "realtime"}
# When an edge holds several kinds, a cycle step is told as the first of these it has:
# a write dependency is a stronger claim than an anti-dependency, and a session order
# more specific than real time.
STEP_PREFERENCE: tuple[int, ...] = (WW, WR, PROCESS, REALTIME, RW)


class BudgetExceeded(Exception):
    """The graph or the search outgrew its budget; ``str()`` says which."""


@dataclass
class Budget:
    """A deadline (monotonic seconds) and a cap on edges examined by cycle searches."""

    deadline: float
    max_steps: int
    steps: int = 0
    reason: str = ""
    _checks: int = field(default=0, repr=False)

    def spend(self, n: int) -> bool:
        """Count ``n`` steps; False (with :attr:`reason` set) once out of budget."""
        self.steps += n
        if self.steps > self.max_steps:
            self.reason = f"the cycle search examined more than {self.max_steps:,} edges"
            return False
        self._checks += 1
        if self._checks & 63 == 0 and time.monotonic() > self.deadline:
            self.reason = "the time limit ran out during the cycle search"
            return False
        return True

    def poll(self) -> None:
        """For linear loops over the history: every 1024 calls, raise
        :class:`BudgetExceeded` if the deadline has passed."""
        self._checks += 1
        if self._checks & 1023 == 0 and time.monotonic() > self.deadline:
            self.reason = "the time limit ran out while inferring dependencies"
            raise BudgetExceeded(self.reason)

    def expired(self) -> bool:
        if self.reason:
            return True
        if time.monotonic() > self.deadline:
            self.reason = "the time limit ran out"
            return True
        return False


class DepGraph:
    """Adjacency: ``out[a][b]`` is the kind mask of the edge ``a -> b``."""

    def __init__(self, n: int, max_edges: int) -> None:
        self.out: list[dict[int, int]] = [{} for _ in range(n)]
        self.edges = 0
        self.max_edges = max_edges

    def add(self, a: int, b: int, kind: int) -> None:
        if a == b:
            return
        d = self.out[a]
        old = d.get(b, 0)
        if not old & kind:
            if not old:
                self.edges += 1
                if self.edges > self.max_edges:
                    raise BudgetExceeded(f"the dependency graph grew past {self.max_edges:,} edges")
            d[b] = old | kind

    def add_into(self, sources: Iterable[int], b: int, kind: int) -> None:
        """``add(a, b, kind)`` for every ``a`` of ``sources`` (none equal to ``b``): the
        real-time edges come in such fans, and this is their hot loop."""
        out = self.out
        new = 0
        for a in sources:
            d = out[a]
            old = d.get(b, 0)
            if not old & kind:
                new += not old
                d[b] = old | kind
        if new:
            self.edges += new
            if self.edges > self.max_edges:
                raise BudgetExceeded(f"the dependency graph grew past {self.max_edges:,} edges")

    def kinds(self, a: int, b: int) -> int:
        return self.out[a].get(b, 0)

    def stats(self) -> dict[str, int]:
        """Edges in all, and how many carry each kind (a pair may carry several)."""
        masks = Counter(chain.from_iterable(d.values() for d in self.out))
        out = {"edges": self.edges}
        for k, name in KIND_NAMES.items():
            out[name] = sum(n for m, n in masks.items() if m & k)
        return out

    # ------------------------------------------------------------------- components
    def cyclic_part(self, mask: int, nodes: Iterable[int] | None = None) -> list[int]:
        """The nodes that may lie on a cycle of ``mask`` edges: what is left after
        repeatedly removing nodes with no incoming, then no outgoing such edges.

        Linear time, and for the usual history (a valid one: acyclic) it leaves nothing,
        so the strongly connected components are then computed on a small remainder."""
        out = self.out
        succ: Sequence[Iterable[int]] | dict[int, list[int]]
        if nodes is None and mask & ALL == ALL:
            succ = out  # every edge counts: iterate the adjacency dicts as they are
            indeg: dict[int, int] = dict.fromkeys(range(len(out)), 0)
            for b, c in Counter(chain.from_iterable(out)).items():
                indeg[b] = c
        else:
            keep = range(len(out)) if nodes is None else sorted(nodes)
            inside = None if nodes is None else set(keep)
            succ = {}
            indeg = dict.fromkeys(keep, 0)
            for a in keep:
                ss = [b for b, k in out[a].items() if k & mask and (inside is None or b in inside)]
                succ[a] = ss
                for b in ss:
                    indeg[b] += 1
        todo = [a for a, d in indeg.items() if d == 0]
        while todo:
            a = todo.pop()
            del indeg[a]
            for b in succ[a]:
                d = indeg.get(b)
                if d is not None:
                    indeg[b] = d - 1
                    if d == 1:
                        todo.append(b)
        if not indeg:
            return []
        left = set(indeg)
        pred: dict[int, list[int]] = {a: [] for a in left}
        outdeg: dict[int, int] = {}
        for a in left:
            n = 0
            for b in succ[a]:
                if b in left:
                    pred[b].append(a)
                    n += 1
            outdeg[a] = n
        todo = [a for a, d in outdeg.items() if d == 0]
        while todo:
            b = todo.pop()
            del outdeg[b]
            for a in pred[b]:
                d = outdeg.get(a)
                if d is not None:
                    outdeg[a] = d - 1
                    if d == 1:
                        todo.append(a)
        return sorted(outdeg)

    def components(self, mask: int, nodes: Iterable[int] | None = None) -> list[list[int]]:
        """Strongly connected components with two or more nodes of the subgraph made of
        edges whose kinds meet ``mask`` (restricted to ``nodes`` when given), each sorted,
        largest first then by smallest id."""
        keep = self.cyclic_part(mask, nodes)
        if not keep:
            return []
        left = set(keep)
        out = self.out
        g = nx.DiGraph()
        g.add_edges_from(
            (a, b) for a in keep for b, k in out[a].items() if k & mask and b in left
        )
        comps = [sorted(c) for c in nx.strongly_connected_components(g) if len(c) > 1]
        comps.sort(key=lambda c: (-len(c), c[0]))
        return comps

    # ------------------------------------------------------------------- search
    def path(
        self, src: int, dst: int, mask: int, nodes: set[int], max_len: int, budget: Budget
    ) -> list[int] | None:
        """The shortest path ``src -> ... -> dst`` of at most ``max_len`` edges, every edge
        of a kind in ``mask`` and every node in ``nodes``; None if there is none (or the
        budget ran out: check ``budget.reason``)."""
        if max_len <= 0:
            return None
        if src == dst:
            return [src]
        out = self.out
        parent: dict[int, int] = {src: src}
        frontier = deque([src])
        depth = 0
        while frontier and depth < max_len:
            depth += 1
            seen_edges = 0
            for _ in range(len(frontier)):
                v = frontier.popleft()
                d = out[v]
                seen_edges += len(d)
                for w, k in d.items():
                    if not k & mask or w in parent or w not in nodes:
                        continue
                    parent[w] = v
                    if w == dst:
                        p = [w]
                        while p[-1] != src:
                            p.append(parent[p[-1]])
                        p.reverse()
                        budget.spend(seen_edges)
                        return p
                    frontier.append(w)
            if not budget.spend(seen_edges):
                return None
        return None


    def path_nonadjacent(
        self, src: int, dst: int, mask: int, nodes: set[int], max_len: int, budget: Budget
    ) -> list[tuple[int, int]] | None:
        """The shortest walk ``src -> ... -> dst`` that follows an anti-dependency into
        ``src`` (so it may not start with one), never takes two anti-dependencies in a
        row, ends on a non-rw edge (it closes a cycle whose first edge is rw) and takes
        at least one rw.  A breadth-first search over (node, last edge was rw, took an
        rw) states; returns the steps as (node reached, kind), or None."""
        if max_len <= 0:
            return None
        out = self.out
        other = mask & ~RW
        start = (src, True, False)
        parent: dict[tuple[int, bool, bool], tuple[tuple[int, bool, bool], int]] = {}
        seen = {start}
        frontier = deque([start])
        depth = 0
        while frontier and depth < max_len:
            depth += 1
            seen_edges = 0
            for _ in range(len(frontier)):
                state = frontier.popleft()
                v, last_rw, took = state
                d = out[v]
                seen_edges += len(d)
                for w, k in d.items():
                    if w not in nodes:
                        continue
                    moves = []
                    if k & other:
                        moves.append(((w, False, took), step_kind(k, other)))
                    if k & RW & mask and not last_rw:
                        moves.append(((w, True, True), RW))
                    for nxt, kind in moves:
                        if nxt in seen:
                            continue
                        seen.add(nxt)
                        parent[nxt] = (state, kind)
                        if nxt == (dst, False, True):
                            steps = []
                            cur = nxt
                            while cur != start:
                                prev, kd = parent[cur]
                                steps.append((cur[0], kd))
                                cur = prev
                            steps.reverse()
                            budget.spend(seen_edges)
                            return steps
                        frontier.append(nxt)
            if not budget.spend(seen_edges):
                return None
        return None


def step_kind(mask: int, allowed: int) -> int:
    """The kind a cycle step is told as: the preferred kind both masks share."""
    both = mask & allowed
    for k in STEP_PREFERENCE:
        if both & k:
            return k
    raise ValueError("edge has none of the allowed kinds")


# --------------------------------------------------------------------------- order edges
def add_process_edges(graph: DepGraph, order: Sequence[tuple[int, int | str | None, str]]) -> None:
    """Session order: each transaction after the last *committed* one of its process.

    ``order`` is (txn id, process, status) in invocation order.  After an ``info`` the
    transaction may still take effect at any later time, so it is never a source of a
    process edge; failed transactions are not in the graph at all."""
    last_ok: dict[int | str, int] = {}
    for tid, proc, status in order:
        if proc is None or status == "fail":
            continue
        prev = last_ok.get(proc)
        if prev is not None:
            graph.add(prev, tid, PROCESS)
        if status == "ok":
            last_ok[proc] = tid


def add_realtime_edges(graph: DepGraph, points: list[tuple[int, int, int]]) -> None:
    """Real-time order, transitively reduced as Elle does.

    ``points`` are (position, 0 for a completion / 1 for an invocation, txn id): every
    committed transaction's completion and every transaction's invocation.  The
    *frontier* holds completed transactions not yet known to precede a later-completed
    one; an invocation links from each of them.  When a transaction completes, the
    frontier members it was linked from are implied through it and leave."""
    points.sort()
    frontier: dict[int, None] = {}
    preds: dict[int, tuple[int, ...]] = {}
    for _pos, is_invoke, tid in points:
        if is_invoke:
            if frontier:
                ps = tuple(frontier)
                preds[tid] = ps
                graph.add_into(ps, tid, REALTIME)
        else:
            for p in preds.pop(tid, ()):
                frontier.pop(p, None)
            frontier[tid] = None
