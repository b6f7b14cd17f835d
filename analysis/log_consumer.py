"""The consumer-side log checker (``kafka``, alias ``log-consumer``).

It judges a history of ``send`` and ``poll`` operations *as clients saw them* (decoded by
:mod:`analysis.log_history`), with the semantics of Jepsen's kafka workload
(``jepsen.tests.kafka``): a partition is an append-only log in which each offset holds one
message, producers are told the offset their message landed at, and a consumer reads a
partition in offset order from where it (or its group) left off.

First it rebuilds each partition's *version order*: which values clients saw at which
offsets (from every poll, whatever its outcome, and from every send known to have
happened: ``ok``, or ``info`` with one of its values polled).  Offsets may have gaps
(transaction markers take offsets), so "the next record" means the next *known* offset.
Then it reports, with Jepsen's names:

* ``inconsistent-offsets`` -- one (key, offset) seen with two different values;
* ``duplicate`` -- one value stored at two offsets of a key (the log holds it twice);
* ``lost-write`` -- an acknowledged send that no consumer ever polled although some
  consumer polled a later offset of that key.  With named consumer groups (native format),
  also per group: the group read past it but none of its members polled it;
* ``unseen`` -- acknowledged, never polled, and nobody read past it.  Not an error by
  itself (consumers may not have caught up when the run ended), reported apart;
* ``poll-skip`` / ``nonmonotonic-poll`` -- one consumer's successive polls of a key jump
  over known offsets it never saw, or go back, with no assign, subscribe, crash or
  rebalance of that key in between (``int-`` variants: inside one operation);
* ``nonmonotonic-send`` (and ``int-``) -- one producer's successive sends to a key land at
  earlier offsets than its previous ones;
* ``double-consume`` -- a consumer group polled a record again after the group had
  committed an offset past it (splitbrain's name; Jepsen only counts consumes);
* ``G1a`` -- a poll returned a value whose send definitely failed (an aborted read).

A committed offset is Kafka's: the next offset to read.  In subscribe mode an ``ok`` poll
commits what it read (Jepsen calls ``commitSync`` before completing), unless the
subscription says ``auto_commit: false`` or the poll completed with an ``error`` (Jepsen
records a failed commit that way); a ``commit`` operation commits explicitly.

Like Jepsen, when a subscribed consumer's rebalances are not recorded (Jepsen's
non-transactional histories), its cross-operation skips and backward polls are reported but
allowed: an unrecorded rebalance explains them.  Evidence for every finding names the
consumer, the operations (with lines), the offsets and values, and what was going on:
crashes and rebalances from the history, nemesis events, and, given a trace, its fault
windows, broker rebalances and node crashes.

Not covered: Elle's cycle analysis of transactions (G0, G1c ...), realtime lag, and
precommitted reads.
"""

from __future__ import annotations

import bisect
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from analysis.history import History
from analysis.log_context import LogContext
from analysis.log_history import (
    LogHistory,
    LogOp,
    Record,
    decode,
    gc_paused,
    plain,
    read_log_history,
    show,
)

NAMES = ("kafka", "log-consumer")
MAX_CASES = 20
MAX_EXPLAINED = 6

#: Every anomaly type, most severe first (the order of the explanation).
TYPES = (
    "lost-write",
    "inconsistent-offsets",
    "duplicate",
    "double-consume",
    "G1a",
    "poll-skip",
    "nonmonotonic-poll",
    "nonmonotonic-send",
    "int-poll-skip",
    "int-nonmonotonic-poll",
    "int-nonmonotonic-send",
)
WHAT = {
    "lost-write": "lost write",
    "inconsistent-offsets": "inconsistent offset",
    "duplicate": "duplicate in the log",
    "double-consume": "double consume past a commit",
    "G1a": "aborted read (G1a)",
    "poll-skip": "poll skip",
    "nonmonotonic-poll": "non-monotonic poll",
    "nonmonotonic-send": "non-monotonic send",
    "int-poll-skip": "poll skip inside one operation",
    "int-nonmonotonic-poll": "non-monotonic poll inside one operation",
    "int-nonmonotonic-send": "non-monotonic send inside one operation",
}

