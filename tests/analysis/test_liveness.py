"""The liveness checker on hand-written traces: stuck partitions, skipped events, the quiet rule."""

from __future__ import annotations

from typing import Any

from analysis import liveness


def append(t: int, off: int, partition: int = 0, topic: str = "events") -> dict[str, Any]:
    return {"t": t, "kind": "broker-append", "node": "n1", "topic": topic, "partition": partition,
            "offset": off, "msg_id": f"m{partition}.{off}"}


def handled(t: int, off: int, partition: int = 0, outcome: str = "processed", topic: str = "events") -> dict[str, Any]:
    return {"t": t, "kind": "handled", "node": "n3", "topic": topic, "partition": partition, "offset": off,
            "msg_id": f"m{partition}.{off}", "outcome": outcome}


END = {"t": 12_000, "kind": "tick-end"}


def test_a_partition_stuck_behind_a_failing_event_is_named_with_its_offset_and_since_when() -> None:
    trace = [append(100 + i, i) for i in range(20)]
    trace += [handled(200 + i, i) for i in range(17)]
    trace += [{"t": 4200, "kind": "consume", "node": "n3", "topic": "events", "partition": 0, "offset": 17}]
    trace += [{"t": 4200 + 100 * k, "kind": "process-failed", "node": "n3", "topic": "events", "partition": 0,
               "offset": 17, "attempt": k + 1} for k in range(5)]
    r = liveness.check_trace([*trace, END])
    assert r["verdict"] == "invalid" and r["violation_counts"] == {"no-stuck-partition": 1}
    text = r["explanation"][1]
    assert "events/0 is stuck behind offset 17 since 4.2 s" in text
    assert "failed processing 5 time(s)" in text and "offsets 18-19" in text


def test_an_event_skipped_while_later_ones_were_handled_is_at_most_once() -> None:
    trace = [append(100 + i, i) for i in range(4)] + [handled(300, 0), handled(301, 2), handled(302, 3)]
    r = liveness.check_trace([*trace, END])
    assert r["violation_counts"] == {"no-skipped-event": 1}
    assert r["violations"][0]["offset"] == 1 and "at-most-once" in r["explanation"][1]


def test_everything_handled_or_dead_lettered_is_valid_and_counts_outcomes() -> None:
    trace = [append(100, 0), append(101, 1), handled(200, 0), handled(900, 1, outcome="dead-lettered"),
             append(950, 0, topic="events.dlq"), handled(990, 0, topic="events.dlq", outcome="parked"),
             {"t": 1000, "kind": "produced", "node": "n2", "topic": "events", "partition": 0, "offset": 1}]
    r = liveness.check_trace([*trace, END])
    assert r["verdict"] == "valid"
    assert r["stats"]["outcomes"] == {"processed": 1, "dead-lettered": 1, "parked": 1}


def test_no_quiet_period_means_not_judged_and_young_events_are_not_due() -> None:
    noisy = [append(100, 0), {"t": 11_000, "kind": "fault-start", "id": 1, "description": "crashed n3"}, END]
    r = liveness.check_trace(noisy)
    assert r["verdict"] == "valid" and r["unsettled"] == ["events/0@0"]
    young = [append(9_000, 0), END]
    assert liveness.check_trace(young)["verdict"] == "valid"
    # a node left down at the end: no quiet period either
    down = [append(100, 0), {"t": 12_000, "kind": "node-final", "node": "n3", "state": "crashed"}]
    assert liveness.check_trace(down)["unsettled"]


def test_an_unfinished_settle_tells_a_backlog_from_a_stuck_partition() -> None:
    """The real engine's settle phase ran out while the nodes still worked: a partition whose
    head never failed is a consumer behind on its backlog (not judged); one whose head kept
    failing is stuck, and says so."""
    unfinished = {"t": 11_990, "kind": "settle-unfinished", "settle_s": 30.0, "window_s": 4.5}
    behind = [append(100 + i, i) for i in range(5)] + [handled(200, 0), unfinished, END]
    r = liveness.check_trace(behind)
    assert r["verdict"] == "unknown" and r["unsettled"] == [f"events/0@{o}" for o in range(1, 5)]
    failing = [*behind[:-2], {"t": 300, "kind": "process-failed", "node": "n3", "topic": "events",
                              "partition": 0, "offset": 1, "attempt": 1}, unfinished, END]
    r = liveness.check_trace(failing)
    assert r["verdict"] == "invalid" and r["violation_counts"] == {"no-stuck-partition": 1}
