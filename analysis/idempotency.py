"""Idempotency: per idempotency key, an effect is applied at most once.

Reads ``effect`` records (one per business effect a service committed; ``key`` is the
message id / idempotency key, ``outcome`` "applied" when something changed) and the
``deliver`` records of the same key, and the client history: every booking a client was told
``booked`` must have had each of its forward steps applied exactly once.

Also home of :class:`Findings` and :func:`settle_window`, shared by the delivery and saga
checkers: a violation carries the time, the faults active then, and plain sentences; a
liveness claim ("never delivered") is only made after a quiet period of ``settle_ms`` with
no fault active; otherwise the item is only reported as unsettled (liveness not judged).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from analysis import trace_kinds as K
from analysis.faultwindows import active_at, fault_clause, fault_windows, settled_from

MAX_VIOLATIONS = 20
SETTLE_MS = 4000
FORWARD = ("reserve-flight", "reserve-hotel", "charge")
UNDO_OF = {"cancel-flight": "reserve-flight", "cancel-hotel": "reserve-hotel", "refund": "charge"}


class Findings:
    """Violations with their evidence and the faults behind them.

    The explanation leads with the failure, grouped by property and counted, one full example
    per property and the rest listed briefly, so a run with ten double charges reads as one
    problem seen ten times, not ten paragraphs.  Each example names the faults active then, or
    the ones that had just ended (with the gap) when none was.
    """

    def __init__(self, checker: str, records: list[dict[str, Any]]) -> None:
        self.checker = checker
        self.windows = fault_windows(records)
        self.violations: list[dict[str, Any]] = []
        self.unsettled: list[str] = []
        self.unfinished = settle_unfinished(records)
        """Why the run's end was not quiet after all (the system was still working), or None."""
        self.total = 0
        self.counts: dict[str, int] = {}
        self.tags: set[str] = set()

    def add(self, invariant: str, t: int, text: str, *, anomaly: str, **extra: Any) -> None:
        """Record a violation of ``invariant``; ``anomaly`` is its word in the learner's
        vocabulary (:mod:`analysis.anomalies`), counted even past :data:`MAX_VIOLATIONS`."""
        self.total += 1
        self.tags.add(anomaly)
        self.counts[invariant] = self.counts.get(invariant, 0) + 1
        if len(self.violations) >= MAX_VIOLATIONS:
            return
        faults = [w["description"] for w in active_at(self.windows, t)]
        nodes = [str(n) for n in (extra.get("nodes") or [extra.get("node")]) if n]
        v: dict[str, Any] = {"invariant": invariant, "t": t, "text": text, "faults_active": faults,
                             "fault_context": fault_clause(self.windows, t, nodes=nodes)}
        v.update(extra)
        self.violations.append(v)

    def result(self, ok_text: str, stats: dict[str, Any]) -> dict[str, Any]:
        if self.violations:
            groups = ", ".join(f"{n} {inv}" for inv, n in self.counts.items())
            words = [f"{self.total} violation(s) found: {groups}."]
            for inv in self.counts:
                mine = [v for v in self.violations if v["invariant"] == inv]
                if not mine:
                    continue
                first = mine[0]
                words.append(f"At {first['t']} ms: {first['text']} {first['fault_context']}")
                rest = self.counts[inv] - 1
                if rest:
                    shown = ", ".join(f"{v['t']} ms{_subject(v)}" for v in mine[1:7])
                    more = "" if rest <= len(mine[1:7]) else f" and {rest - len(mine[1:7])} more"
                    words.append(f"{rest} more {inv} violation(s) like it: at {shown}{more}.")
            verdict = "invalid"
        elif self.unsettled and self.unfinished:
            # Safety held, but the system was still working when the run ended: what had not
            # arrived may be lost or only late, and a checker must not guess which.
            verdict = "unknown"
            words = [
                f"No safety violation, but {len(self.unsettled)} item(s) had not finished when the run "
                f"ended ({', '.join(self.unsettled[:5])}), and {self.unfinished}, so whether they are "
                "lost or only late cannot be told (liveness not judged). Give the run more time "
                "(--time-limit) or a less loaded machine."
            ]
        else:
            verdict = "valid"
            words = [ok_text]
            if self.unsettled:
                # Liveness is only judged after a quiet period; safety held, so the run is
                # valid, and the note says what could not be judged.
                words.append(
                    f"{len(self.unsettled)} item(s) had not settled when the run ended, with faults "
                    "active too recently to call them lost (not judged): "
                    + ", ".join(self.unsettled[:5]) + "."
                )
        return {
            "checker": self.checker,
            "verdict": verdict,
            "explanation": words,
            "violations": self.violations,
            "violation_count": self.total,
            "violation_counts": dict(self.counts),
            "anomaly_tags": sorted(self.tags),
            "unsettled": self.unsettled[:50],
            "stats": stats,
        }


def _subject(v: dict[str, Any]) -> str:
    """What a violation is about, briefly (the saga, key, document or row it names)."""
    for field in ("saga", "doc", "key", "row"):
        if v.get(field) is not None:
            return f" ({field} {v[field]})"
    return ""