TAG = {
    "lost-write": "lost-write",
    "inconsistent-offsets": "divergent-replicas",
    "duplicate": "duplicate-effect",
    "double-consume": "duplicate-effect",
    "G1a": "aborted-read",
    "poll-skip": "skipped-message",
    "nonmonotonic-poll": "out-of-order",
    "nonmonotonic-send": "out-of-order",
    "int-poll-skip": "skipped-message",
    "int-nonmonotonic-poll": "out-of-order",
    "int-nonmonotonic-send": "out-of-order",
}
"""Each anomaly type's word in the learner's vocabulary (:mod:`analysis.anomalies`)."""


def check(
    history: History | LogHistory,
    trace: Iterable[dict[str, Any]] | None = None,
    *,
    rebalances_recorded: bool | None = None,
    strict_unseen: bool = False,
    max_cases: int = MAX_CASES,
) -> dict[str, Any]:
    """Check a log history; returns the checker result dict (``checker``, ``verdict``,
    ``explanation``, ``anomalies``, ``violations``, ``unseen``, ``stats``).

    ``rebalances_recorded`` overrides what the source promises (see
    :class:`~analysis.log_history.LogHistory`).  ``strict_unseen`` makes unseen writes
    invalidate the run, for histories that end with final polls that must catch up (as
    Jepsen's do).  The work is linear in the number of records, so there is no budget.
    """
    with gc_paused():
        if isinstance(history, LogHistory):
            lh = history
            if rebalances_recorded is not None:
                lh = replace(lh, rebalances_recorded=rebalances_recorded)
        else:
            lh = decode(history, rebalances_recorded=rebalances_recorded)
        return _Checker(lh, list(trace or []), strict_unseen, max_cases).run()


