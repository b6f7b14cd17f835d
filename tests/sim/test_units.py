"""Unit transcripts for the clock and network models on their own."""

from __future__ import annotations

import random

import pytest

from cluster.clock import ClockModel
from cluster.core.types import Message
from cluster.sim.network import DROP_CUT, DROP_LOSS, SimNetwork
from cluster.sim.recorder import Recorder
from cluster.sim.scheduler import STOP_CHECK_EVERY, Scheduler
from cluster.sim.trace import dumps_record, to_jsonl
from cluster.sim.transport import Transport

# --- clock --------------------------------------------------------------------------------------


def test_untouched_clock_reads_true_time() -> None:
    c = ClockModel()
    assert c.identity
    assert [c.read_ms(t) for t in (0, 7, 1000)] == [0, 7, 1000]


def test_offset_is_absolute_and_heal_returns_to_true_time() -> None:
    c = ClockModel()
    c.set(100, offset_ms=500)
    assert c.read_ms(100) == 600 and c.read_ms(200) == 700
    c.set(200, offset_ms=0, rate=1.0)
    assert c.identity and c.read_ms(300) == 300


def test_rate_change_is_continuous_and_drifts() -> None:
    c = ClockModel()
    c.set(1000, rate=2.0)
    assert c.read_ms(1000) == 1000  # no step at the change
    assert c.read_ms(1100) == 1200  # runs twice as fast
    c.set(1100, rate=0.5)
    assert c.read_ms(1100) == 1200  # continuous: the drift so far is kept, no step back
    assert c.read_ms(1300) == 1300
    c.set(1300, rate=1.0)  # healing the rate does not step the clock back either
    assert c.read_ms(1400) == 1400


def test_jumps_accumulate_and_survive_set() -> None:
    c = ClockModel()
    c.jump(-300)
    assert c.read_ms(1000) == 700
    c.set(1000, offset_ms=100)
    assert c.read_ms(1000) == 800
    c.jump(300)
    c.set(1000, offset_ms=0)
    assert c.identity


def test_the_monotonic_reading_follows_drift_but_never_an_offset_or_a_jump() -> None:
    c = ClockModel()
    c.set(100, offset_ms=10_000)
    assert c.read_ms(200) == 10_200 and c.read_mono_ms(200) == 200
    c.set(300, offset_ms=0, rate=2.0)  # the heal steps the wall clock back 10 s ...
    assert c.read_ms(300) == 300 and c.read_mono_ms(300) == 300  # ... and the monotonic one not at all
    assert c.read_mono_ms(400) == 500  # but it runs at the oscillator's rate
    c.jump(-5000)
    assert c.read_ms(400) == -4500 and c.read_mono_ms(400) == 500
    readings = [c.read_mono_ms(t) for t in range(0, 2000, 7)]
    assert readings == sorted(readings)


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="rate"):
        ClockModel().set(0, rate=0)


def test_state_round_trips_mid_drift_segment() -> None:
    c = ClockModel()
    c.set(1000, offset_ms=250, rate=1.5)
    c.jump(-40)
    again = ClockModel.from_state(c.state())
    assert [again.read(t) for t in (1000, 1500, 9000)] == [c.read(t) for t in (1000, 1500, 9000)]
    assert again.describe() == c.describe() and not again.identity
    assert ClockModel.from_state(ClockModel().state()).identity


# --- scheduler ----------------------------------------------------------------------------------


def test_scheduler_runs_by_time_then_insertion_and_skips_cancelled() -> None:
    s = Scheduler()
    seen: list[tuple[int, str]] = []

    def note(label: str, _: object) -> None:
        seen.append((s.now, label))

    def again(label: str, _: object) -> None:
        note(label, None)
        s.at(s.now, note, label + " (added while running)", None)

    s.at(20, note, "late", None)
    s.at(10, again, "first", None)
    skipped = s.call_at(10, lambda: note("cancelled", None))
    s.at(10, note, "second", None)
    s.cancel(skipped)
    s.call_at(-5, lambda: note("clamped to now", None))
    assert s.run_until(20) is False
    assert seen == [(0, "clamped to now"), (10, "first"), (10, "second"), (10, "first (added while running)")]
    assert s.now == 20 and s.pending() == 1  # due at 20: the next run's first entry
    s.run_until(21)
    assert seen[-1] == (20, "late") and s.pending() == 0


def test_scheduler_should_stop_is_asked_every_so_many_entries() -> None:
    s = Scheduler()
    for i in range(3 * STOP_CHECK_EVERY):
        s.at(i, lambda a, b: None, None, None)
    asked: list[int] = []

    def stop() -> bool:
        asked.append(s.now)
        return len(asked) == 2

    assert s.run_until(10 * STOP_CHECK_EVERY, stop) is True
    assert asked == [STOP_CHECK_EVERY - 1, 2 * STOP_CHECK_EVERY - 1]
    assert s.now == 2 * STOP_CHECK_EVERY - 1  # stopped where it was, not at the end
    assert s.pending() == STOP_CHECK_EVERY


