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

from analysis.faultwindows import active_at, fault_windows

MAX_VIOLATIONS = 20
SETTLE_MS = 4000
FORWARD = ("reserve-flight", "reserve-hotel", "charge")
UNDO_OF = {"cancel-flight": "reserve-flight", "cancel-hotel": "reserve-hotel", "refund": "charge"}


class Findings:
    """Violations with their evidence and the faults active at the time."""

    def __init__(self, checker: str, records: list[dict[str, Any]]) -> None:
        self.checker = checker
        self.windows = fault_windows(records)
        self.violations: list[dict[str, Any]] = []
        self.unsettled: list[str] = []
        self.total = 0

    def add(self, invariant: str, t: int, text: str, **extra: Any) -> None:
        self.total += 1
        if len(self.violations) >= MAX_VIOLATIONS:
            return
        faults = [w["description"] for w in active_at(self.windows, t)]
        v: dict[str, Any] = {"invariant": invariant, "t": t, "text": text, "faults_active": faults}
        v.update(extra)
        self.violations.append(v)

    def result(self, ok_text: str, stats: dict[str, Any]) -> dict[str, Any]:
        if self.violations:
            words = [f"{self.total} violation(s) found."]
            for v in self.violations[:5]:
                faults = v["faults_active"]
                tail = (" Faults active then: " + "; ".join(faults) + ".") if faults else " No fault was active then."
                words.append(f"At {v['t']} ms: {v['text']}{tail}")
            verdict = "invalid"
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
            "unsettled": self.unsettled[:50],
            "stats": stats,
        }


def settle_window(records: list[dict[str, Any]], settle_ms: int = SETTLE_MS) -> tuple[int, bool]:
    """``(cutoff, quiet)``: items started after ``cutoff`` were still young at the end.

    ``quiet`` says the last ``settle_ms`` of the run had no fault (and no node left down),
    so an item older than ``cutoff`` that has not finished is really stuck or lost; when not
    quiet it is only *unsettled*.
    """
    end = max((int(r.get("t", 0)) for r in records), default=0)
    windows = fault_windows(records, end_t=end)
    last_fault = max((int(w["end"]) for w in windows), default=0)
    if any(r.get("kind") == "node-final" for r in records):
        last_fault = end
    return end - settle_ms, last_fault + settle_ms <= end


def check_trace(records: Iterable[dict[str, Any]], history: Any = None) -> dict[str, Any]:
    recs = list(records)
    f = Findings("idempotency", recs)
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
            shown = ", ".join(
                f"{d['t']} ms ({'redelivered' if d.get('redelivered') else 'first delivery'}, row {d.get('row')})"
                for d in ds[:6]
            )
            f.add(
                "at-most-once",
                int(r["t"]),
                f"idempotency key {key} was applied twice by {r['node']} ({r.get('action')}): at "
                f"{first['t']} ms and again at {r['t']} ms. It was delivered {len(ds)} time(s): {shown}. "
                "A consumer must record the key in the same transaction as the effect and skip it next time.",
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
                        saga=saga,
                        action=action,
                    )
    return f.result(
        f"Every idempotency key was applied at most once ({n_effects} effects over {len(applied)} keys), "
        f"and each of the {acked} bookings acknowledged to a client was applied exactly once.",
        {"effects": n_effects, "keys": len(applied), "acknowledged": acked},
    )
