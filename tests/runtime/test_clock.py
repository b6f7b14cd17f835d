"""The runtime clock follows the simulator's clock model over real monotonic time."""

from __future__ import annotations

import time

from cluster.clock import ClockModel
from cluster.runtime.clock import ClockChange, RunClock, SkewClock, replay


def test_offset_rate_and_jump() -> None:
    run = RunClock(time.monotonic_ns() - 10_000 * 1_000_000)  # the run started 10 s ago
    c = SkewClock(run)
    assert abs(c.read_ms() - 10_000) < 50
    c.set(5000.0, 1.0)
    assert abs(c.read_ms() - 15_000) < 50
    c.jump(-2000.0)
    assert abs(c.read_ms() - 13_000) < 50
    d = c.describe()
    assert (d["offset_ms"], d["rate"], d["jumps_ms"]) == (5000.0, 1.0, -2000.0)


def test_rate_runs_slow() -> None:
    run = RunClock()
    c = SkewClock(run)
    c.set(0.0, 0.5)
    t0, l0 = run.true_ms(), c.read_ms()
    time.sleep(0.2)
    dt_true, dt_local = run.true_ms() - t0, c.read_ms() - l0
    assert 0.3 * dt_true <= dt_local <= 0.7 * dt_true


def test_state_survives_a_restart() -> None:
    run = RunClock(time.monotonic_ns() - 1_000 * 1_000_000)
    c = SkewClock(run, [ClockChange.set(0, 300.0, 1.0), ClockChange.jump(50.0)])
    assert abs(c.read_ms() - 1350) < 50


def test_a_replayed_clock_reads_what_the_driver_model_reads() -> None:
    """The driver's model and a restarted node's clock agree after a rate change (the
    drift folded in at the second ``set`` is part of what a restart must carry)."""
    changes = [ClockChange.set(100, 0.0, 2.0), ClockChange.jump(-30.0), ClockChange.set(600, 250.0, 0.5)]
    driver = ClockModel()
    driver.set(100, 0.0, 2.0)
    driver.jump(-30.0)
    driver.set(600, 250.0, 0.5)
    again = replay(changes)
    for t in (600, 900, 5000):
        assert again.read_ms(t) == driver.read_ms(t)
    assert again.describe() == driver.describe()
