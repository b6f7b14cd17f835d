"""Saga outcomes: all applied, or every applied step compensated exactly once.

Reads ``saga-start``/``saga-end`` (orchestrator), ``effect`` (services) and ``saga-final``
(what the orchestrator still knows at the end) records, plus the client history:

* **no double charge** -- at most one applied ``charge`` per saga, whatever the keys were;
* **no charge without its booking** -- when a charge is applied, the saga's flight and hotel
  are both reserved and not cancelled;
* **no compensation for a step that never ran**, and **each compensated at most once**;
* **ends consistently** -- a saga that ended ``booked`` has every forward step applied once
  and nothing undone; one that ended ``cancelled`` has every applied step compensated once;
* **no forgotten saga** -- a saga with applied effects that the orchestrator no longer knows
  (it is up at the end and has no record of it) will never be completed or compensated;
* **no stuck saga** -- a saga started before the settle cutoff has ended (liveness, judged
  only after a quiet period).
* **client agrees** -- a client told ``booked``/``cancelled`` got the saga's real outcome.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from analysis.idempotency import FORWARD, SETTLE_MS, UNDO_OF, Findings, settle_window


def check_trace(records: Iterable[dict[str, Any]], history: Any = None,
                settle_ms: int = SETTLE_MS) -> dict[str, Any]:
    recs = list(records)
    f = Findings("saga", recs)
    cutoff, quiet = settle_window(recs, settle_ms)
    started: dict[str, int] = {}
    ended: dict[str, tuple[int, str]] = {}
    fwd: dict[str, dict[str, int]] = {}  # saga -> forward action -> live count
    fwd_total: dict[str, dict[str, int]] = {}
    comp: dict[str, dict[str, int]] = {}  # saga -> forward action undone -> count
    first_effect: dict[str, int] = {}
    known: dict[str, str] | None = None
    for r in recs:
        kind = r.get("kind")
        t = int(r.get("t", 0))
        if kind == "saga-start":
            started.setdefault(str(r["saga"]), t)
        elif kind == "saga-end":
            ended.setdefault(str(r["saga"]), (t, str(r["outcome"])))
        elif kind == "saga-final":
            known = {str(k): str(v) for k, v in dict(r.get("sagas", {})).items()}
        elif kind == "effect" and r.get("outcome") == "applied":
            saga = str(r["saga"])
            action = str(r["action"])
            first_effect.setdefault(saga, t)
            live = fwd.setdefault(saga, {})
            total = fwd_total.setdefault(saga, {})
            if action in FORWARD:
                if action == "charge":
                    if total.get("charge", 0) >= 1:
                        f.add("no-double-charge", t,
                              f"saga {saga} charged the card a second time (key {r['key']}); the first "
                              "charge was not refunded. Retries of a charge must reuse one idempotency key.",
                              anomaly="duplicate-effect", saga=saga)
                    missing = [a for a in ("reserve-flight", "reserve-hotel") if live.get(a, 0) < 1]
                    if missing:
                        f.add("no-charge-without-booking", t,
                              f"saga {saga} charged the card while {' and '.join(missing)} "
                              "was not (or no longer) in place.", anomaly="stranded-saga", saga=saga)
                live[action] = live.get(action, 0) + 1
                total[action] = total.get(action, 0) + 1
            elif action in UNDO_OF:
                target = UNDO_OF[action]
                done = comp.setdefault(saga, {})
                if total.get(target, 0) == 0:
                    f.add("no-compensation-without-step", t,
                          f"saga {saga}: {action} undid something at {r['node']}, but {target} never "
                          "ran for this saga. A compensation must be a no-op for a step that did not happen.",
                          anomaly="out-of-order", saga=saga)
                elif done.get(target, 0) >= 1:
                    f.add("compensate-once", t,
                          f"saga {saga}: {action} was applied a second time (key {r['key']}), so the "
                          f"{target} was undone twice. Compensations must be idempotent too.",
                          anomaly="duplicate-effect", saga=saga)
                done[target] = done.get(target, 0) + 1
                live[target] = live.get(target, 0) - 1
    outcomes: dict[str, str] = {}
    for saga, (t, outcome) in sorted(ended.items()):
        outcomes[saga] = outcome
        total = fwd_total.get(saga, {})
        undone = comp.get(saga, {})
        if outcome == "booked":
            bad = [a for a in FORWARD if total.get(a, 0) != 1 or undone.get(a, 0) != 0]
            if bad:
                f.add("ends-consistently", t,
                      f"saga {saga} ended booked, but {', '.join(bad)} was not applied exactly once "
                      f"(applied {[total.get(a, 0) for a in FORWARD]}, undone {[undone.get(a, 0) for a in FORWARD]}).",
                      anomaly=_uneven(total, undone), saga=saga)
        else:
            bad = [a for a in FORWARD if total.get(a, 0) != undone.get(a, 0)]
            if bad:
                f.add("ends-consistently", t,
                      f"saga {saga} ended cancelled, but {', '.join(bad)} was applied "
                      f"{[total.get(a, 0) for a in bad]} time(s) and compensated "
                      f"{[undone.get(a, 0) for a in bad]} time(s); every applied step must be undone exactly once.",
                      anomaly=_uneven(total, undone), saga=saga)
    sagas = sorted(set(started) | set(fwd_total))
    stuck = 0
    for saga in sagas:
        if saga in ended:
            continue
        t0 = started.get(saga, first_effect.get(saga, 0))
        applied_now = sorted(a for a, n in fwd.get(saga, {}).items() if n > 0)
        if known is not None and saga not in known and applied_now:
            f.add("no-forgotten-saga", first_effect.get(saga, t0),
                  f"saga {saga} left {', '.join(applied_now)} in place, and the orchestrator has no record "
                  "of the saga at the end of the run: it will never be completed or compensated. Saga "
                  "state must be persisted before each step.",
                  anomaly="stranded-saga", saga=saga)
            continue
        if t0 > cutoff:
            continue
        if quiet and not f.unfinished:
            stuck += 1
            f.add("saga-ends", t0,
                  f"saga {saga} started at {t0} ms never ended (applied: {', '.join(applied_now) or 'nothing'}), "
                  "although the run ended with a quiet period.", anomaly="stranded-saga", saga=saga)
        else:
            f.unsettled.append(f"saga {saga}")
    told = 0
    if history is not None:
        for op in history.operations:
            if op.f != "book" or op.status != "ok":
                continue
            told += 1
            real = outcomes.get(str(op.key))
            if real != op.output:
                f.add("client-agrees", (op.ret_time or 0) // 1_000_000,
                      f"the client was told trip {op.key} was {op.output}, but the saga ended {real}.",
                      anomaly="stranded-saga", saga=str(op.key))
    booked = sum(1 for o in outcomes.values() if o == "booked")
    return f.result(
        f"All {len(ended)} finished sagas ended consistently ({booked} booked, {len(ended) - booked} "
        "cancelled with every applied step compensated exactly once); no double charge, no charge "
        "without its booking, no compensation for a step that never ran.",
        {"sagas": len(sagas), "ended": len(ended), "booked": booked, "stuck": stuck, "client_told": told},
    )


def _uneven(applied: dict[str, int], undone: dict[str, int]) -> str:
    """The word for a saga that ended with its steps applied/undone the wrong number of
    times: something done twice is a duplicate effect; otherwise a step was left in place
    (or missing), which is a stranded saga."""
    if any(n > 1 for n in applied.values()) or any(n > 1 for n in undone.values()):
        return "duplicate-effect"
    return "stranded-saga"
