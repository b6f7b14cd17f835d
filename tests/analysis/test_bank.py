"""The bank checker on hand-written histories: each anomaly, the saga allowance, the context."""

from __future__ import annotations

from typing import Any

from analysis.bank import check, with_fault_context
from analysis.history import Event, History

OPEN = {"a": 10, "b": 10, "c": 0}


def _h(*ops: tuple[Any, ...]) -> History:
    """``(process, f, value, type, output)`` per operation, each completed before the next is
    invoked; ``("invoke", ...)`` / ``("done", ...)`` pairs for overlapping ones."""
    events: list[Event] = []
    t = 0
    for op in ops:
        if op[0] == "invoke":
            _, p, f, value = op
            events.append(Event(p, "invoke", f, value, time=t))
        elif op[0] == "done":
            _, p, f, typ, out = op
            events.append(Event(p, typ, f, out, time=t))
        else:
            p, f, value, typ, out = op
            events.append(Event(p, "invoke", f, value, time=t))
            t += 1_000_000
            events.append(Event(p, typ, f, out if typ == "ok" else value, time=t))
        t += 1_000_000
    return History.from_events(events)


def _open(p: int = 0) -> tuple[Any, ...]:
    return (p, "open", OPEN, "ok", OPEN)


def _move(src: str, dst: str, n: int, typ: str = "ok", p: int = 1) -> tuple[Any, ...]:
    v = {"from": src, "to": dst, "amount": n}
    return (p, "transfer", v, typ, v)


def _read(balances: dict[str, int], p: int = 2) -> tuple[Any, ...]:
    return (p, "read", None, "ok", balances)


def test_transfers_that_keep_the_total_are_valid() -> None:
    r = check(_h(_read({}), _open(), _move("a", "c", 4), _read({"a": 6, "b": 10, "c": 4}),
                 _move("b", "a", 30, "fail"), _read({"a": 6, "b": 10, "c": 4})))
    assert r["verdict"] == "valid", r["explanation"]
    assert (r["total"], r["accounts"], r["reads"]) == (20, ["a", "b", "c"], 3)
    assert r["transfers"] == {"ok": 1, "fail": 1, "info": 0}  # the read before the open saw no bank yet
    assert "adding up to 20, none overdrawn" in r["explanation"][0]


def test_a_wrong_total_names_the_read_and_the_transfers_since_the_last_good_one() -> None:
    r = check(_h(_open(), _read({"a": 10, "b": 10, "c": 0}), _move("a", "c", 4), _move("a", "b", 3),
                 _read({"a": 6, "b": 13, "c": 4})))
    assert r["verdict"] == "invalid" and r["anomaly_types"] == ["wrong-total"]
    case = r["anomalies"]["wrong-total"][0]
    assert (case["op"], case["total"], case["expected"]) == (4, 23, 20)
    assert "adding up to 23, 3 more than the bank's total of 20" in case["text"]
    assert any("op 2 (process 1) a -> c 4, op 3 (process 1) a -> b 3" in s for s in r["explanation"])


def test_overdrafts_unknown_and_missing_accounts() -> None:
    r = check(_h(_open(), _read({"a": -1, "b": 11, "c": 10}), _read({"a": 10, "b": 10, "c": 0, "z": 0}),
                 _read({"a": 20})))
    assert r["anomaly_counts"] == {"negative-balance": 1, "unexpected-key": 1, "nil-balance": 1}
    assert "a = -1" in r["anomalies"]["negative-balance"][0]["text"]
    assert "b, c missing" in r["anomalies"]["nil-balance"][0]["text"]
    assert check(_h(_open(), _read({"a": -1, "b": 11, "c": 10})), negative_balances=True)["verdict"] == "valid"


def test_an_empty_read_is_fine_before_the_bank_opened_and_an_anomaly_after() -> None:
    before = _h(("invoke", 0, "open", OPEN), _read({}), ("done", 0, "open", "ok", OPEN), _read({"a": 10, "b": 10, "c": 0}))
    assert check(before)["verdict"] == "valid"
    after = check(_h(_open(), _read({})))
    assert after["anomaly_types"] == ["nil-balance"]
    assert "opened (op 0 (process 0) completed) before the read began" in after["anomalies"]["nil-balance"][0]["text"]


def test_in_flight_transfers_excuse_a_read_only_while_they_run() -> None:
    """A saga debits first and credits later: a read in between is short by the amount."""
    v = {"from": "a", "to": "c", "amount": 4}
    h = _h(_open(), ("invoke", 1, "transfer", v), _read({"a": 6, "b": 10, "c": 0}),
           ("done", 1, "transfer", "ok", v), _read({"a": 6, "b": 10, "c": 0}, p=3))
    strict = check(h)
    assert strict["anomaly_counts"] == {"wrong-total": 2}
    sagas = check(h, in_flight=True)
    assert sagas["anomaly_counts"] == {"wrong-total": 1}  # the read after it ended is still wrong
    assert sagas["anomalies"]["wrong-total"][0]["op"] == 3
    assert "transfers in flight could explain at most 0" in sagas["anomalies"]["wrong-total"][0]["text"]


def test_without_an_open_the_total_must_be_given() -> None:
    h = _h(_read({"a": 5, "b": 5}))
    r = check(h)
    assert r["verdict"] == "unknown" and "no open operation" in r["reason"]
    assert check(h, accounts=["a", "b"], total=10)["verdict"] == "valid"
    assert check(h, accounts=["a", "b"], total=11)["verdict"] == "invalid"
    assert check(_h(_open()))["verdict"] == "unknown"  # nothing was read


def test_opens_that_disagree_cannot_be_judged() -> None:
    r = check(_h(_open(), (1, "open", {"a": 1}, "ok", {"a": 1}), _read({"a": 10, "b": 10, "c": 0})))
    assert r["verdict"] == "unknown" and "other balances than the first open" in r["reason"]


def test_fault_context_marks_the_first_case_of_each_anomaly() -> None:
    r = check(_h(_open(), _read({"a": 9, "b": 10, "c": 0}), _read({"a": 9, "b": 10, "c": 0}, p=3)))
    trace = [{"t": 1, "kind": "fault-start", "id": 1, "fault": "crash", "description": "crashed n1"},
             {"t": 10, "kind": "fault-end", "id": 1}]
    out = with_fault_context(r, trace)
    assert [(v["invariant"], v["t"], v["faults_active"]) for v in out["violations"]] == [
        ("wrong-total", 3.0, ["crashed n1"])]
