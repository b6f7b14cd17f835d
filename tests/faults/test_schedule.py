"""Schedules: timed, random (seeded) and event-triggered faults, and what they record."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from faults import (
    At,
    ClockSkew,
    Crash,
    EventTrigger,
    FaultSpecError,
    OnEvent,
    Partition,
    Pause,
    RandomFaults,
    install,
    item_from_dict,
    start_fault,
)
from tests.faults import FakeEngine

FIVE = ("n1", "n2", "n3", "n4", "n5")


class TimedEngine(FakeEngine):
    """Also stamps each record with the engine time, to check fault windows."""

    def record(self, kind: str, data: dict[str, object]) -> None:
        super().record(kind, {**data, "t": self.time})


# --- At ----------------------------------------------------------------------------------------


def test_at_applies_and_heals_at_the_right_times_and_records_windows() -> None:
    e = TimedEngine(leader="n2")
    install([At(start_ms=1000, duration_ms=500, fault=Crash(node="leader"))], e)
    e.run_until(999)
    assert e.calls == []
    e.run_until(5000)
    assert e.timeline == [(1000, ("crash", "n2")), (1500, ("restart", "n2"))]
    start, end = e.records
    assert start == (
        "fault-start",
        {
            "fault": "crash",
            "description": "crashed n2 (the leader)",
            "targets": ["n2"],
            "id": 1,
            "t": 1000,
        },
    )
    assert end == ("fault-end", {**start[1], "t": 1500})


def test_at_without_duration_lasts_until_heal_all() -> None:
    e = FakeEngine()
    inst = install([At(0, None, Partition(kind="groups", groups=(("n1",), ("n2", "n3"))))], e)
    e.run_until(10_000)
    assert [k for k, _ in e.records] == ["fault-start"]
    assert e.records[0][1]["groups"] == [["n1"], ["n2", "n3"]]
    assert len(inst.active) == 1
    inst.heal_all()
    assert [k for k, _ in e.records] == ["fault-start", "fault-end"]
    assert inst.active == []


def test_install_accepts_dict_items() -> None:
    e = FakeEngine()
    install([{"at": 10, "duration": 5, "fault": {"fault": "pause", "node": "n3"}}], e)
    e.run_until(100)
    assert e.timeline == [(10, ("pause", "n3")), (15, ("resume", "n3"))]


def test_not_applicable_fault_is_recorded_as_skipped() -> None:
    e = FakeEngine()
    install([At(5, 10, Partition(kind="majorities-ring"))], e)
    e.run_until(100)
    assert e.calls == []
    assert e.records == [
        (
            "fault-skipped",
            {"fault": "partition", "reason": "majorities-ring needs at least four nodes, have 3"},
        )
    ]


# --- RandomFaults ---------------------------------------------------------------------------------


def random_run(seed: int, **kwargs: object) -> TimedEngine:
    e = TimedEngine(nodes=FIVE, seed=seed)
    spec = {
        "rate_per_s": 2.0,
        "mean_duration_ms": 400,
        "kinds": ("crash", "partition:isolate-leader", "clock-skew"),
        "start_ms": 1000,
        "stop_ms": 20_000,
        **kwargs,
    }
    install([RandomFaults(**spec)], e)  # type: ignore[arg-type]
    e.run_until(60_000)
    return e


def test_random_faults_are_seed_deterministic() -> None:
    a, b, c = random_run(1), random_run(1), random_run(2)
    assert a.records == b.records and a.timeline == b.timeline
    assert a.records != c.records
    names = {d["fault"] for k, d in a.records if k == "fault-start"}
    assert names == {"crash", "partition", "clock-skew"}


def test_random_faults_respect_window_and_max_concurrent() -> None:
    e = random_run(3)
    times = [(k, int(str(d["t"]))) for k, d in e.records]
    assert all(1000 < t <= 20_000 for _, t in times)
    depth = 0
    for kind, _ in times:
        depth += 1 if kind == "fault-start" else -1
        assert 0 <= depth <= 1
    assert depth == 0, "every fault is healed by stop_ms"
    e3 = random_run(3, max_concurrent=3, rate_per_s=10.0)
    depth = peak = 0
    for kind, _ in e3.records:
        depth += 1 if kind == "fault-start" else -1
        peak = max(peak, depth)
    assert peak == 3


def test_random_faults_reject_unknown_kinds_early() -> None:
    with pytest.raises(FaultSpecError, match="kinds: unknown fault 'crsh'"):
        RandomFaults(1.0, 100, ("crsh",))
    with pytest.raises(FaultSpecError, match="kinds: fault 'partition': unknown kind 'halfs'"):
        RandomFaults(1.0, 100, ("partition:halfs",))


# --- OnEvent ------------------------------------------------------------------------------------


def test_leader_elected_binds_leader_selector_to_the_event_node() -> None:
    e = TimedEngine(leader="n1")
    install([OnEvent("leader-elected", Partition(kind="isolate-leader"), duration_ms=200)], e)
    e.time = 100
    e.emit("role", {"node": "n2", "role": "follower", "term": 3})
    e.run_until(150)
    assert e.calls == []
    e.emit("role", {"node": "n3", "role": "leader", "term": 3})
    assert e.calls == [], "never acts inside the engine's event dispatch"
    e.run_until(150)
    assert e.calls == [
        ("cut", "n3", "n1"),
        ("cut", "n3", "n2"),
        ("cut", "n1", "n3"),
        ("cut", "n2", "n3"),
    ]
    assert e.records[0][1]["description"] == "isolated n3 (the leader) from n1, n2"
    e.run_until(1000)
    assert e.records[1][0] == "fault-end" and e.records[1][1]["t"] == 350
    e.emit("role", {"node": "n1", "role": "leader", "term": 4})
    e.run_until(2000)
    assert len(e.records) == 2, "times=1: fires once"


def test_on_event_delay_times_and_busy() -> None:
    e = TimedEngine()
    install(
        [OnEvent("write-acked", Crash(node="leader"), duration_ms=100, delay_ms=50, times=2)], e
    )
    for t in (0, 10, 300, 600):
        e.run_until(t)
        e.emit("ack", {"node": "n2", "client_id": "c1", "seq": t, "op": "write"})
    e.run_until(5000)
    # t=0 fires (apply at 50, heal at 150); t=10 ignored while busy; t=300 fires; t=600 over times
    assert e.timeline == [
        (50, ("crash", "n2")),
        (150, ("restart", "n2")),
        (350, ("crash", "n2")),
        (450, ("restart", "n2")),
    ]


def test_on_event_unlimited_times() -> None:
    e = FakeEngine()
    install([OnEvent("election-started", ClockSkew("n1", 5), duration_ms=1, times=None)], e)
    for t in range(0, 50, 10):
        e.run_until(t)
        e.emit("election", {"node": "n2", "term": t})
    e.run_until(100)
    assert [k for k, _ in e.records].count("fault-start") == 5


def test_lease_read_and_generic_trigger_match_only_their_events() -> None:
    e = FakeEngine()
    install(
        [
            OnEvent("lease-read", Pause(node="leader"), duration_ms=10),
            OnEvent(EventTrigger("commit", {"index": 7}), Crash(node="n3"), duration_ms=10),
        ],
        e,
    )
    e.emit("read", {"node": "n2", "mode": "read-index", "key": "x"})
    e.emit("commit", {"node": "n1", "index": 6})
    e.run_until(1)
    assert e.calls == []
    e.emit("read", {"node": "n2", "mode": "lease", "key": "x"})
    e.emit("commit", {"node": "n1", "index": 7})
    e.run_until(1)
    assert e.calls == [("pause", "n2"), ("crash", "n3")]


def test_skipped_trigger_does_not_use_up_times() -> None:
    e = FakeEngine()
    install([OnEvent("leader-elected", Crash(node="leader"), duration_ms=10)], e)
    e.emit("role", {"node": "n9", "role": "leader", "term": 1})  # unknown node: skipped
    e.run_until(1)
    e.emit("role", {"node": "n2", "role": "leader", "term": 2})
    e.run_until(100)
    assert [k for k, _ in e.records] == ["fault-skipped", "fault-start", "fault-end"]
    assert e.calls == [("crash", "n2"), ("restart", "n2")]


def test_on_event_spec_errors() -> None:
    with pytest.raises(
        FaultSpecError, match=r"unknown trigger 'leader-elect'; known: .*election-started.*leader-elected"
    ):
        OnEvent("leader-elect", Crash(), duration_ms=10)
    with pytest.raises(FaultSpecError, match="'times' must be >= 1"):
        OnEvent("write-acked", Crash(), duration_ms=10, times=0)
    with pytest.raises(FaultSpecError, match="'duration' must be > 0"):
        At(0, 0, Crash())


def test_start_fault_without_a_schedule() -> None:
    e = FakeEngine(leader="n1")
    active = start_fault(e, Crash(node="leader"), bind_leader="n3")
    assert active is not None
    assert e.calls == [("crash", "n3")]


def test_register_triggers_refuses_a_conflicting_meaning() -> None:
    from faults.schedule import TRIGGERS, EventTrigger, register_triggers

    register_triggers({"leader-elected": TRIGGERS["leader-elected"]})  # same meaning: fine
    with pytest.raises(ValueError, match="already registered"):
        register_triggers({"leader-elected": EventTrigger("ack", {})})


class FailpointEngine(FakeEngine):
    """A fake real engine: it can arm failpoints, and says when it was asked to."""

    def __init__(self) -> None:
        super().__init__()
        self.armed: list[tuple[str, str, dict[str, Any]]] = []

    def arm_failpoint(self, fp_id: str, kind: str, where: Mapping[str, Any], delay_ms: int) -> None:
        self.armed.append((fp_id, kind, dict(where)))

    def disarm_failpoint(self, fp_id: str) -> None:
        self.armed = [a for a in self.armed if a[0] != fp_id]


def test_on_event_skip_fires_on_the_nth_match_and_arms_its_failpoint_then() -> None:
    """``skip = 2``: the third batch of n3 crashes it.  On an engine with failpoints, the
    failpoint is armed only once two matches passed (a node cannot count for the driver),
    and disarmed when the trigger is used up."""
    e = FailpointEngine()
    item = item_from_dict({"on": {"kind": "batch-embedded", "where": {"node": "n3"}}, "skip": 2, "duration": 10,
                           "fault": {"fault": "crash", "node": "n3"}})
    assert isinstance(item, OnEvent) and item.skip == 2 and item.to_dict()["skip"] == 2
    install([item], e)
    for t in range(4):
        e.run_until(t * 100)
        e.emit("batch-embedded", {"node": "n2", "batch": t})  # another node: never counts
        if t == 1:
            assert e.armed == []
        e.emit("batch-embedded", {"node": "n3", "batch": t})
        if t == 1:
            assert [a[1:] for a in e.armed] == [("batch-embedded", {"node": "n3"})]
    e.run_until(1000)
    assert e.timeline == [(200, ("crash", "n3")), (210, ("restart", "n3"))]
    assert e.armed == []
    with pytest.raises(FaultSpecError, match="'skip' must be >= 0"):
        OnEvent("write-acked", Crash(), duration_ms=10, skip=-1)


# --- until: a fault healed by an event ---------------------------------------------------------


def test_until_heals_at_the_first_matching_event_after_the_fault_started() -> None:
    """``until``: the window closes on an event, not on the clock.  An event while the fault
    is still pending (its trigger's delay) does not close it; the first one after it started
    does, as a separate step; then the trigger may fire again."""
    e = TimedEngine()
    item = item_from_dict({
        "on": {"kind": "vote", "where": {"candidate": "n1"}}, "delay": 50, "duration": None, "times": 2,
        "until": {"kind": "election", "where": {"node": "n2"}},
        "fault": {"fault": "partition", "kind": "one-way", "groups": [["n1"], ["n3"]]},
    })
    assert isinstance(item, OnEvent) and item.until == EventTrigger("election", {"node": "n2"})
    install([item], e)
    e.emit("vote", {"node": "n3", "candidate": "n1", "term": 1})
    e.run_until(20)
    e.emit("election", {"node": "n2", "term": 1})  # pending: too early to close anything
    e.run_until(100)
    e.emit("election", {"node": "n1", "term": 2})  # not the until event
    e.run_until(300)
    assert e.timeline == [(50, ("cut", "n1", "n3"))]
    e.emit("election", {"node": "n2", "term": 1})
    assert e.timeline == [(50, ("cut", "n1", "n3"))], "never acts inside the event dispatch"
    e.run_until(300)
    assert e.timeline == [(50, ("cut", "n1", "n3")), (300, ("restore", "n1", "n3"))]
    e.emit("election", {"node": "n2", "term": 2})  # healed already: nothing to close
    e.emit("vote", {"node": "n3", "candidate": "n1", "term": 3})  # not busy any more: fires again
    e.run_until(400)
    assert e.timeline[2:] == [(350, ("cut", "n1", "n3"))]
    assert [k for k, _ in e.records] == ["fault-start", "fault-end", "fault-start"]


def test_until_with_a_duration_ends_at_whichever_comes_first() -> None:
    e = TimedEngine()
    install([
        At(0, 100, Pause(node="n1"), until="leader-elected"),
        At(0, 1000, Pause(node="n2"), until="leader-elected"),
    ], e)
    e.run_until(200)  # n1's pause ended by its duration
    e.emit("role", {"node": "n3", "role": "leader", "term": 1})  # ends n2's early
    e.run_until(2000)
    assert e.timeline == [(0, ("pause", "n1")), (0, ("pause", "n2")), (100, ("resume", "n1")),
                          (200, ("resume", "n2"))]
    assert [k for k, _ in e.records].count("fault-end") == 2


def test_until_round_trips_and_names_its_mistakes() -> None:
    from faults import from_dict
    from faults.targets import unknown_nodes

    for raw in ({"at": 5, "duration": None, "until": "node-restarted", "fault": {"fault": "pause", "node": "n1"}},
                {"on": "write-acked", "duration": 10, "delay": 0, "times": 1,
                 "until": {"kind": "election", "where": {"node": "n9"}, "bind_leader": None},
                 "fault": {"fault": "crash", "node": "leader"}}):
        item = item_from_dict(raw)
        assert from_dict(item.to_dict()) == item and item.to_dict()["until"] == raw["until"]
    assert "until" not in At(0, 10, Crash()).to_dict()  # absent unless used: saved scenarios keep their bytes
    assert unknown_nodes(item, ("n1", "n2", "n3")) == [("until.where.node", "n9")]
    with pytest.raises(FaultSpecError, match=r"'on' item: unknown trigger 'leader-elect' in 'until'"):
        item_from_dict({"on": "write-acked", "duration": 10, "until": "leader-elect", "fault": {"fault": "crash"}})
    with pytest.raises(FaultSpecError, match=r"'at' item: field 'until' must be a trigger name or object"):
        item_from_dict({"at": 0, "duration": 10, "until": 5, "fault": {"fault": "crash"}})
    with pytest.raises(FaultSpecError, match=r"'at' item 'until' trigger: missing field 'kind'"):
        item_from_dict({"at": 0, "duration": 10, "until": {"where": {}}, "fault": {"fault": "crash"}})


# --- node-restarted: the restarted node serves again -----------------------------------------------


class RestartingEngine(FakeEngine):
    """A fake real engine: a restart takes time, and ``restarted`` says when it is over."""

    records_restarted = True


def test_node_restarted_matches_restarted_where_a_restart_takes_time_and_restart_where_not() -> None:
    """The simulator serves a restarted node at once and records only ``restart``; the real
    engine records ``restart`` when it begins and ``restarted`` when the node serves again.
    The trigger fires at the second moment on both, and binds ``leader`` to that node."""
    items = [OnEvent("node-restarted", Pause(node="leader"), duration_ms=10)]
    sim, real = FakeEngine(), RestartingEngine()
    install(items, sim)
    install(items, real)
    for e in (sim, real):
        e.emit("restart", {"node": "n3", "incarnation": 1})
        e.run_until(1)
    assert sim.calls == [("pause", "n3")] and real.calls == []
    real.emit("restarted", {"node": "n3", "incarnation": 1, "boot_ms": 2400})
    real.run_until(2)
    assert real.calls == [("pause", "n3")]
    assert real.records[0][1]["description"] == "paused n3 (the restarted node)"