class Copies:
    """Which copy of an outbox row a delivery carried: the first publish, a relay republish, or
    a broker redelivery of either.

    A relay that crashed after publishing but before marking its row publishes the row again:
    that is a *new* broker message (a new offset), so the broker rightly delivers it unflagged.
    Calling it a "first delivery" hides why a consumer without an inbox applied it twice.
    """

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.appends: dict[tuple[str, int, int], tuple[str, int, int]] = {}  # (topic, part, offset) -> (row, n, t)
        per_row: dict[str, int] = {}
        self.consumes: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (node, row) -> consume records
        for r in records:
            kind = r.get("kind")
            if kind == "broker-append" and r.get("row") is not None:
                row = str(r["row"])
                n = per_row.get(row, 0) + 1
                per_row[row] = n
                self.appends[(str(r.get("topic")), int(r.get("partition", 0)), int(r.get("offset", -1)))] = (
                    row, n, int(r.get("t", 0)))
            elif kind == "consume" and r.get("row") is not None:
                self.consumes.setdefault((str(r["node"]), str(r["row"])), []).append(r)

    def label(self, d: dict[str, Any]) -> str:
        """``"first delivery"``, ``"redelivered"``, ``"relay republish #2 (published again at 400 ms)"``..."""
        got = self.appends.get((str(d.get("topic")), int(d.get("partition", 0)), int(d.get("offset", -1))))
        redelivered = bool(d.get("redelivered"))
        if got is None or got[1] == 1:
            return "redelivered" if redelivered else "first delivery"
        _, n, t = got
        copy = f"relay republish #{n - 1}, published again at {t} ms"
        return f"{copy}, redelivered" if redelivered else copy

    def before(self, node: str, row: str, t: int) -> dict[str, Any] | None:
        """The last delivery of ``row`` to ``node`` at or before ``t``."""
        got = [c for c in self.consumes.get((node, row), []) if int(c.get("t", 0)) <= t]
        return got[-1] if got else None


def settle_unfinished(records: list[dict[str, Any]]) -> str | None:
    """Why the end of the run was not quiet although no fault was active, or None.

    The real engine's settle phase waits for the nodes to stop reporting work, up to a limit;
    when the limit comes first it leaves a ``settle-unfinished`` record.  A consumer working
    through a backlog on a loaded machine is then only slow: an item it has not reached is
    not lost, so the liveness claims ("never delivered", "never ended") are not made."""
    for r in records:
        if r.get("kind") == K.SETTLE_UNFINISHED:
            unwired = [str(n) for n in r.get("unwired") or ()]
            still = (f"{', '.join(unwired)} {'was' if len(unwired) == 1 else 'were'} still restarting"
                     if unwired else "the nodes were still working")
            return f"{still} when the settle phase ended after {float(r.get('settle_s', 0)):g} s of real time"
    return None


def settle_window(records: list[dict[str, Any]], settle_ms: int = SETTLE_MS) -> tuple[int, bool]:
    """``(cutoff, quiet)``: items started after ``cutoff`` were still young at the end.

    ``quiet`` says the last ``settle_ms`` of the run had no fault (and no node left down),
    so an item older than ``cutoff`` that has not finished is really stuck or lost; when not
    quiet it is only *unsettled*.  A healed fault can act after its window: a clock stepped
    back by ``d`` ms re-reads ``d`` ms of wall time it already passed, so the quiet period
    starts only once that is over (:func:`~analysis.faultwindows.settled_from`).
    """
    end = max((int(r.get("t", 0)) for r in records), default=0)
    windows = fault_windows(records, end_t=end)
    last_fault = settled_from(records, windows)
    if any(r.get("kind") == "node-final" for r in records):
        last_fault = end
    return end - settle_ms, last_fault + settle_ms <= end


def check_trace(records: Iterable[dict[str, Any]], history: Any = None) -> dict[str, Any]:
    recs = list(records)
    f = Findings("idempotency", recs)
    copies = Copies(recs)
    deliveries: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in recs:
        if r.get("kind") == "consume":
            deliveries.setdefault((str(r["node"]), str(r["msg_id"])), []).append(r)
    applied: dict[str, list[dict[str, Any]]] = {}
    per_saga: dict[tuple[str, str], int] = {}
    n_effects = 0
    for r in recs:
        if r.get("kind") != "effect" or r.get("outcome") != "applied":
            continue
        n_effects += 1
        key = str(r["key"])
        applied.setdefault(key, []).append(r)
        if r.get("action") in FORWARD:
            sk = (str(r.get("saga")), str(r.get("action")))
            per_saga[sk] = per_saga.get(sk, 0) + 1
        if len(applied[key]) == 2:
            first = applied[key][0]
            ds = deliveries.get((str(r["node"]), key), [])
            shown = ", ".join(f"{d['t']} ms ({copies.label(d)}, row {d.get('row')})" for d in ds[:6])
            f.add(
                "at-most-once",
                int(r["t"]),
                f"idempotency key {key} was applied twice by {r['node']} ({r.get('action')}): at "
                f"{first['t']} ms and again at {r['t']} ms. It was delivered {len(ds)} time(s): {shown}. "
                "A consumer must record the key in the same transaction as the effect and skip it next time.",
                anomaly="duplicate-effect",
                key=key,
                node=r["node"],
                deliveries=[{"t": d["t"], "row": d.get("row"), "redelivered": d.get("redelivered"),
                             "tag": d.get("tag")} for d in ds[:20]],
            )
    acked = 0
    if history is not None:
        for op in history.operations:
            if op.f != "book" or op.status != "ok" or op.output != "booked":
                continue
            acked += 1
            saga = str(op.key)
            for action in FORWARD:
                n = per_saga.get((saga, action), 0)
                if n != 1:
                    t = (op.ret_time or 0) // 1_000_000
                    f.add(
                        "acknowledged-exactly-once",
                        t,
                        f"the client was told trip {saga} was booked, but {action} was applied {n} "
                        "times. An acknowledged request must take effect exactly once.",
                        anomaly="lost-write" if n == 0 else "duplicate-effect",
                        saga=saga,
                        action=action,
                    )
    return f.result(
        f"Every idempotency key was applied at most once ({n_effects} effects over {len(applied)} keys), "
        f"and each of the {acked} bookings acknowledged to a client was applied exactly once.",
        {"effects": n_effects, "keys": len(applied), "acknowledged": acked},
    )
