"""Read-write register inference: what can be known when writes blindly replace values.

A register read returns one value, not a history, so far less can be inferred than from
lists.  What this module infers is sound without assumptions about the database:

* **unique writes**: every value is written at most once per key, so a read names its
  writer: ``wr`` from the writer to the reader.
* **initial state**: ``nil`` precedes every written version, so a transaction that read
  ``nil`` anti-depends (``rw``) on every writer of that key.
* **final writes only**: a transaction's earlier writes of a key are not versions others
  may see; a read of one is an intermediate read (G1b).

Writes-follow-reads (``wfr=True``): if a transaction read ``x = 1`` and then wrote
``x = 2``, version 1 precedes version 2, giving ``ww`` from 1's writer to it and ``rw``
from every other reader of 1.  Elle makes this an opt-in assumption: it holds in
databases whose version order follows commit order, but Adya's model does not promise
it, so it is off by default.  With it, a version order can loop, which is the
*cyclic-versions* anomaly.

Also found without cycles: *internal* (a read disagrees with the transaction's own
earlier read or write), *future read*, *garbage read*, *G1a* (a value written by a failed
transaction) and *G1b*.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import networkx as nx

from analysis.history import HistoryError
from analysis.isolation.graph import RW, WR, WW, Budget, BudgetExceeded, DepGraph
from analysis.isolation.inference import Anomalies, Step, fmt_key, fmt_value, txn_json, who
from analysis.isolation.txn import READ, WRITE, TxnHistory


class _Init:
    """The initial version of every key (read as nil)."""

    def __repr__(self) -> str:
        return "INIT"


INIT: Any = _Init()


class RwRegister:
    """The rw-register data model: owns the writer index and the version graphs."""

    name = "rw-register"

    def __init__(
        self,
        history: TxnHistory,
        graph: DepGraph,
        anomalies: Anomalies,
        budget: Budget,
        *,
        wfr: bool = False,
    ) -> None:
        self.h = history
        self.txns = history.txns
        self.g = graph
        self.an = anomalies
        self.budget = budget
        self.wfr = wfr
        self.status = [t.status for t in history.txns]
        self.writer: dict[tuple[Hashable, Any], int] = {}
        self.final: dict[tuple[int, Hashable], Any] = {}
        self.writes_by_key: dict[Hashable, list[int]] = {}
        self.ext_reads: dict[int, list[tuple[Hashable, Any]]] = {}
        # key -> version -> versions known to follow it
        self.succ: dict[Hashable, dict[Any, set[Any]]] = {}

    def _live(self, w: int | None) -> bool:
        return w is not None and self.status[w] != "fail"

    def infer(self) -> None:
        for phase in (
            self._index_writes,
            self._check_transactions,
            self._check_reads,
            self._version_graphs,
            self._edges,
        ):
            phase()
            if self.budget.expired():
                raise BudgetExceeded("the time limit ran out while inferring dependencies")

    def _index_writes(self) -> None:
        poll = self.budget.poll
        for t in self.txns:
            poll()
            for f, k, v in t.mops:
                if f != WRITE:
                    continue
                other = self.writer.get((k, v))
                if other is not None and other != t.id:
                    o = self.txns[other]
                    at = f", line {o.line}" if o.line is not None else ""
                    raise HistoryError(
                        f"{fmt_key(k)} = {fmt_value(v)} is written more than once (also by "
                        f"op {o.id}{at}); rw-register needs every written value to be unique per key",
                        source=self.h.source,
                        line=t.line,
                    )
                self.writer[(k, v)] = t.id
                if (t.id, k) not in self.final:
                    self.writes_by_key.setdefault(k, []).append(t.id)
                self.final[(t.id, k)] = v

    def _check_transactions(self) -> None:
        poll = self.budget.poll
        an = self.an
        for t in self.txns:
            poll()
            if t.status != "ok":
                continue
            known: dict[Hashable, Any] = {}
            wrote: set[Hashable] = set()
            ext: list[tuple[Hashable, Any]] = []
            for f, k, v in t.mops:
                if f == WRITE:
                    known[k] = v
                    wrote.add(k)
                    continue
                assert f == READ
                if k in known:
                    if v != known[k]:
                        why = "its own write" if k in wrote else "its own earlier read"
                        an.add(
                            "internal",
                            f"{who(t)} read {fmt_key(k)} = {fmt_value(v)}, but "
                            f"{why} says it should be {fmt_value(known[k])}.",
                            op=txn_json(t), key=k, read=v, expected=known[k],
                        )
                else:
                    if v is not None and self.writer.get((k, v)) == t.id:
                        an.add(
                            "future-read",
                            f"{who(t)} read {fmt_key(k)} = {fmt_value(v)} before "
                            "writing that value itself, later in the same transaction.",
                            op=txn_json(t), key=k, read=v,
                        )
                    else:
                        ext.append((k, v))
                known[k] = v
            if ext:
                self.ext_reads[t.id] = ext

    def _check_reads(self) -> None:
        poll = self.budget.poll
        an = self.an
        for tid, reads in self.ext_reads.items():
            poll()
            t = self.txns[tid]
            for k, v in reads:
                if v is None:
                    continue
                w = self.writer.get((k, v))
                if w is None:
                    an.add(
                        "garbage-read",
                        f"{who(t)} read {fmt_key(k)} = {fmt_value(v)}, a value no "
                        "transaction wrote.",
                        op=txn_json(t), key=k, read=v,
                    )
                    continue
                wt = self.txns[w]
                if wt.status == "fail":
                    an.add(
                        "G1a",
                        f"{who(t)} read {fmt_key(k)} = {fmt_value(v)}, written by "
                        f"{who(wt)}, a transaction that failed (aborted).",
                        op=txn_json(t), writer=txn_json(wt), key=k, read=v,
                    )
                elif self.final[(w, k)] != v:
                    an.add(
                        "G1b",
                        f"{who(t)} read {fmt_key(k)} = {fmt_value(v)}, which "
                        f"{who(wt)} wrote and then overwrote with {fmt_value(self.final[(w, k)])} "
                        "in the same transaction: an intermediate state.",
                        op=txn_json(t), writer=txn_json(wt), key=k, read=v,
                    )

    def _version_graphs(self) -> None:
        poll = self.budget.poll
        for k, ws in self.writes_by_key.items():
            self.succ[k] = {INIT: {self.final[(w, k)] for w in ws if self._live(w)}}
        if not self.wfr:
            return
        for tid, reads in self.ext_reads.items():
            poll()
            for k, v in reads:
                mine = self.final.get((tid, k))
                if mine is None:
                    continue
                node = INIT if v is None else v
                if node != mine:
                    self.succ.setdefault(k, {}).setdefault(node, set()).add(mine)
        for k, succ in self.succ.items():
            g = nx.DiGraph((u, v) for u, vs in succ.items() for v in vs)
            try:
                cyc = nx.find_cycle(g)
            except nx.NetworkXNoCycle:
                continue
            vals = [u for u, _ in cyc]
            self.an.add(
                "cyclic-versions",
                f"the versions of {fmt_key(k)} go round in a circle: "
                + " < ".join(fmt_value(None if x is INIT else x) for x in [*vals, vals[0]])
                + " (each transaction read one and wrote the next).",
                key=k, cycle=[None if x is INIT else x for x in vals],
            )

    def _edges(self) -> None:
        poll = self.budget.poll
        g = self.g
        live = self._live
        for k, succ in self.succ.items():
            for u, vs in succ.items():
                if u is INIT:
                    continue
                a = self.writer.get((k, u))
                if not live(a):
                    continue
                for v in vs:
                    b = self.writer.get((k, v))
                    if live(b):
                        g.add(a, b, WW)  # type: ignore[arg-type]
        for tid, reads in self.ext_reads.items():
            poll()
            for k, v in reads:
                if v is not None:
                    w = self.writer.get((k, v))
                    if w != tid and live(w):
                        g.add(w, tid, WR)  # type: ignore[arg-type]
                node = INIT if v is None else v
                for nxt in self.succ.get(k, {}).get(node, ()):
                    b = self.writer.get((k, nxt))
                    if b != tid and live(b):
                        g.add(tid, b, RW)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ explanation
    def explain(self, a: int, b: int, kind: int) -> Step | None:
        if kind == WW:
            for f, k, _v in self.txns[a].mops:
                if f != WRITE:
                    continue
                u, v = self.final.get((a, k)), self.final.get((b, k))
                if v is not None and v in self.succ.get(k, {}).get(u, ()):
                    return Step("ww", a, b, k, u, v, "wfr")
            return None
        if kind == WR:
            for k, v in self.ext_reads.get(b, ()):
                if v is not None and self.writer.get((k, v)) == a:
                    return Step("wr", a, b, k, v, v)
            return None
        if kind == RW:
            for k, u in self.ext_reads.get(a, ()):
                v = self.final.get((b, k))
                node = INIT if u is None else u
                if v is not None and v in self.succ.get(k, {}).get(node, ()):
                    return Step("rw", a, b, k, u, v, "initial" if u is None else "")
            return None
        return None

    def sentence(self, s: Step, a: str, b: str) -> str:
        k = fmt_key(s.key)
        if s.kind == "ww":
            return (
                f"{b} read {k} = {fmt_value(s.value)}, which {a} wrote, and then wrote "
                f"{fmt_value(s.value2)} over it, so {a} < {b} (ww)."
            )
        if s.kind == "wr":
            return f"{b} read {k} = {fmt_value(s.value)}, which {a} wrote, so {a} < {b} (wr)."
        if s.note == "initial":
            return (
                f"{a} read {k} in its initial state (nil), before {b} wrote "
                f"{fmt_value(s.value2)}, so {a} < {b} (rw)."
            )
        return (
            f"{a} read {k} = {fmt_value(s.value)}, a version that {b}'s write of "
            f"{fmt_value(s.value2)} replaced, so {a} < {b} (rw)."
        )
