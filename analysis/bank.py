"""The bank checker: money moves between accounts, but never appears or vanishes.

After Jepsen's bank test (``jepsen.tests.bank``).  A bank has a fixed set of accounts and a
fixed total; clients ``transfer`` amounts between accounts and ``read`` every balance at
once.  Whatever the isolation level promised, a transfer either happened or did not, so
every read must show

* **the same total** (``wrong-total``): a read that sees a transfer's debit without its
  credit (read skew), or a balance overwritten by a concurrent transfer (lost update),
  shows money created or destroyed;
* **no negative balance** (``negative-balance``), unless the bank allows overdrafts: two
  transfers that each checked the same balance and both spent it (write skew);
* **exactly the bank's accounts** (``unexpected-key``: an account that does not exist;
  ``nil-balance``: an account missing, or an empty read after the bank was opened before
  the read began).

The history is Jepsen's shape: ``transfer`` ops with ``{"from", "to", "amount"}``,
``read`` ops whose ``ok`` value is ``{account: balance}``, and (splitbrain's) ``open``
ops whose value is the opening balances, from which the accounts and the total are read
unless given.  Only reads are judged: transfers matter through what reads show of them.

**Sagas.**  A saga moves money in steps (debit in one service, credit in another, a
refund if the credit fails), so a read between the steps legitimately sees money in
flight.  ``in_flight=True`` judges such a system: a read's total may fall short of (or
exceed) the expected one by at most the amounts of the transfers still running while it
ran (invoked before it ended, not yet completed when it began; a transfer of unknown
outcome runs forever).  A saga that never finishes its compensation then shows as a wrong
total in every read after the last transfer ended, which is the check that matters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from analysis.faultwindows import active_at, fault_clause, fault_windows
from analysis.history import History, Operation

__all__ = ["ANOMALY_TYPES", "check", "with_fault_context"]

ANOMALY_TYPES: dict[str, str] = {
    "wrong-total": "a read whose balances do not add up to the bank's total",
    "negative-balance": "a read that shows an account overdrawn",
    "unexpected-key": "a read that shows an account the bank does not have",
    "nil-balance": "a read that misses an account of the bank",
}

LEARNER_WORDS: dict[str, str] = {
    "wrong-total": "lost-update",
    "negative-balance": "write-skew",
    "unexpected-key": "garbage-read",
    "nil-balance": "lost-write",
}
"""Each bank anomaly as a word of the learner's vocabulary (:mod:`analysis.anomalies`): money
appears or vanishes when two transfers each overwrite a balance the other changed (a lost
update); an account goes below zero when two transfers each checked a balance the other was
about to spend (write skew)."""
EXAMPLES = 8
"""Most cases kept per anomaly type (all are counted)."""


def _bank_of(history: History) -> tuple[dict[str, int] | None, str | None]:
    """The opening balances from the history's ``open`` ops, or why they cannot be known."""
    opening: dict[str, int] | None = None
    for op in history.operations:
        if op.f != "open":
            continue
        value = op.value
        if not isinstance(value, Mapping) or not all(isinstance(v, int) for v in value.values()):
            return None, f"{op.label()} opens the bank with {value!r}, not {{account: balance}}"
        here = {str(k): int(v) for k, v in value.items()}
        if opening is None:
            opening = here
        elif here != opening:
            return None, f"{op.label()} opens the bank with other balances than the first open"
    return opening, None


def _amount(op: Operation) -> int:
    value = op.value
    if isinstance(value, Mapping) and isinstance(value.get("amount"), int):
        return int(value["amount"])
    return 0


def _in_flight(read: Operation, transfers: Sequence[Operation]) -> int:
    """The amounts of transfers that may have been half done while ``read`` ran."""
    end = read.ret if read.ret is not None else float("inf")
    total = 0
    for t in transfers:
        if t.call < end and (t.ret is None or t.ret > read.call):
            total += _amount(t)
    return total