def check_file(
    path: str | Path,
    format: str = "auto",
    trace: Iterable[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Read a log history file (``jsonl`` or Jepsen ``edn``) and check it."""
    with gc_paused():
        lh = read_log_history(path, format)
        result = check(lh, trace)
    result["file"] = str(path)
    return result


# --------------------------------------------------------------------------- version order
class _VersionOrder:
    """Per key: the values clients saw at each offset, and the dense order of known offsets."""

    def __init__(self) -> None:
        self.at: dict[str, dict[int, dict[Hashable, LogOp]]] = {}
        self.offsets: dict[str, list[int]] = {}
        self.index_of: dict[str, dict[int, int]] = {}
        self.value_offsets: dict[str, dict[Hashable, list[int]]] = {}

    def add(self, r: Record, op: LogOp) -> None:
        if r.offset is None:
            return
        slot = self.at.setdefault(r.key, {}).setdefault(r.offset, {})
        if r.value not in slot:
            slot[r.value] = op

    def finish(self) -> None:
        for k, by_off in self.at.items():
            offs = sorted(by_off)
            self.offsets[k] = offs
            self.index_of[k] = {o: i for i, o in enumerate(offs)}
            vo: dict[Hashable, list[int]] = {}
            for o in offs:
                for v in by_off[o]:
                    vo.setdefault(v, []).append(o)
            self.value_offsets[k] = vo

    def offset_of(self, r: Record) -> int | None:
        """The record's own offset, or (unknown) the first offset its value was seen at."""
        if r.offset is not None:
            return r.offset
        offs = self.value_offsets.get(r.key, {}).get(r.value)
        return offs[0] if offs else None

    def index(self, r: Record) -> int | None:
        o = self.offset_of(r)
        return None if o is None else self.index_of.get(r.key, {}).get(o)

    def first_value(self, k: str, o: int) -> Hashable:
        return next(iter(self.at[k][o]))

    def between(self, k: str, i: int, j: int) -> list[tuple[int, Hashable]]:
        """Known (offset, value) strictly between dense indices ``i`` and ``j``."""
        offs = self.offsets[k]
        return [(o, self.first_value(k, o)) for o in offs[i + 1 : j]]


# --------------------------------------------------------------------------- findings
def _op_ref(op: LogOp) -> dict[str, Any]:
    return {"id": op.id, "process": op.process, "f": op.f, "status": op.status,
            "line": op.line, "ret_line": op.ret_line, "time": op.time_ns, "ret_time": op.ret_time_ns}


def _end(op: LogOp) -> int:
    return op.complete_pos if op.complete_pos is not None else op.invoke_pos


def _t(op: LogOp) -> int | None:
    return op.ret_time_ns if op.ret_time_ns is not None else op.time_ns


def _sent_at(op: LogOp, k: str, o: int, v: Hashable) -> bool:
    return any(r.key == k and r.offset == o and r.value == v for r in op.sends)


def _pairs(recs: Iterable[tuple[int | None, Hashable]]) -> str:
    return ", ".join(_at(o, v) for o, v in recs)


def _at(o: int | None, v: Hashable) -> str:
    return f"offset {o} (value {show(v)})"


def _plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


class _Findings:
    def __init__(self, ctx: LogContext, max_cases: int) -> None:
        self.ctx = ctx
        self.max_cases = max_cases
        self.cases: dict[str, list[dict[str, Any]]] = {}
        self.counts: dict[str, int] = {}
        self.allowed_counts: dict[str, int] = {}
        self.allowed_why: dict[str, str] = {}

    def add(
        self,
        kind: str,
        text: str,
        *,
        key: str,
        ops: list[LogOp],
        decisive: LogOp,
        span: tuple[LogOp, LogOp],
        allowed: str | None = None,
        **evidence: Any,
    ) -> None:
        if allowed is not None:
            self.allowed_counts[kind] = self.allowed_counts.get(kind, 0) + 1
            self.allowed_why.setdefault(kind, allowed)
            return
        n = self.counts.get(kind, 0) + 1
        self.counts[kind] = n
        cases = self.cases.setdefault(kind, [])
        if len(cases) >= self.max_cases:
            return
        first, last = span
        lo = min(first.invoke_pos, last.invoke_pos)
        hi = max(_end(first), _end(last))
        t_lo = first.time_ns if first.time_ns is not None else _t(first)
        context = self.ctx.describe(lo, hi, t_lo, _t(last), {o.process for o in ops})
        t = _t(decisive)
        case: dict[str, Any] = {
            "type": kind,
            "invariant": kind,
            "key": key,
            "t": None if t is None else t // 1_000_000,
            "text": text,
            "context": context,
            "faults_active": self.ctx.active(_end(decisive), t),
            "ops": [_op_ref(o) for o in ops],
        }
        case.update(evidence)
        cases.append(case)


def _sentence(case: dict[str, Any]) -> str:
    when = f"At {case['t']} ms: " if case.get("t") is not None else ""
    ctx = case["context"]
    tail = (" Meanwhile: " + "; ".join(ctx) + ".") if ctx else (
        " No client crash, rebalance or fault was recorded between these operations."
    )
    return f"{when}{WHAT[case['type']]}: {case['text']}{tail}"


# --------------------------------------------------------------------------- sessions
@dataclass
class _Session:
    """One consumer/producer client: what it is assigned and where it last read and sent."""

    subscribed: bool = False
    group: str | None = None
    auto_commit: bool = True
    last_read: dict[str, tuple[Record, LogOp]] = field(default_factory=dict)
    last_send: dict[str, tuple[Record, LogOp]] = field(default_factory=dict)


@dataclass
class _GroupReads:
    """What one named consumer group read of one key."""

    values: set[Hashable] = field(default_factory=set)
    bound: int = -1
    bound_op: LogOp | None = None
    bound_value: Hashable = None
    low: int | None = None


def _group_name(g: str | None) -> str:
    return "the consumer group" if g is None else f"consumer group {g!r}"


# --------------------------------------------------------------------------- the checker
class _Checker:
    def __init__(self, lh: LogHistory, trace: list[dict[str, Any]], strict_unseen: bool, max_cases: int) -> None:
        self.lh = lh
        self.ops = lh.ops
        self.strict_unseen = strict_unseen
        self.f = _Findings(LogContext(lh, trace), max_cases)
        self.vo = _VersionOrder()
        self.ok_read: dict[str, set[Hashable]] = {}
        self.ok_bound: dict[str, tuple[int, LogOp, Hashable]] = {}
        self.writer: dict[tuple[str, Hashable], LogOp] = {}
        self.failed: dict[tuple[str, Hashable], LogOp] = {}
        self.lost: set[tuple[str, Hashable]] = set()

    # ------------------------------------------------------------------ indexes
    def _index(self) -> None:
        rank = {"ok": 0, "info": 1, "fail": 2}
        for op in self.ops:
            for r in op.sends:
                kv = (r.key, r.value)
                if op.status == "fail":
                    self.failed.setdefault(kv, op)
                w = self.writer.get(kv)
                if w is None or rank[op.status] < rank[w.status]:
                    self.writer[kv] = op
            if op.status != "ok":
                continue
            for k, recs in op.reads:
                vals = self.ok_read.setdefault(k, set())
                for r in recs:
                    vals.add(r.value)
        for op in self.ops:
            if op.sends and self._happened(op):
                for r in op.sends:
                    self.vo.add(r, op)
            for _, recs in op.reads:
                for r in recs:
                    self.vo.add(r, op)
        self.vo.finish()
        for op in self.ops:
            if op.status != "ok":
                continue
            for k, recs in op.reads:
                for r in recs:
                    o = self.vo.offset_of(r)
                    if o is not None and o > self.ok_bound.get(k, (-1, op, None))[0]:
                        self.ok_bound[k] = (o, op, r.value)

    def _happened(self, op: LogOp) -> bool:
        """Jepsen's must-have-committed: ok, or info with one of its sends polled."""
        if op.status == "ok":
            return True
        if op.status != "info":
            return False
        return any(r.value in self.ok_read.get(r.key, ()) for r in op.sends)

    # ------------------------------------------------------------------ the log itself
    def _log_shape(self) -> None:
        vo = self.vo
        for k in sorted(vo.at):
            for o in vo.offsets[k]:
                seen = vo.at[k][o]
                if len(seen) < 2:
                    continue
                who = [f"{show(v)} ({'sent' if _sent_at(op, k, o, v) else 'polled'} by {op.label()})"
                       for v, op in seen.items()]
                ops = list(seen.values())
                self.f.add(
                    "inconsistent-offsets",
                    f"offset {o} of key {k} holds different values for different clients: "
                    + " and ".join(who)
                    + ". One offset of a log must hold one message for everybody; two answers mean "
                    "the log diverged (two leaders appended there, or a truncated log was rewritten).",
                    key=k, ops=ops, decisive=max(ops, key=_end), span=(min(ops, key=lambda x: x.invoke_pos), max(ops, key=_end)),
                    offset=o, values=[plain(v) for v in seen],
                )
            for v, offs in vo.value_offsets[k].items():
                if len(offs) < 2:
                    continue
                ops = [vo.at[k][o][v] for o in offs]
                w = self.writer.get((k, v))
                sender = f" It was sent by {w.label()}." if w is not None else ""
                self.f.add(
                    "duplicate",
                    f"value {show(v)} is stored at {len(offs)} offsets of key {k}: "
                    + ", ".join(str(o) for o in offs)
                    + f".{sender} The log holds the message twice, so every consumer processes it twice "
                    "(typically a producer retried a send whose acknowledgement was lost, without "
                    "idempotence).",
                    key=k, ops=ops, decisive=max(ops, key=_end), span=(min(ops, key=lambda x: x.invoke_pos), max(ops, key=_end)),
                    value=plain(v), offsets=offs, count=len(offs),
                )

    # ------------------------------------------------------------------ lost writes
    def _must_read(self, k: str, low: int, bound: int) -> list[tuple[int, Hashable]]:
        """Values at known offsets in ``[low, bound]`` that appear nowhere after ``bound``:
        a reader who reached ``bound`` must have read them."""
        vo = self.vo
        offs = vo.offsets.get(k, [])
        out = []
        for o in offs[bisect.bisect_left(offs, low) : bisect.bisect_right(offs, bound)]:
            for v in vo.at[k][o]:
                if vo.value_offsets[k][v][-1] <= bound and vo.value_offsets[k][v][0] == o:
                    out.append((o, v))
        return out

    def _lost_writes(self) -> None:
        for k in sorted(self.ok_bound):
            bound, reader, bv = self.ok_bound[k]
            read = self.ok_read[k]
            for o, v in self._must_read(k, 0, bound):
                if v in read:
                    continue
                w = self.writer.get((k, v))
                if w is None or not self._happened(w):
                    continue
                self.lost.add((k, v))
                how = ("acknowledged at offset" if w.status == "ok" else
                       "written (its outcome was unknown, but another value it sent was polled) at offset")
                self.f.add(
                    "lost-write",
                    f"{w.label()} sent value {show(v)} to key {k} and it was {how} {o}, but no consumer ever "
                    f"polled it, although {reader.label()} polled {_at(bound, bv)} of the same "
                    f"key. Whoever reads offset {bound} has passed offset {o}: the acknowledged message "
                    "vanished from the log.",
                    key=k, ops=[w, reader], decisive=reader, span=(w, reader),
                    value=plain(v), offset=o, max_read_offset=bound, group=None,
                )

    def _group_lost_writes(self, groups: dict[tuple[str, str], _GroupReads], earliest: set[str]) -> None:
        for (g, k) in sorted(groups):
            gr = groups[(g, k)]
            if gr.bound_op is None:
                continue
            low = 0 if g in earliest else (gr.low if gr.low is not None else 0)
            for o, v in self._must_read(k, low, gr.bound):
                if v in gr.values or (k, v) in self.lost:
                    continue
                w = self.writer.get((k, v))
                if w is None or w.status != "ok":
                    continue
                reader = gr.bound_op
                others = "" if v not in self.ok_read.get(k, ()) else " (a consumer outside the group did poll it)"
                self.f.add(
                    "lost-write",
                    f"{w.label()} sent value {show(v)} to key {k} and it was acknowledged at offset {o}, but "
                    f"{_group_name(g)} never polled it{others}, although its member {reader.label()} "
                    f"polled {_at(gr.bound, gr.bound_value)}. The group's position moved past "
                    "a message none of its members processed: at-most-once delivery (for instance, an "
                    "offset committed before the message was processed, then a crash).",
                    key=k, ops=[w, reader], decisive=reader, span=(w, reader),
                    value=plain(v), offset=o, max_read_offset=gr.bound, group=g,
                )

    # ------------------------------------------------------------------ sessions
    def _sessions(self) -> dict[str, Any]:
        sessions: dict[int | str, _Session] = {}
        commits: dict[tuple[str | None, str], list[tuple[int, int, LogOp]]] = {}
        group_polls: list[tuple[str | None, LogOp]] = []
        groups: dict[tuple[str, str], _GroupReads] = {}
        earliest: set[str] = set()
        named: set[str] = set()
        for op in self.ops:
            s = sessions.get(op.process)
            if s is None:
                s = sessions[op.process] = _Session()
            if op.f == "crash":
                sessions[op.process] = _Session()
                continue
            if op.f in ("assign", "subscribe"):
                if op.status == "fail":
                    continue
                keep = set(op.keys)
                reset_reads = op.f == "assign" and op.seek_to_beginning
                s.last_read = {k: x for k, x in s.last_read.items() if k in keep and not reset_reads}
                s.last_send = {k: x for k, x in s.last_send.items() if k in keep}
                s.subscribed = op.f == "subscribe"
                s.group = op.group
                s.auto_commit = op.auto_commit
                if op.f == "subscribe" and op.group is not None:
                    named.add(op.group)
                    if op.offset_reset == "earliest":
                        earliest.add(op.group)
                continue
            if op.f == "commit":
                if op.status == "ok":
                    for k, c in op.commits:
                        commits.setdefault((s.group, k), []).append((_end(op), c, op))
                continue
            if op.f not in ("send", "poll", "txn"):
                continue
            rebalanced = op.rebalanced_keys()
            for k in rebalanced:
                s.last_read.pop(k, None)
            self._polls(op, s, rebalanced)
            if op.status in ("ok", "info"):
                self._sends(op, s)
            if s.subscribed and op.status == "ok" and op.reads:
                group_polls.append((s.group, op))
                if s.group is not None:
                    for k, recs in op.reads:
                        gr = groups.setdefault((s.group, k), _GroupReads())
                        for r in recs:
                            gr.values.add(r.value)
                            o = self.vo.offset_of(r)
                            if o is None:
                                continue
                            if o > gr.bound:
                                gr.bound, gr.bound_op, gr.bound_value = o, op, r.value
                            if gr.low is None or o < gr.low:
                                gr.low = o
                if s.auto_commit and op.error is None:
                    for k, recs in op.reads:
                        top = max((o for o in (r.offset for r in recs) if o is not None), default=None)
                        if top is not None:
                            commits.setdefault((s.group, k), []).append((_end(op), top + 1, op))
        redelivered = self._double_consume(commits, group_polls)
        self._group_lost_writes(groups, earliest)
        return {"processes": len(sessions), "groups": len(named), "redelivered": redelivered,
                "commits": sum(len(c) for c in commits.values())}

    def _polls(self, op: LogOp, s: _Session, rebalanced: frozenset[str]) -> None:
        vo = self.vo
        for k, recs in op.reads:
            if not recs:
                continue
            if k not in rebalanced:
                for a, b in zip(recs, recs[1:], strict=False):
                    ia, ib = vo.index(a), vo.index(b)
                    if ia is None or ib is None or ib - ia == 1:
                        continue
                    if ib - ia > 1:
                        skipped = vo.between(k, ia, ib)
                        self.f.add(
                            "int-poll-skip",
                            f"within {op.label()}, process {op.process} polled "
                            f"{_at(vo.offset_of(a), a.value)} of key {k} and then {_at(vo.offset_of(b), b.value)}, "
                            f"skipping {_pairs(skipped)}, which other clients saw there.",
                            key=k, ops=[op], decisive=op, span=(op, op),
                            values=[plain(a.value), plain(b.value)], delta=ib - ia,
                            skipped=[[o, plain(v)] for o, v in skipped],
                        )
                    else:
                        self.f.add(
                            "int-nonmonotonic-poll",
                            f"within {op.label()}, process {op.process} polled "
                            f"{_at(vo.offset_of(a), a.value)} of key {k} and then {_at(vo.offset_of(b), b.value)}, "
                            "which is not after it: one poll must return a partition's records in log order, once.",
                            key=k, ops=[op], decisive=op, span=(op, op),
                            values=[plain(a.value), plain(b.value)], delta=ib - ia,
                        )
            prev = s.last_read.get(k)
            if prev is not None:
                self._cross_poll(k, prev, recs[0], op, s)
            if op.status == "ok":
                s.last_read[k] = (recs[-1], op)

    def _cross_poll(self, k: str, prev: tuple[Record, LogOp], first: Record, op: LogOp, s: _Session) -> None:
        vo = self.vo
        last, last_op = prev
        i, j = vo.index(last), vo.index(first)
        if i is None or j is None or j - i == 1:
            return
        allowed = None
        if s.subscribed and not self.lh.rebalances_recorded:
            allowed = ("polls by subscribed consumers whose rebalances the history does not record "
                       "(a rebalance may explain them, as Jepsen allows)")
        o1, o2 = vo.offset_of(last), vo.offset_of(first)
        if j - i > 1:
            skipped = vo.between(k, i, j)
            self.f.add(
                "poll-skip",
                f"process {op.process} polled key {k} up to {_at(o1, last.value)} in "
                f"{last_op.label()}, then resumed at {_at(o2, first.value)} in {op.label()}, "
                f"skipping {_pairs(skipped)}, which it never saw, with no assign, subscribe, crash or "
                "rebalance of that key in between. A consumer reads a partition in order; the skipped "
                "messages were never delivered to it.",
                key=k, ops=[last_op, op], decisive=op, span=(last_op, op), allowed=allowed,
                values=[plain(last.value), plain(first.value)], delta=j - i,
                skipped=[[o, plain(v)] for o, v in skipped],
            )
        else:
            self.f.add(
                "nonmonotonic-poll",
                f"process {op.process} polled key {k} up to {_at(o1, last.value)} in "
                f"{last_op.label()}, then went back to {_at(o2, first.value)} in {op.label()}, "
                "with no assign, subscribe, crash or rebalance of that key in between. A consumer's "
                "position only moves forward; going back delivers messages twice.",
                key=k, ops=[last_op, op], decisive=op, span=(last_op, op), allowed=allowed,
                values=[plain(last.value), plain(first.value)], delta=j - i,
            )

    def _sends(self, op: LogOp, s: _Session) -> None:
        vo = self.vo
        by_key: dict[str, list[Record]] = {}
        for r in op.sends:
            by_key.setdefault(r.key, []).append(r)
        for k, recs in by_key.items():
            for a, b in zip(recs, recs[1:], strict=False):
                ia, ib = vo.index(a), vo.index(b)
                if ia is not None and ib is not None and ib <= ia:
                    self.f.add(
                        "int-nonmonotonic-send",
                        f"within {op.label()}, process {op.process} sent {show(a.value)} and then "
                        f"{show(b.value)} to key {k}, but they landed at offsets {vo.offset_of(a)} and "
                        f"{vo.offset_of(b)}: the later send is not after the earlier one in the log.",
                        key=k, ops=[op], decisive=op, span=(op, op),
                        values=[plain(a.value), plain(b.value)], delta=ib - ia,
                    )
            prev = s.last_send.get(k)
            if prev is not None:
                last, last_op = prev
                i, j = vo.index(last), vo.index(recs[0])
                if i is not None and j is not None and j <= i:
                    self.f.add(
                        "nonmonotonic-send",
                        f"process {op.process} sent {show(last.value)} to key {k} in {last_op.label()}, "
                        f"landing at offset {vo.offset_of(last)}, then sent {show(recs[0].value)} in "
                        f"{op.label()}, which landed at offset {vo.offset_of(recs[0])}, not after it. "
                        "One producer's messages to a partition must be appended in the order it sent them.",
                        key=k, ops=[last_op, op], decisive=op, span=(last_op, op),
                        values=[plain(last.value), plain(recs[0].value)], delta=j - i,
                    )
            s.last_send[k] = (recs[-1], op)

    def _double_consume(
        self,
        commits: dict[tuple[str | None, str], list[tuple[int, int, LogOp]]],
        group_polls: list[tuple[str | None, LogOp]],
    ) -> int:
        """A poll of a group member, invoked after the group's commit of offset ``c`` for a
        key completed, must not return offsets below ``c`` (commits of a live generation
        are durable; a zombie's are refused).  Re-reading records not yet committed is
        at-least-once redelivery: allowed, and counted."""
        prefix: dict[tuple[str | None, str], tuple[list[int], list[tuple[int, LogOp]]]] = {}
        for gk, cs in commits.items():
            cs.sort(key=lambda c: c[0])
            best: tuple[int, LogOp] | None = None
            positions, maxima = [], []
            for pos, c, op in cs:
                if best is None or c > best[0]:
                    best = (c, op)
                positions.append(pos)
                maxima.append(best)
            prefix[gk] = (positions, maxima)
        seen: dict[str | None, set[tuple[str, int]]] = {}
        redelivered = 0
        for g, op in group_polls:
            got = seen.setdefault(g, set())
            for k, recs in op.reads:
                offs = [(r.offset, r.value) for r in recs if r.offset is not None]
                entry = prefix.get((g, k))
                committed = None
                if entry is not None:
                    i = bisect.bisect_left(entry[0], op.invoke_pos)
                    if i > 0:
                        committed = entry[1][i - 1]
                again = [(o, v) for o, v in offs if committed is not None and o < committed[0]]
                flagged = {o for o, _ in again}
                redelivered += sum(1 for o, _ in offs if (k, o) in got and o not in flagged)
                if again:
                    c, cop = committed  # type: ignore[misc]
                    before = "again " if all((k, o) in got for o, _ in again) else ""
                    self.f.add(
                        "double-consume",
                        f"{_group_name(g)} had committed offset {c} of key {k} ({cop.label()}), which "
                        f"says it had consumed everything before offset {c}; yet its member process "
                        f"{op.process} polled {_pairs(again)} {before}afterwards, in {op.label()}. A committed offset must "
                        "never be handed out again: those messages are processed twice.",
                        key=k, ops=[cop, op], decisive=op, span=(cop, op),
                        group=g, committed=c, offsets=[o for o, _ in again],
                        values=[plain(v) for _, v in again],
                    )
                got.update((k, o) for o, _ in offs)
        return redelivered

    def _aborted_reads(self) -> None:
        for op in self.ops:
            if op.status != "ok":
                continue
            for k, recs in op.reads:
                for r in recs:
                    w = self.failed.get((k, r.value))
                    if w is None or self.writer.get((k, r.value)) is not w:
                        continue
                    self.f.add(
                        "G1a",
                        f"{op.label()} polled {show(r.value)} from key {k} (offset {r.offset}), but "
                        f"{w.label()}, which sent it, failed definitely: the producer was told the "
                        "message was not written, yet a consumer received it.",
                        key=k, ops=[w, op], decisive=op, span=(w, op), value=plain(r.value),
                    )

    # ------------------------------------------------------------------ result
    def run(self) -> dict[str, Any]:
        self._index()
        self._log_shape()
        self._lost_writes()
        session_stats = self._sessions()
        self._aborted_reads()
        unseen = self._unseen()
        return self._result(unseen, session_stats)

    def _unseen(self) -> dict[str, Any]:
        by_key: dict[str, list[Any]] = {}
        for op in self.ops:
            if op.status != "ok":
                continue
            for r in op.sends:
                if r.value in self.ok_read.get(r.key, ()) or (r.key, r.value) in self.lost:
                    continue
                by_key.setdefault(r.key, []).append(r.value)
        count = sum(len(v) for v in by_key.values())
        return {
            "count": count,
            "by_key": {k: len(v) for k, v in sorted(by_key.items())},
            "values": {k: [plain(x) for x in v[:32]] for k, v in sorted(by_key.items())},
        }

    def _result(self, unseen: dict[str, Any], session_stats: dict[str, Any]) -> dict[str, Any]:
        f = self.f
        sends = [op for op in self.ops if op.sends]
        polls = [op for op in self.ops if op.reads or op.f == "poll"]
        stats = {
            "operations": len(self.ops),
            "send_ops": {s: sum(1 for op in sends if op.status == s) for s in ("ok", "info", "fail")},
            "poll_ops": {s: sum(1 for op in polls if op.status == s) for s in ("ok", "info", "fail")},
            "records_polled": sum(len(rs) for op in self.ops for _, rs in op.reads),
            "keys": len(self.vo.at),
            "known_offsets": sum(len(v) for v in self.vo.offsets.values()),
            "crashes": sum(1 for op in self.ops if op.f == "crash"),
            "rebalance_logs": sum(1 for op in self.ops if op.rebalances),
            "rebalances_recorded": self.lh.rebalances_recorded,
            **session_stats,
        }
        bad = [t for t in TYPES if f.counts.get(t)]
        total = sum(f.counts.values())
        anomalies = {t: {"count": f.counts[t], "cases": f.cases.get(t, [])} for t in bad}
        words: list[str] = []
        if not sends and not polls:
            verdict = "unknown"
            words.append("The history has no send or poll operations, so there is nothing to judge.")
        elif bad:
            verdict = "invalid"
            words.append(
                f"{_plural(total, 'anomaly', 'anomalies')} found: "
                + ", ".join(f"{f.counts[t]} {WHAT[t]}" for t in bad)
                + "."
            )
            shown = 0
            for t in bad:
                for case in f.cases[t][: max(1, MAX_EXPLAINED - shown)]:
                    if shown >= MAX_EXPLAINED:
                        break
                    words.append(_sentence(case))
                    shown += 1
        else:
            verdict = "valid"
            words.append(
                f"No anomaly in {len(sends)} send and {len(polls)} poll operations over "
                f"{len(self.vo.at)} key(s): every offset holds one value, no value is stored twice, "
                "every acknowledged message below a polled offset was polled, consumers never skipped "
                "or went back within a session, and no group re-read a committed record."
            )
        if f.allowed_counts:
            words.append(
                "Not counted against the verdict: "
                + ", ".join(f"{n} {WHAT[t]}" for t, n in sorted(f.allowed_counts.items()))
                + " by "
                + "; ".join(sorted(set(f.allowed_why.values())))
                + "."
            )
        if unseen["count"]:
            keys = ", ".join(f"key {k}: {n}" for k, n in list(unseen["by_key"].items())[:6])
            words.append(
                f"{_plural(unseen['count'], 'acknowledged message')} "
                f"{'was' if unseen['count'] == 1 else 'were'} never polled, but no consumer "
                f"read past {'it' if unseen['count'] == 1 else 'them'} either ({keys}): unseen, not lost. Consumers may simply not have "
                "caught up when the run ended; a final poll that reads to the end decides."
            )
            if self.strict_unseen and verdict != "invalid":
                verdict = "invalid"
                words.insert(0, "Unseen messages count as failures here (strict): the run was meant "
                             "to end with polls that catch up.")
        if session_stats.get("redelivered"):
            words.append(
                f"{_plural(session_stats['redelivered'], 'record')} "
                f"{'was' if session_stats['redelivered'] == 1 else 'were'} polled again by a group before "
                "it had committed past it: at-least-once redelivery (after a crash or rebalance), "
                "which is allowed; an idempotent consumer must absorb it."
            )
        violations = [c for t in bad for c in f.cases[t]][:MAX_CASES]
        tags = {TAG[t] for t in bad}
        if verdict == "invalid" and not bad:
            tags.add("lost-message")  # strict: acknowledged messages that nobody polled
        return {
            "checker": "kafka",
            "verdict": verdict,
            "explanation": words,
            "anomaly_types": bad,
            "anomaly_tags": sorted(tags),
            "anomalies": anomalies,
            "allowed": dict(sorted(f.allowed_counts.items())),
            "violations": violations,
            "violation_count": total,
            "unseen": unseen,
            "stats": stats,
        }
