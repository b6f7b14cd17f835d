"""List-append inference: version orders from reads of lists, and the edges they give.

Every append writes a value unique to its key, and a read returns the whole list.  So a
read of ``x = [1 2 3]`` shows the version order of ``x`` up to 3, and says who wrote
each version.  This is what makes list-append Elle's strongest test:

* **version order** of a key: its longest read.  Every other read must be a prefix of
  it; one that is not is an *incompatible order* (no single history of appends gives
  both).  An append that no read saw comes after everything any read saw.
* **ww**: the writer of each element precedes the writer of the next; the writer of the
  last element seen precedes the writers of unseen appends.
* **wr**: the writer of the last element of a read precedes the reader.
* **rw**: a reader precedes the writer of the element just past what it saw (or, if it
  saw the whole known order, the writers of the unseen appends).
* anomalies needing no cycle: *internal* (a transaction's read disagrees with its own
  earlier reads and appends), *future read* (it sees its own append before making it),
  *duplicate elements*, *garbage reads* (an element nobody appended), *G1a* (an element
  appended by a failed transaction), *G1b* (a read that sees some of one transaction's
  appends to a key but not its last).

Only ``ok`` transactions' reads are used (an ``info`` read's result is unknown); an
``info`` transaction's appends count once some read has seen them.  Failed
transactions are never in the graph.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from analysis.history import HistoryError
from analysis.isolation.graph import RW, WR, WW, Budget, BudgetExceeded, DepGraph
from analysis.isolation.inference import Anomalies, Step, fmt_key, fmt_value, txn_json, who
from analysis.isolation.txn import APPEND, READ, TxnHistory

# (reader id, external part of the read, the whole read)
Read = tuple[int, tuple[Any, ...], tuple[Any, ...]]
MAX_SHOWN = 6


def short(v: tuple[Any, ...]) -> str:
    """A list for a sentence; a long one keeps its last elements: ``[... 7 8 9]``."""
    if len(v) <= MAX_SHOWN:
        return fmt_value(v)
    return "[... " + " ".join(fmt_value(x) for x in v[-MAX_SHOWN:]) + "]"


def _strip_own(full: tuple[Any, ...], own: list[Any]) -> tuple[Any, ...]:
    """The part of a read that other transactions wrote: without the reader's own
    appends at the end (or anywhere, if the read is internally inconsistent)."""
    n = len(own)
    if n and len(full) >= n and list(full[-n:]) == own:
        return full[:-n]
    if n:
        mine = set(own)
        return tuple(e for e in full if e not in mine)
    return full


class ListAppend:
    """The list-append data model: owns the writer index and the version orders."""

    name = "list-append"

    def __init__(self, history: TxnHistory, graph: DepGraph, anomalies: Anomalies, budget: Budget):
        self.h = history
        self.txns = history.txns
        self.g = graph
        self.an = anomalies
        self.budget = budget
        self.status = [t.status for t in history.txns]
        self.writer: dict[tuple[Hashable, Any], int] = {}
        self.appends: dict[tuple[int, Hashable], list[Any]] = {}
        self.appends_by_key: dict[Hashable, list[tuple[Any, int]]] = {}
        self.order: dict[Hashable, tuple[Any, ...]] = {}
        self.pos: dict[Hashable, dict[Any, int]] = {}
        self.unobserved: dict[Hashable, list[tuple[int, Any]]] = {}
        self.reads: dict[Hashable, list[Read]] = {}

    # ------------------------------------------------------------------ inference
    def infer(self) -> None:
        for phase in (
            self._index_appends,
            self._check_transactions,
            self._version_orders,
            self._check_reads,
            self._edges,
        ):
            phase()
            if self.budget.expired():
                raise BudgetExceeded("the time limit ran out while inferring dependencies")

    def _live(self, w: int | None) -> bool:
        return w is not None and self.status[w] != "fail"

    def _index_appends(self) -> None:
        poll = self.budget.poll
        writer = self.writer
        for t in self.txns:
            poll()
            for f, k, v in t.mops:
                if f != APPEND:
                    continue
                other = writer.get((k, v))
                if other is not None:
                    o = self.txns[other]
                    same = " (twice in the same transaction)" if other == t.id else (
                        f" (also by op {o.id}" + (f", line {o.line})" if o.line is not None else ")")
                    )
                    raise HistoryError(
                        f"{fmt_value(v)} is appended to {fmt_key(k)} more than once{same}; "
                        "list-append needs every appended value to be unique per key",
                        source=self.h.source,
                        line=t.line,
                    )
                writer[(k, v)] = t.id
                self.appends.setdefault((t.id, k), []).append(v)
                self.appends_by_key.setdefault(k, []).append((v, t.id))

    def _check_transactions(self) -> None:
        poll = self.budget.poll
        an = self.an
        reads = self.reads
        for t in self.txns:
            poll()
            if t.status != "ok":
                continue
            known: dict[Hashable, tuple[Any, ...]] = {}
            own: dict[Hashable, list[Any]] = {}
            last_ext: dict[Hashable, tuple[Any, ...]] = {}
            for f, k, v in t.mops:
                if f == APPEND:
                    own.setdefault(k, []).append(v)
                    if k in known:
                        known[k] = known[k] + (v,)
                    continue
                assert f == READ
                if len(set(v)) != len(v):
                    counted: dict[Any, int] = {}
                    for e in v:
                        counted[e] = counted.get(e, 0) + 1
                    dups = sorted((e for e, c in counted.items() if c > 1), key=repr)
                    an.add(
                        "duplicate-elements",
                        f"{who(t)} read {fmt_key(k)} = {short(v)}, in which "
                        f"{', '.join(map(fmt_value, dups))} appear more than once.",
                        op=txn_json(t), key=k, read=list(v), duplicates=dups,
                    )
                mine = own.get(k, [])
                later = self.appends.get((t.id, k), [])[len(mine):]
                future = [e for e in later if e in v]
                if future:
                    an.add(
                        "future-read",
                        f"{who(t)} read {fmt_key(k)} = {short(v)}, which holds "
                        f"{', '.join(map(fmt_value, future))}: its own append, made later in "
                        "the same transaction.",
                        op=txn_json(t), key=k, read=list(v), elements=future,
                    )
                if k in known:
                    if v != known[k]:
                        an.add(
                            "internal",
                            f"{who(t)} read {fmt_key(k)} = {short(v)}, but its own "
                            f"earlier reads and appends say it should be {short(known[k])}.",
                            op=txn_json(t), key=k, read=list(v), expected=list(known[k]),
                        )
                elif mine and list(v[-len(mine):]) != mine:
                    an.add(
                        "internal",
                        f"{who(t)} read {fmt_key(k)} = {short(v)} after appending "
                        f"{', '.join(map(fmt_value, mine))}, so the read should end with "
                        f"{fmt_value(tuple(mine))}.",
                        op=txn_json(t), key=k, read=list(v), expected=["...", *mine],
                    )
                known[k] = v
                ext = _strip_own(v, mine)
                if last_ext.get(k) != ext:
                    last_ext[k] = ext
                    reads.setdefault(k, []).append((t.id, ext, v))

    def _version_orders(self) -> None:
        poll = self.budget.poll
        for k, rs in self.reads.items():
            longest = max((r[2] for r in rs), key=len)
            self.order[k] = longest
            pos: dict[Any, int] = {}
            for i, e in enumerate(longest):
                pos.setdefault(e, i)
            self.pos[k] = pos
            bad: dict[tuple[Any, ...], int] = {}
            for tid, _ext, full in rs:
                poll()
                if full[: len(longest)] != longest[: len(full)] and full not in bad:
                    bad[full] = tid
            for full, tid in list(bad.items())[:3]:
                t = self.txns[tid]
                self.an.add(
                    "incompatible-order",
                    f"{fmt_key(k)} was read as {short(full)} by {who(t)} and as "
                    f"{short(longest)} elsewhere: no single order of appends gives both.",
                    key=k, values=[list(full), list(longest)], op=txn_json(t),
                )
            if len(bad) > 3:
                self.an.totals["incompatible-order"] += len(bad) - 3
        for k, apps in self.appends_by_key.items():
            pos = self.pos.get(k, {})
            un = [(w, v) for v, w in apps if v not in pos and self.status[w] == "ok"]
            if un:
                self.unobserved[k] = un

    def _check_reads(self) -> None:
        poll = self.budget.poll
        an = self.an
        txns = self.txns
        for k, rs in self.reads.items():
            for tid, ext, full in rs:
                poll()
                if not ext:
                    continue
                t = txns[tid]
                members = set(full)
                garbage = []
                for e in ext:
                    w = self.writer.get((k, e))
                    if w is None:
                        garbage.append(e)
                        continue
                    if w == tid:
                        continue
                    wt = txns[w]
                    if wt.status == "fail":
                        an.add(
                            "G1a",
                            f"{who(t)} read {fmt_key(k)} = {short(full)}, which holds "
                            f"{fmt_value(e)}, appended by {who(wt)}, a transaction that "
                            "failed (aborted).",
                            op=txn_json(t), writer=txn_json(wt), key=k, element=e,
                        )
                        continue
                    last = self.appends[(w, k)][-1]
                    if last != e and last not in members:
                        an.add(
                            "G1b",
                            f"{who(t)} read {fmt_key(k)} = {short(full)}: it saw "
                            f"{who(wt)}'s append of {fmt_value(e)} but not its later append of "
                            f"{fmt_value(last)} to the same key, an intermediate state.",
                            op=txn_json(t), writer=txn_json(wt), key=k, element=e,
                        )
                if garbage:
                    an.add(
                        "garbage-read",
                        f"{who(t)} read {fmt_key(k)} = {short(full)}, but no "
                        f"transaction appended {', '.join(map(fmt_value, garbage))}.",
                        op=txn_json(t), key=k, elements=garbage,
                    )

    def _edges(self) -> None:
        poll = self.budget.poll
        g = self.g
        live = self._live
        for k, order in self.order.items():
            ws = [self.writer.get((k, e)) for e in order]
            for a, b in zip(ws, ws[1:], strict=False):
                if a != b and live(a) and live(b):
                    g.add(a, b, WW)  # type: ignore[arg-type]
            last = ws[-1] if ws else None
            if live(last):
                for u, _v in self.unobserved.get(k, ()):
                    g.add(last, u, WW)  # type: ignore[arg-type]
        for k, rs in self.reads.items():
            order = self.order[k]
            pos = self.pos[k]
            unobserved = self.unobserved.get(k, ())
            for tid, ext, _full in rs:
                poll()
                if ext:
                    w = self.writer.get((k, ext[-1]))
                    if w != tid and live(w):
                        g.add(w, tid, WR)  # type: ignore[arg-type]
                    p = pos.get(ext[-1])
                    if p is None:
                        continue
                    nxt = p + 1
                else:
                    nxt = 0
                if nxt < len(order):
                    w = self.writer.get((k, order[nxt]))
                    if w != tid and live(w):
                        g.add(tid, w, RW)  # type: ignore[arg-type]
                else:
                    for u, _v in unobserved:
                        if u != tid:
                            g.add(tid, u, RW)

    # ------------------------------------------------------------------ explanation
    def _ext_reads(self, tid: int) -> list[tuple[Hashable, tuple[Any, ...], tuple[Any, ...]]]:
        t = self.txns[tid]
        if t.status != "ok":
            return []
        own: dict[Hashable, list[Any]] = {}
        out = []
        for f, k, v in t.mops:
            if f == APPEND:
                own.setdefault(k, []).append(v)
            else:
                out.append((k, _strip_own(v, own.get(k, [])), v))
        return out

    def explain(self, a: int, b: int, kind: int) -> Step | None:
        if kind == WW:
            for f, k, v in self.txns[b].mops:
                if f != APPEND or k not in self.order and k not in self.unobserved:
                    continue
                order = self.order.get(k, ())
                p = self.pos.get(k, {}).get(v)
                if p is None:
                    if order and self.writer.get((k, order[-1])) == a:
                        return Step("ww", a, b, k, order[-1], v, "unobserved")
                elif p > 0 and self.writer.get((k, order[p - 1])) == a:
                    return Step("ww", a, b, k, order[p - 1], v)
            return None
        if kind == WR:
            for k, ext, full in self._ext_reads(b):
                if ext and self.writer.get((k, ext[-1])) == a:
                    return Step("wr", a, b, k, ext[-1], full)
            return None
        if kind == RW:
            for k, ext, _full in self._ext_reads(a):
                order = self.order.get(k, ())
                if ext:
                    p = self.pos.get(k, {}).get(ext[-1])
                    if p is None:
                        continue
                    nxt = p + 1
                else:
                    nxt = 0
                if nxt < len(order):
                    if self.writer.get((k, order[nxt])) == b:
                        return Step("rw", a, b, k, ext, order[nxt], "" if ext else "initial")
                else:
                    for u, v in self.unobserved.get(k, ()):
                        if u == b:
                            return Step("rw", a, b, k, ext, v, "unobserved")
            return None
        return None

    def sentence(self, s: Step, a: str, b: str) -> str:
        k = fmt_key(s.key)
        if s.kind == "ww":
            if s.note == "unobserved":
                return (
                    f"{b} appended {fmt_value(s.value2)} to {k}, which no read ever saw, so it "
                    f"came after {a}'s append of {fmt_value(s.value)} (the last one any read "
                    f"saw): {a} < {b} (ww)."
                )
            return (
                f"{a} appended {fmt_value(s.value)} to {k} and {b} appended "
                f"{fmt_value(s.value2)} right after it, so {a} < {b} (ww)."
            )
        if s.kind == "wr":
            return (
                f"{b} read {k} = {short(s.value2)} and saw {a}'s append of "
                f"{fmt_value(s.value)}, so {a} < {b} (wr)."
            )
        unseen = " and no read ever saw" if s.note == "unobserved" else ""
        if not s.value:
            return (
                f"{a} read {k} in its initial, empty state, without {fmt_value(s.value2)}, "
                f"which {b} appended{unseen}, so {a} < {b} (rw)."
            )
        if unseen:
            return (
                f"{a} read {k} = {short(s.value)} without {fmt_value(s.value2)}, which {b} "
                f"appended{unseen}, so {a} < {b} (rw)."
            )
        return (
            f"{a} read {k} = {short(s.value)} without {fmt_value(s.value2)}, which {b} "
            f"appended next, so {a} < {b} (rw)."
        )
