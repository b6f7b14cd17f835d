"""Each fault model: exact engine calls on apply and heal, and what it says it did."""

from __future__ import annotations

import itertools

import pytest

from faults import (
    Applied,
    ClockSkew,
    ClockStrobe,
    Crash,
    CrashRestartLoop,
    FaultNotApplicable,
    FaultSpecError,
    LinkFault,
    Partition,
    Pause,
)
from faults.base import resolve
from tests.faults import FakeEngine

FIVE = ("n1", "n2", "n3", "n4", "n5")


def cuts(engine: FakeEngine) -> list[tuple[str, str]]:
    return [(c[1], c[2]) for c in engine.calls if c[0] == "cut"]


def restores(engine: FakeEngine) -> list[tuple[str, str]]:
    return [(c[1], c[2]) for c in engine.calls if c[0] == "restore"]


def reachable(nodes: tuple[str, ...], cut: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Who each node can still send to directly (itself included)."""
    return {a: [b for b in nodes if a == b or (a, b) not in cut] for a in nodes}


# --- partitions -----------------------------------------------------------------------------


def test_isolate_leader_cuts_both_directions_and_heal_restores_exactly_those() -> None:
    e = FakeEngine(leader="n2")
    fault = Partition(kind="isolate-leader")
    applied = fault.apply(e)
    assert e.calls == [
        ("cut", "n2", "n1"),
        ("cut", "n2", "n3"),
        ("cut", "n1", "n2"),
        ("cut", "n3", "n2"),
    ]
    assert applied.targets == ("n2",)
    assert fault.describe(applied) == "isolated n2 (the leader) from n1, n3"
    e.calls.clear()
    fault.heal(e, applied)
    assert e.calls == [
        ("restore", "n2", "n1"),
        ("restore", "n2", "n3"),
        ("restore", "n1", "n2"),
        ("restore", "n3", "n2"),
    ]


def test_isolate_leader_without_leader_falls_back_to_a_seeded_random_node() -> None:
    picks = []
    for _ in range(2):
        e = FakeEngine(leader=None, seed=3)
        fault = Partition(kind="isolate-leader")
        applied = fault.apply(e)
        picks.append(applied.targets)
        assert "no leader, chosen at random" in fault.describe(applied)
    assert picks[0] == picks[1]


def test_isolate_literal_node_and_minority_target() -> None:
    e = FakeEngine(nodes=FIVE)
    applied = Partition(kind="isolate", target="n4").apply(e)
    assert applied.groups == (("n4",), ("n1", "n2", "n3", "n5"))
    e2 = FakeEngine(nodes=FIVE, seed=11)
    applied2 = Partition(kind="isolate", target="minority").apply(e2)
    assert len(applied2.groups[0]) == 2 and len(applied2.groups[1]) == 3
    assert len(cuts(e2)) == 2 * 3 * 2


def test_halves_is_seeded_and_splits_minority_from_majority() -> None:
    results = []
    for _ in range(2):
        e = FakeEngine(nodes=FIVE, seed=42)
        fault = Partition(kind="halves")
        applied = fault.apply(e)
        results.append((applied.groups, e.calls))
        small, big = applied.groups
        assert (len(small), len(big)) == (2, 3)
        assert sorted(small + big) == list(FIVE)
        assert sorted(cuts(e)) == sorted(
            [(a, b) for a in small for b in big] + [(b, a) for a in small for b in big]
        )
        fault.heal(e, applied)
        assert sorted(restores(e)) == sorted(cuts(e))
    assert results[0] == results[1]
    groups = {Partition().apply(FakeEngine(nodes=FIVE, seed=s)).groups for s in range(20)}
    assert len(groups) > 1, "different seeds should give different splits"


def test_majorities_ring_gives_every_node_a_different_majority() -> None:
    e = FakeEngine(nodes=FIVE, seed=5)
    fault = Partition(kind="majorities-ring")
    applied = fault.apply(e)
    seen = reachable(FIVE, cuts(e))
    views = [tuple(sorted(v)) for v in seen.values()]
    assert all(len(v) == 3 for v in views)
    assert len(set(views)) == 5
    assert len(cuts(e)) == 10  # 5 non-adjacent pairs, both directions
    for view in applied.groups:  # groups are the same views, centred on their node
        assert sorted(view) == sorted(seen[view[1]])
    assert fault.describe(applied).startswith("cut the ring ")
    with pytest.raises(FaultNotApplicable, match="at least four"):
        Partition(kind="majorities-ring").apply(FakeEngine())


@pytest.mark.parametrize("n", [4, 6, 7])
def test_majorities_ring_other_sizes(n: int) -> None:
    nodes = tuple(f"n{i}" for i in range(1, n + 1))
    e = FakeEngine(nodes=nodes)
    Partition(kind="majorities-ring").apply(e)
    views = [tuple(sorted(v)) for v in reachable(nodes, cuts(e)).values()]
    assert all(len(v) >= n // 2 + 1 and len(v) < n for v in views)
    assert len(set(views)) == n


def test_bridge_node_talks_to_both_halves_which_cannot_talk() -> None:
    e = FakeEngine(nodes=FIVE, seed=9)
    fault = Partition(kind="bridge", target="n3")
    applied = fault.apply(e)
    left, bridge, right = applied.groups
    assert bridge == ("n3",) and len(left) == 2 and len(right) == 2
    assert all("n3" not in link for link in cuts(e))
    assert sorted(cuts(e)) == sorted(
        [(a, b) for a in left for b in right] + [(b, a) for a in left for b in right]
    )
    assert fault.describe(applied).endswith("with n3 bridging both sides")


def test_one_way_cuts_only_one_direction() -> None:
    e = FakeEngine(leader="n1")
    fault = Partition(kind="one-way", target="leader")
    applied = fault.apply(e)
    assert e.calls == [("cut", "n1", "n2"), ("cut", "n1", "n3")]
    assert fault.describe(applied) == (
        "n1 (the leader) can no longer send to n2, n3; messages the other way still arrive"
    )
    e2 = FakeEngine(nodes=FIVE)
    Partition(kind="one-way", groups=(("n4", "n5"), ("n1",))).apply(e2)
    assert e2.calls == [("cut", "n4", "n1"), ("cut", "n5", "n1")]


def test_explicit_groups_leave_unmentioned_nodes_connected() -> None:
    e = FakeEngine(nodes=FIVE)
    fault = Partition(kind="groups", groups=(("n1", "n2"), ("n3",)))
    applied = fault.apply(e)
    assert all("n4" not in link and "n5" not in link for link in cuts(e))
    assert len(cuts(e)) == 4
    assert fault.describe(applied) == "partitioned the network into n1, n2 | n3"
    with pytest.raises(FaultNotApplicable, match="unknown node 'n9'"):
        Partition(kind="groups", groups=(("n1",), ("n9",))).apply(e)


def test_overlapping_partitions_restore_a_shared_link_only_when_both_heal() -> None:
    e = FakeEngine()
    a = Partition(kind="isolate", target="n1")
    b = Partition(kind="one-way", groups=(("n1",), ("n2",)))
    applied_a = a.apply(e)
    applied_b = b.apply(e)
    assert cuts(e).count(("n1", "n2")) == 1, "cutting a held link again is not repeated"
    a.heal(e, applied_a)
    assert ("n1", "n2") not in restores(e)
    assert ("n2", "n1") in restores(e)
    b.heal(e, applied_b)
    assert restores(e)[-1] == ("n1", "n2")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"kind": "halfs"},
            "fault 'partition': unknown kind 'halfs'; known: bridge, groups, halves",
        ),
        ({"kind": "halves", "target": "n1"}, "kind 'halves' takes no 'target'"),
        ({"kind": "isolate-leader", "target": "n1"}, "use kind 'isolate' with target"),
        ({"kind": "groups"}, "needs 'groups' with at least two"),
        ({"kind": "groups", "groups": (("n1",), ("n1", "n2"))}, "'n1' is in more than one group"),
        ({"kind": "one-way", "groups": (("n1",),)}, "exactly two groups"),
    ],
)
def test_partition_spec_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(FaultSpecError, match=message):
        Partition(**kwargs)  # type: ignore[arg-type]


# --- clocks ---------------------------------------------------------------------------------


def test_clock_skew_sets_and_resets_the_clock() -> None:
    e = FakeEngine()
    fault = ClockSkew(node="n3", offset_ms=-500, rate=1.5)
    applied = fault.apply(e)
    assert e.calls == [("set_clock", "n3", -500, 1.5)]
    assert fault.describe(applied) == (
        "skewed the clock of n3: 500 ms behind, running at 1.5x speed"
    )
    fault.heal(e, applied)
    assert e.calls[-1] == ("set_clock", "n3", 0.0, 1.0)


def test_overlapping_clock_skews_heal_back_to_the_one_still_active() -> None:
    e = FakeEngine()
    first, second = ClockSkew("n2", 100), ClockSkew("n2", 900)
    a1, a2 = first.apply(e), second.apply(e)
    second.heal(e, a2)
    assert e.calls[-1] == ("set_clock", "n2", 100, 1.0)
    first.heal(e, a1)
    assert e.calls[-1] == ("set_clock", "n2", 0.0, 1.0)


def test_clock_strobe_alternates_while_active_and_nets_to_zero() -> None:
    e = FakeEngine()
    fault = ClockStrobe(node="n2", delta_ms=300, period_ms=100)
    applied = fault.apply(e)
    e.run_until(250)
    assert e.timeline == [
        (0, ("jump_clock", "n2", 300)),
        (100, ("jump_clock", "n2", -300)),
        (200, ("jump_clock", "n2", 300)),
    ]
    fault.heal(e, applied)
    e.run_until(1000)
    assert e.timeline[3:] == [(250, ("jump_clock", "n2", -300))]
    assert sum(c[2] for c in e.calls) == 0


def test_strobe_needs_a_scheduler() -> None:
    class NoSchedule(FakeEngine):
        schedule = None  # type: ignore[assignment]

    with pytest.raises(FaultNotApplicable, match="schedule"):
        ClockStrobe(node="n1").apply(NoSchedule())


# --- processes -----------------------------------------------------------------------------


def test_crash_and_restart_with_refcount() -> None:
    e = FakeEngine(leader="n3")
    fault = Crash(node="leader")
    a1 = fault.apply(e)
    a2 = Crash(node="n3").apply(e)
    assert e.calls == [("crash", "n3")]
    assert fault.describe(a1) == "crashed n3 (the leader)"
    fault.heal(e, a1)
    assert e.calls == [("crash", "n3")], "still held by the second crash"
    Crash(node="n3").heal(e, a2)
    assert e.calls == [("crash", "n3"), ("restart", "n3")]


def test_crash_restart_loop_timeline_and_heal_while_down() -> None:
    e = FakeEngine()
    fault = CrashRestartLoop(node="n1", down_ms=100, up_ms=50)
    applied = fault.apply(e)
    e.run_until(320)
    assert e.timeline == [
        (0, ("crash", "n1")),
        (100, ("restart", "n1")),
        (150, ("crash", "n1")),
        (250, ("restart", "n1")),
        (300, ("crash", "n1")),
    ]
    fault.heal(e, applied)
    e.run_until(2000)
    assert e.timeline[5:] == [(320, ("restart", "n1"))]


def test_pause_and_resume() -> None:
    e = FakeEngine(seed=1)
    fault = Pause()
    applied = fault.apply(e)
    node = applied.targets[0]
    assert e.calls == [("pause", node)]
    assert fault.describe(applied) == f"paused {node} (chosen at random)"
    fault.heal(e, applied)
    assert e.calls == [("pause", node), ("resume", node)]


# --- links ------------------------------------------------------------------------------------


def test_link_fault_everywhere_and_heal_to_healthy() -> None:
    e = FakeEngine()
    fault = LinkFault(loss=0.2, delay_ms=50, jitter_ms=10, duplicate=0.05, reorder=0.1)
    applied = fault.apply(e)
    pairs = [(a, b) for a, b in itertools.product(e.nodes, e.nodes) if a != b]
    assert e.calls == [("set_link", a, b, 0.2, 50, 10, 0.05, 0.1) for a, b in pairs]
    assert fault.describe(applied) == (
        "degraded every link: 20% loss, 50 ms +- 10 ms delay, 5% duplicated, 10% reordered"
    )
    e.calls.clear()
    fault.heal(e, applied)
    assert e.calls == [("set_link", a, b, 0.0, 0.0, 0.0, 0.0, 0.0) for a, b in pairs]


def test_link_fault_from_leader_and_stacking() -> None:
    e = FakeEngine(leader="n2")
    wide = LinkFault(src="*", dst="n1", loss=0.5)
    narrow = LinkFault(src="leader", dst="n1", loss=0.0, delay_ms=30)
    a_wide = wide.apply(e)
    a_narrow = narrow.apply(e)
    assert a_narrow.links == (("n2", "n1"),)
    assert narrow.describe(a_narrow) == "degraded links from n2 (the leader) to n1: 30 ms delay"
    e.calls.clear()
    narrow.heal(e, a_narrow)
    assert e.calls == [("set_link", "n2", "n1", 0.5, 0.0, 0.0, 0.0, 0.0)], "back to the wide one"
    e.calls.clear()
    wide.heal(e, a_wide)
    assert sorted(e.calls) == [
        ("set_link", "n2", "n1", 0.0, 0.0, 0.0, 0.0, 0.0),
        ("set_link", "n3", "n1", 0.0, 0.0, 0.0, 0.0, 0.0),
    ]


def test_link_fault_validation() -> None:
    with pytest.raises(FaultSpecError, match="fault 'link': field 'loss' must be between 0 and 1"):
        LinkFault(loss=1.5)
    with pytest.raises(FaultSpecError, match="'delay_ms' must be >= 0"):
        LinkFault(delay_ms=-1)


# --- selectors ----------------------------------------------------------------------------------


def test_selectors_resolve_deterministically() -> None:
    def run(seed: int) -> list[tuple[str, ...]]:
        e = FakeEngine(nodes=FIVE, leader="n2", seed=seed)
        return [resolve(e, s).nodes for s in ("random", "random-follower", "minority", "majority")]

    assert run(1) == run(1)
    for seed in range(30):
        rand, follower, minority, majority = run(seed)
        assert follower != ("n2",)
        assert len(minority) == 2 and len(majority) == 3
        assert list(majority) == sorted(majority, key=FIVE.index), "cluster order, not set order"
    e = FakeEngine(leader="n2")
    assert resolve(e, "leader").nodes == ("n2",)
    assert resolve(e, "n3").nodes == ("n3",)
    with pytest.raises(FaultNotApplicable, match="unknown node 'leadr'.*selectors are leader"):
        resolve(e, "leadr")
    with pytest.raises(FaultNotApplicable, match="no follower"):
        resolve(FakeEngine(nodes=("n1",), leader="n1"), "random-follower")


def test_ledgers_are_per_engine() -> None:
    e1, e2 = FakeEngine(), FakeEngine()
    fault = Crash(node="n1")
    fault.apply(e1)
    fault.apply(e2)
    assert e1.calls == e2.calls == [("crash", "n1")]


def test_applied_equality_ignores_live_state() -> None:
    assert Applied(("n1",), 1, state=object()) == Applied(("n1",), 1, state=object())


def test_a_link_fault_gets_only_the_effects_it_names() -> None:
    """A delay-only link fault has no hidden loss; only a bare link fault is lossy (10%)."""
    from faults.registry import fault_from_dict

    delay_only = fault_from_dict({"fault": "link", "delay_ms": 30, "jitter_ms": 30})
    assert delay_only.to_dict()["loss"] == 0.0
    bare = fault_from_dict({"fault": "link"})
    assert bare.to_dict()["loss"] == 0.1
    assert fault_from_dict(delay_only.to_dict()) == delay_only
    applied = Applied(targets=("n1", "n2"), token=1, groups=(("n1",), ("n2",)))
    assert delay_only.describe(applied) == "degraded every link: 30 ms +- 30 ms delay"
    assert bare.describe(applied) == "degraded every link: 10% loss"