def test_a_stop_inside_a_millisecond_leaves_the_rest_of_it_for_the_next_run() -> None:
    s = Scheduler()
    ran: list[int] = []
    for i in range(STOP_CHECK_EVERY + 5):
        s.at(7, lambda a, b: ran.append(a), i, None)
    assert s.run_until(100, lambda: True) is True
    assert len(ran) == STOP_CHECK_EVERY and s.now == 7
    assert s.run_until(100) is False
    assert ran == list(range(STOP_CHECK_EVERY + 5)) and s.now == 100


# --- network ------------------------------------------------------------------------------------


def test_healthy_link_is_fifo_within_base_latency() -> None:
    net = SimNetwork(random.Random(1), (1, 5))
    times = []
    for now in range(200):
        plan = net.plan(now, "a", "b")
        assert isinstance(plan, tuple) and len(plan) == 1
        assert now + 1 <= plan[0]
        times.append(plan[0])
    assert times == sorted(times)


def test_the_transport_delivers_what_the_network_plans() -> None:
    """Transport.send's arrivals, drops and duplicates are those SimNetwork.plan gives for
    the same seed, links and calls, including after a link is degraded, cut or healed
    mid-way."""
    net = SimNetwork(random.Random(5), (1, 5))
    plans: list[tuple[int, ...] | str] = []
    sched = Scheduler()
    arrivals: list[tuple[int, int]] = []
    transport = Transport(SimNetwork(random.Random(5), (1, 5)), sched, Recorder(sched, trace_messages=False))
    transport.attach("b", lambda _m, mid: arrivals.append((sched.now, mid)))
    transport.attach("a", lambda _m, mid: arrivals.append((sched.now, mid)))
    changes: dict[int, tuple[str, dict[str, float]]] = {
        40: ("set_link", {"duplicate": 0.5, "delay_ms": 3.0}), 80: ("cut", {}), 120: ("restore", {}),
        160: ("set_link", {})}
    for i in range(200):
        if i in changes:
            name, kw = changes[i]
            for n in (net, transport.network):
                getattr(n, name)("a", "b", **kw)
        src, dst = ("a", "b") if i % 3 else ("b", "a")
        plans.append(net.plan(sched.now, src, dst))
        transport.send(Message(src, dst))
        sched.run_until(sched.now + 1)
    sched.run_until(sched.now + 100)
    # a cut also drops what is in flight on a -> b when it arrives (at 80 <= t < 120)
    want = sorted((t, mid) for mid, p in enumerate(plans) if not isinstance(p, str) for t in p
                  if not (mid % 3 and 80 <= t < 120))
    assert sorted(arrivals) == want and len(want) > 150
    assert any(isinstance(p, tuple) and len(p) == 2 for p in plans)  # duplicates were planned


def test_cut_is_one_way_and_restorable() -> None:
    net = SimNetwork(random.Random(1))
    net.cut("a", "b")
    assert net.plan(0, "a", "b") == DROP_CUT
    assert isinstance(net.plan(0, "b", "a"), tuple)
    net.restore("a", "b")
    assert isinstance(net.plan(0, "a", "b"), tuple)
    assert net.link("a", "b").healthy()


def test_set_link_keeps_the_cut_flag_and_zeros_heal() -> None:
    net = SimNetwork(random.Random(1))
    net.cut("a", "b")
    net.set_link("a", "b", loss=0.5)
    assert net.link("a", "b").cut
    net.set_link("a", "b")
    assert net.link("a", "b").cut and not net.link("a", "b").degraded()


def test_loss_delay_duplicate_reorder_each_show_up() -> None:
    net = SimNetwork(random.Random(3), (1, 5))
    net.set_link("a", "b", loss=0.3)
    fates = [net.plan(0, "a", "b") for _ in range(1000)]
    lost = sum(1 for f in fates if f == DROP_LOSS)
    assert 200 < lost < 400
    net.set_link("a", "b", delay_ms=100, jitter_ms=10)
    for _ in range(100):
        plan = net.plan(0, "a", "b")
        assert isinstance(plan, tuple) and 91 <= plan[0] <= 115
    net.set_link("a", "b", duplicate=1.0)
    plan = net.plan(1000, "a", "b")
    assert isinstance(plan, tuple) and len(plan) == 2 and plan[1] >= plan[0]
    net.set_link("a", "b", reorder=0.5)
    arrivals = []
    for now in range(2000, 2100):
        p = net.plan(now, "a", "b")
        assert isinstance(p, tuple)
        arrivals.append(p[0])
    assert arrivals != sorted(arrivals)


def test_bad_link_settings_are_refused() -> None:
    net = SimNetwork(random.Random(1))
    with pytest.raises(ValueError, match="loss"):
        net.set_link("a", "b", loss=1.5)
    with pytest.raises(ValueError, match="delay"):
        net.set_link("a", "b", delay_ms=-1)


# --- trace writer -------------------------------------------------------------------------------


def test_jsonl_is_canonical() -> None:
    assert dumps_record({"t": 1, "kind": "x", "a": (1, 2)}) == '{"a":[1,2],"kind":"x","t":1}'
    assert to_jsonl([{"b": 1}, {"a": {3}}]) == '{"b":1}\n{"a":[3]}\n'