def _since_last_good(bad_id: int, reads: Sequence[Operation], transfers: Sequence[Operation],
                     total: int) -> list[str]:
    """Which transfers ran between the last read that added up and the first that did not:
    one of them is where the money went."""
    bad = next(op for op in reads if op.id == bad_id)
    good = [op for op in reads if op.ret is not None and op.ret < bad.call and isinstance(op.output, Mapping)
            and op.output and sum(v for v in op.output.values() if isinstance(v, int)) == total]
    if not good:
        return []
    last = max(good, key=lambda op: op.ret if op.ret is not None else 0)
    assert last.ret is not None
    between = [t for t in transfers if t.status == "ok" and t.ret is not None
               and t.ret > last.call and t.call < (bad.ret if bad.ret is not None else t.call + 1)]
    if not between:
        return []
    shown = ", ".join(f"{t.label()} {t.value.get('from')} -> {t.value.get('to')} {t.value.get('amount')}"
                      for t in between[:6] if isinstance(t.value, Mapping))
    more = f" and {len(between) - 6} more" if len(between) > 6 else ""
    return [f"The last read that added up was {last.label()}; the transfers that completed between it and "
            f"the first wrong read: {shown}{more}."]


def with_fault_context(result: dict[str, Any], trace: list[dict[str, Any]]) -> dict[str, Any]:
    """Add ``violations`` (the first case of each anomaly, with the faults active then) so a
    report can mark and explain them on its timeline."""
    windows = fault_windows(trace)
    violations = []
    for kind, cases in (result.get("anomalies") or {}).items():
        case = cases[0]
        t = case.get("t")
        if t is None:
            continue
        violations.append({"invariant": kind, "t": t, "text": case["text"],
                           "faults_active": [w["description"] for w in active_at(windows, int(t))],
                           "fault_context": fault_clause(windows, int(t))})
    if violations:
        result["violations"] = sorted(violations, key=lambda v: v["t"])
    return result


