"""The saga checkers on hand-made traces: each invariant caught, and the quiet-period rule."""

from __future__ import annotations

from typing import Any

from analysis import delivery, idempotency, saga_check


def eff(t: int, saga: str, action: str, key: str | None = None, node: str = "n3", row: str = "r1",
        outcome: str = "applied", redelivered: bool = False) -> dict[str, Any]:
    return {"t": t, "kind": "effect", "node": node, "saga": saga, "action": action,
            "key": key or f"{saga}:{action}", "row": row, "outcome": outcome, "redelivered": redelivered}


def txn(t: int, node: str, tx: str, rows: list[str]) -> dict[str, Any]:
    return {"t": t, "kind": "txn", "node": node, "txn": tx, "rows": rows, "msg_ids": [f"m-{r}" for r in rows]}


END = {"t": 20_000, "kind": "tick-end"}


def test_idempotency_flags_a_key_applied_twice_with_its_deliveries() -> None:
    trace = [
        {"t": 5, "kind": "consume", "node": "n3", "msg_id": "k", "row": "r1", "redelivered": False, "tag": "a"},
        eff(6, "t1", "reserve-flight", key="k"),
        {"t": 50, "kind": "fault-start", "id": 1, "description": "crashed n3"},
        {"t": 90, "kind": "fault-end", "id": 1},
        {"t": 100, "kind": "consume", "node": "n3", "msg_id": "k", "row": "r1", "redelivered": True, "tag": "b"},
        eff(101, "t1", "reserve-flight", key="k", redelivered=True),
    ]
    r = idempotency.check_trace(trace)
    assert r["verdict"] == "invalid"
    v = r["violations"][0]
    assert v["key"] == "k" and [d["redelivered"] for d in v["deliveries"]] == [False, True]
    assert "applied twice" in r["explanation"][1]


def test_idempotency_valid_when_duplicates_were_deduplicated() -> None:
    trace = [eff(6, "t1", "reserve-flight", key="k"), {"t": 9, "kind": "dedup", "node": "n3", "msg_id": "k", "row": "r1"}]
    assert idempotency.check_trace(trace)["verdict"] == "valid"


def test_delivery_flags_phantom_publish_and_ack_without_processing() -> None:
    trace = [
        {"t": 1, "kind": "publish", "node": "n2", "row": "r9", "msg_id": "m9", "txn": "tx-never", "direct": True},
        {"t": 2, "kind": "fault-start", "id": 1, "description": "crashed n2"},
        {"t": 5, "kind": "msg-ack", "node": "n4", "row": "r5", "msg_id": "m5", "tag": "x"},
        END,
    ]
    r = delivery.check_trace(trace)
    invariants = sorted({v["invariant"] for v in r["violations"]})
    assert r["verdict"] == "invalid"
    assert invariants == ["ack-after-processing", "no-phantom-publish"]
    assert r["violations"][0]["faults_active"] == ["crashed n2"] or r["violations"][1]["faults_active"]


def test_delivery_liveness_needs_a_quiet_period() -> None:
    lost = [txn(100, "n2", "tx1", ["r1"]), END]
    assert delivery.check_trace(lost)["verdict"] == "invalid"  # quiet end: the row is lost
    noisy = [txn(100, "n2", "tx1", ["r1"]), {"t": 19_000, "kind": "fault-start", "id": 3, "description": "x"}, END]
    r = delivery.check_trace(noisy)
    assert r["verdict"] == "valid" and r["unsettled"] and "not settled" in r["explanation"][1]
    young = [txn(19_500, "n2", "tx1", ["r1"]), END]
    assert delivery.check_trace(young)["verdict"] == "valid"


UNFINISHED = {"t": 19_990, "kind": "settle-unfinished", "settle_s": 34.5, "window_s": 4.5}


def test_a_settle_phase_that_ran_out_while_the_system_worked_judges_no_liveness() -> None:
    """On a loaded machine a consumer may still be working through its backlog when the real
    engine's settle phase runs out: an item it has not reached is late, not lost, so the
    liveness claims become "not judged" and the verdict ``unknown`` -- never ``invalid``."""
    lost = [txn(100, "n2", "tx1", ["r1"]), UNFINISHED, END]
    r = delivery.check_trace(lost)
    assert r["verdict"] == "unknown" and r["violation_count"] == 0, r
    assert "still working" in r["explanation"][0] and "m-r1 (never delivered)" in r["explanation"][0]
    stranded = [eff(100, "t1", "reserve-flight"), {"t": 50, "kind": "saga-start", "node": "n2", "saga": "t1"},
                UNFINISHED, END]
    assert saga_check.check_trace(stranded)["verdict"] == "unknown"
    # Safety findings stand whatever the end looked like: an ack without processing lost it.
    acked = [txn(100, "n2", "tx1", ["r1"]),
             {"t": 102, "kind": "consume", "node": "n3", "row": "r1", "msg_id": "m-r1"},
             {"t": 103, "kind": "msg-ack", "node": "n3", "row": "r1", "msg_id": "m-r1", "tag": "x"},
             UNFINISHED, END]
    assert delivery.check_trace(acked)["verdict"] == "invalid"


