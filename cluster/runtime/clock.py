"""A real node clock that faults can skew, drift and step at run time.

True time is the host's monotonic clock measured from the run's start (``t0_ns``, shared
by every process of a run: ``CLOCK_MONOTONIC`` is system-wide on Linux, and all actors are
pinned to the driver's machine).  What the node *believes* is the simulator's clock model
applied to that true time -- the same :class:`cluster.sim.clock.SimClock`, so
``offset + rate`` settings and jumps mean exactly what they mean in the simulator, and a
scenario's clock faults behave the same on both engines.
"""

from __future__ import annotations

import time

from cluster.clock import ClockModel as SimClock

__all__ = ["RunClock", "SkewClock", "clock_state", "restore_state"]


def clock_state(model: SimClock) -> dict[str, float]:
    """Every field of a SimClock's settings (including its private segment start)."""
    out = {"t_set": float(model._t_set)}
    for name in ("offset_ms", "rate", "jumps_ms", "drift_ms"):
        if hasattr(model, name):
            out[name] = float(getattr(model, name))
    return out


def restore_state(model: SimClock, state: dict[str, float]) -> None:
    """Inverse of :func:`clock_state` (fields the model lacks are ignored)."""
    for name, value in state.items():
        attr = "_t_set" if name == "t_set" else name
        if hasattr(model, attr):
            setattr(model, attr, int(value) if attr == "_t_set" else float(value))
    model._refresh()


class RunClock:
    """True time of a run: monotonic milliseconds since ``t0_ns``."""

    def __init__(self, t0_ns: int | None = None) -> None:
        self.t0_ns = time.monotonic_ns() if t0_ns is None else t0_ns

    def true_ms(self) -> int:
        return (time.monotonic_ns() - self.t0_ns) // 1_000_000

    def true_ns(self) -> int:
        return time.monotonic_ns() - self.t0_ns


class SkewClock:
    """A node's local clock: ``SimClock`` over :class:`RunClock` true time."""

    def __init__(self, run: RunClock, state: dict[str, float] | None = None) -> None:
        self.run = run
        self.model = SimClock()
        if state:  # carried across a restart: the machine's clock outlives the process
            restore_state(self.model, state)

    def read_ms(self) -> int:
        """The local reading handed to ``Core.tick``."""
        return self.model.read_ms(self.run.true_ms())

    def set(self, offset_ms: float, rate: float) -> None:
        self.model.set(self.run.true_ms(), offset_ms, rate)

    def jump(self, delta_ms: float) -> None:
        self.model.jump(delta_ms)

    def describe(self) -> dict[str, float]:
        return self.model.describe()