def check(
    history: History,
    *,
    accounts: Sequence[str] | None = None,
    total: int | None = None,
    negative_balances: bool = False,
    in_flight: bool = False,
) -> dict[str, Any]:
    """Judge every ``ok`` read of ``history`` (see the module doc).  ``accounts`` and
    ``total`` default to what the history's ``open`` ops say."""
    opening, problem = _bank_of(history)
    if accounts is None and opening is not None:
        accounts = sorted(opening)
    if total is None and opening is not None:
        total = sum(opening.values())
    reads = [op for op in history.operations if op.f == "read" and op.status == "ok"]
    transfers = [op for op in history.operations if op.f == "transfer" and op.status != "fail"]
    counts = history.counts()
    base: dict[str, Any] = {
        "checker": "bank",
        "reads": len(reads),
        "transfers": {s: sum(1 for op in history.operations if op.f == "transfer" and op.status == s)
                      for s in ("ok", "fail", "info")},
        "operations": counts,
    }
    if accounts is None or total is None:
        why = problem or "the history has no open operation and no total was given"
        return {**base, "verdict": "unknown", "reason": why,
                "explanation": [f"Cannot judge the bank: {why}."]}
    bank = set(accounts)
    opened_by: Operation | None = min(
        (op for op in history.operations if op.f == "open" and op.status == "ok" and op.ret is not None),
        key=lambda op: op.ret if op.ret is not None else 0, default=None)
    found: dict[str, list[dict[str, Any]]] = {}
    counted: dict[str, int] = {}

    def add(kind: str, op: Operation, text: str, **extra: Any) -> None:
        counted[kind] = counted.get(kind, 0) + 1
        cases = found.setdefault(kind, [])
        if len(cases) < EXAMPLES:
            when = op.ret_time if op.ret_time is not None else op.call_time
            t = None if when is None else round(when / 1_000_000, 3)
            cases.append({"op": op.id, "process": op.process, "t": t, "value": op.output, "text": text, **extra})

    for op in reads:
        seen = op.output
        if not isinstance(seen, Mapping):
            add("nil-balance", op, f"{op.label()} read {seen!r}, not a map of balances")
            continue
        if not seen:
            if opened_by is not None and opened_by.ret is not None and opened_by.ret < op.call:
                add("nil-balance", op, f"{op.label()} read no accounts at all, although the bank was "
                    f"opened ({opened_by.label()} completed) before the read began: a read from before the "
                    "bank existed")
            continue
        balances = {str(k): v for k, v in seen.items()}
        extra_keys = sorted(set(balances) - bank)
        missing = sorted(bank - set(balances))
        if extra_keys:
            add("unexpected-key", op, f"{op.label()} read account(s) {', '.join(extra_keys)}, which the "
                "bank does not have")
        if missing:
            add("nil-balance", op, f"{op.label()} read {len(balances)} of the bank's {len(bank)} accounts: "
                f"{', '.join(missing)} missing")
        numbers = {k: v for k, v in balances.items()
                   if isinstance(v, int | float) and not isinstance(v, bool)}
        if len(numbers) < len(balances):
            add("nil-balance", op, f"{op.label()} read balances that are not numbers: {seen!r}")
            continue
        if not negative_balances:
            below = sorted(k for k, v in numbers.items() if v < 0)
            if below:
                add("negative-balance", op, f"{op.label()} read {', '.join(f'{k} = {numbers[k]}' for k in below)}: "
                    "the bank does not allow overdrafts", accounts=below)
        if missing or extra_keys:
            continue
        got = sum(numbers.values())
        if got != total:
            slack = _in_flight(op, transfers) if in_flight else 0
            if abs(got - total) > slack:
                more = "more" if got > total else "less"
                text = (f"{op.label()} read balances adding up to {got}, {abs(got - total)} {more} than the "
                        f"bank's total of {total}: " + ", ".join(f"{k} = {numbers[k]}" for k in sorted(numbers)))
                if in_flight:
                    text += f" (transfers in flight could explain at most {slack})"
                add("wrong-total", op, text, total=got, expected=total)
    verdict = "invalid" if counted else "valid"
    expl: list[str] = []
    if counted:
        summary = ", ".join(f"{k} x{counted[k]}" for k in ANOMALY_TYPES if k in counted)
        expl.append(f"The bank lost track of money: {summary}, in {len(reads)} reads.")
        first_kind = next(k for k in ANOMALY_TYPES if k in counted)
        first = found[first_kind][0]
        expl.append(first["text"] + ".")
        if first_kind == "wrong-total":
            expl.extend(_since_last_good(first["op"], reads, transfers, total))
        if "wrong-total" in counted:
            expl.append("Transfers move money and never create or destroy it, so every read of every "
                        "balance must add up to the same total. A read that does not saw part of a "
                        "transfer (read skew) or a balance another transfer had overwritten (lost update).")
        if "negative-balance" in counted:
            expl.append("Each transfer checks the balance before spending it; an overdrawn account means "
                        "two transfers each checked a balance the other was about to spend (write skew).")
    else:
        expl.append(f"Every one of {len(reads)} reads saw the bank's {len(bank)} accounts adding up to {total}"
                    + ("" if negative_balances else ", none overdrawn") + ".")
    reason = None
    if not reads:
        verdict, reason = "unknown", "no read of the balances completed"
        expl = ["No read of the balances completed, so nothing could be judged."]
    return {
        **base,
        "verdict": verdict,
        **({"reason": reason} if reason else {}),
        "explanation": expl,
        "accounts": sorted(bank),
        "total": total,
        "anomaly_types": [k for k in ANOMALY_TYPES if k in counted],
        "anomaly_counts": counted,
        "anomaly_tags": sorted({LEARNER_WORDS[k] for k in counted} if verdict == "invalid" else ()),
        "anomalies": found,
    }
