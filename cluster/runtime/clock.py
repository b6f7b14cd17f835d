"""A real node clock that faults can skew, drift and step at run time.

True time is the host's monotonic clock measured from the run's start (``t0_ns``, shared
by every process of a run: ``CLOCK_MONOTONIC`` is system-wide on Linux, and all actors are
pinned to the driver's machine).  What the node *believes* is the simulator's clock model
applied to that true time -- the same :class:`cluster.clock.ClockModel`, so
``offset + rate`` settings and jumps mean exactly what they mean in the simulator, and a
scenario's clock faults behave the same on both engines.

A machine's clock outlives its processes: a restarted node must read exactly what its
predecessor would have read.  The driver keeps, per node, the list of changes made to the
clock (:class:`ClockChange`: each ``set`` with the true time it happened at, each ``jump``)
and a new process replays them onto a fresh model -- through the model's public methods
only, so the runtime never depends on how the model stores its state.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from cluster.clock import ClockModel

__all__ = ["ClockChange", "ClockModel", "RunClock", "SkewClock", "replay"]


@dataclass(frozen=True)
class ClockChange:
    """One change to a node's clock: ``set`` (at true ``t_ms``: ``offset_ms`` and ``rate``
    from then on) or ``jump`` (step by ``delta_ms``)."""

    op: str
    t_ms: int = 0
    offset_ms: float = 0.0
    rate: float = 1.0
    delta_ms: float = 0.0

    @classmethod
    def set(cls, t_ms: int, offset_ms: float, rate: float) -> ClockChange:
        return cls("set", t_ms=int(t_ms), offset_ms=float(offset_ms), rate=float(rate))

    @classmethod
    def jump(cls, delta_ms: float) -> ClockChange:
        return cls("jump", delta_ms=float(delta_ms))

    def apply(self, model: ClockModel) -> None:
        if self.op == "set":
            model.set(self.t_ms, self.offset_ms, self.rate)
        elif self.op == "jump":
            model.jump(self.delta_ms)
        else:
            raise ValueError(f"unknown clock change {self.op!r}")


def replay(changes: Iterable[ClockChange]) -> ClockModel:
    """A clock model that has been through ``changes``, in order."""
    model = ClockModel()
    for change in changes:
        change.apply(model)
    return model


class RunClock:
    """True time of a run: monotonic milliseconds since ``t0_ns``."""

    def __init__(self, t0_ns: int | None = None) -> None:
        self.t0_ns = time.monotonic_ns() if t0_ns is None else t0_ns

    def true_ms(self) -> int:
        return (time.monotonic_ns() - self.t0_ns) // 1_000_000

    def true_ns(self) -> int:
        return time.monotonic_ns() - self.t0_ns


class SkewClock:
    """A node's local clock: the shared ``ClockModel`` over :class:`RunClock` true time.  ``history``
    is the machine's clock so far (carried across a restart)."""

    def __init__(self, run: RunClock, history: Iterable[ClockChange] = ()) -> None:
        self.run = run
        self.model = replay(history)

    def read_ms(self) -> int:
        """The local wall-clock reading handed to ``Core.tick`` (its ``wall_ms``)."""
        return self.model.read_ms(self.run.true_ms())

    def read_mono_ms(self) -> int:
        """The local monotonic reading handed to ``Core.tick`` (its ``now_ms``): drift, no steps."""
        return self.model.read_mono_ms(self.run.true_ms())

    def readings(self) -> tuple[int, int]:
        """``(monotonic, wall)`` at one instant of true time, as ``Core.tick`` takes them."""
        true_ms = self.run.true_ms()
        return self.model.read_mono_ms(true_ms), self.model.read_ms(true_ms)

    def set(self, offset_ms: float, rate: float) -> None:
        self.model.set(self.run.true_ms(), offset_ms, rate)

    def jump(self, delta_ms: float) -> None:
        self.model.jump(delta_ms)

    def describe(self) -> dict[str, float]:
        return self.model.describe()