def test_a_healed_clock_step_back_delays_the_quiet_period_by_its_size() -> None:
    """A clock healed from 10 s ahead re-reads 10 s of wall time: a liveness claim waits that out."""
    clock = [{"t": 1000, "kind": "clock", "node": "n3", "local_ms": 11_000, "rate": 1.0},
             {"t": 4900, "kind": "fault-start", "id": 1, "description": "skew"},
             {"t": 4900, "kind": "clock", "node": "n3", "local_ms": 4900, "rate": 1.0},
             {"t": 4900, "kind": "fault-end", "id": 1}]
    assert idempotency.settle_window([*clock, {"t": 12_000, "kind": "x"}]) == (8000, False)
    assert idempotency.settle_window([*clock, {"t": 19_000, "kind": "x"}]) == (15_000, True)
    # A rate change is continuous: no step back, nothing to wait out beyond the usual settle.
    drift = [{"t": 1000, "kind": "clock", "node": "n3", "local_ms": 1000, "rate": 2.0},
             {"t": 2000, "kind": "clock", "node": "n3", "local_ms": 3000, "rate": 1.0}]
    assert idempotency.settle_window([*drift, {"t": 7000, "kind": "x"}]) == (3000, True)


def test_delivery_valid_for_a_processed_row() -> None:
    trace = [
        txn(100, "n2", "tx1", ["r1"]),
        {"t": 101, "kind": "publish", "node": "n2", "row": "r1", "msg_id": "m-r1", "txn": "tx1"},
        {"t": 102, "kind": "consume", "node": "n3", "row": "r1", "msg_id": "m-r1"},
        eff(102, "t1", "reserve-flight", row="r1"),
        {"t": 112, "kind": "msg-ack", "node": "n3", "row": "r1", "msg_id": "m-r1", "tag": "x"},
        END,
    ]
    assert delivery.check_trace(trace)["verdict"] == "valid"


def test_saga_double_charge_and_charge_without_booking() -> None:
    trace = [eff(1, "t1", "charge", key="a"), eff(2, "t1", "charge", key="b")]
    r = saga_check.check_trace(trace)
    assert sorted({v["invariant"] for v in r["violations"]}) == ["no-charge-without-booking", "no-double-charge"]


def test_saga_compensation_rules() -> None:
    trace = [
        {"t": 0, "kind": "saga-start", "saga": "t1"},
        eff(1, "t1", "cancel-hotel", node="n4"),
        eff(2, "t1", "reserve-flight"),
        eff(3, "t1", "cancel-flight"),
        eff(4, "t1", "cancel-flight", key="t1:cancel-flight:try2"),
        {"t": 5, "kind": "saga-end", "saga": "t1", "outcome": "cancelled"},
    ]
    r = saga_check.check_trace(trace)
    got = [v["invariant"] for v in r["violations"]]
    assert "no-compensation-without-step" in got and "compensate-once" in got and "ends-consistently" in got


def test_saga_forgotten_by_the_orchestrator_and_a_clean_saga() -> None:
    forgotten = [
        {"t": 0, "kind": "saga-start", "saga": "t1"},
        eff(2, "t1", "reserve-flight"),
        {"t": 20_000, "kind": "saga-final", "node": "n2", "sagas": {}},
    ]
    r = saga_check.check_trace(forgotten)
    assert r["verdict"] == "invalid" and r["violations"][0]["invariant"] == "no-forgotten-saga"
    clean = [
        {"t": 0, "kind": "saga-start", "saga": "t1"},
        eff(1, "t1", "reserve-flight"), eff(2, "t1", "reserve-hotel"), eff(3, "t1", "charge"),
        {"t": 4, "kind": "saga-end", "saga": "t1", "outcome": "booked"},
        {"t": 20_000, "kind": "saga-final", "node": "n2", "sagas": {"t1": "booked"}},
    ]
    assert saga_check.check_trace(clean)["verdict"] == "valid"
