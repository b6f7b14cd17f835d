"""The clock model: what a node *believes* the time is, as a function of true time.

Both engines use it.  Clock faults are inputs like any other (design principle 1): the
simulator passes each core its local reading of virtual true time on every tick, and the
real runtime applies the same model to the host's monotonic clock, so skew, drift and
NTP-style steps mean exactly the same thing on both engines, while each engine's scheduler
runs on true time.

The model, for true time ``t`` (ms)::

    local(t) = t + offset + drift + (rate - 1) * (t - t_set) + jumps

* ``offset`` and ``rate`` are *set* together (``Engine.set_clock``).  Setting them starts a
  fresh drift segment at ``t_set`` and folds the previous segment's drift into ``drift``, so a
  rate change is continuous -- a clock that ran fast for a while stays ahead, as a real
  drifting oscillator does -- while ``offset`` is absolute: healing an offset skew with
  ``set(0, 1)`` steps the clock back by that offset.  (Discarding accumulated drift on a
  rate change would step clocks backwards, which silently turns every rate fault into a
  clock-jump fault.)
* ``jumps`` accumulate (``Engine.jump_clock``) and survive ``set``: a strobe that steps the
  clock forward and back nets out to zero on its own, independently of any skew.

A machine has two clocks, and so does a node here.  The *wall* clock (:meth:`ClockModel.read_ms`)
is the whole model above: what ``CLOCK_REALTIME`` says, timestamps, what NTP steps.  The
*monotonic* clock (:meth:`ClockModel.read_mono_ms`) is ``CLOCK_MONOTONIC``: it counts the
oscillator's ticks, so it follows the rate (drift) but never an offset or a jump::

    mono(t) = t + drift + (rate - 1) * (t - t_set)

Timers (election timeouts, heartbeats, retries, leases) run on the monotonic reading, as on
a real machine, so a clock stepped back by a healed skew never silences them; timestamps
that are stored or compared across nodes read the wall clock, where skew does its damage.
"""

from __future__ import annotations

import math

__all__ = ["ClockModel"]


class ClockModel:
    """One node's clock.  Cheap to read when untouched (the common case)."""

    __slots__ = ("offset_ms", "rate", "jumps_ms", "drift_ms", "_t_set", "identity")

    def __init__(self) -> None:
        self.offset_ms = 0.0
        self.rate = 1.0
        self.jumps_ms = 0.0
        self.drift_ms = 0.0
        self._t_set = 0
        # A flag rather than recomputing "is this the identity?" on every tick: the hot loop
        # reads clocks hundreds of thousands of times per simulated minute.
        self.identity = True

    def read(self, true_ms: int) -> float:
        """The local reading (fractional ms) at true time ``true_ms``."""
        if self.identity:
            return float(true_ms)
        return (
            true_ms
            + self.offset_ms
            + self.drift_ms
            + (self.rate - 1.0) * (true_ms - self._t_set)
            + self.jumps_ms
        )

    def read_ms(self, true_ms: int) -> int:
        """The local reading floored to whole ms, as handed to ``Core.tick``."""
        if self.identity:
            return true_ms
        return math.floor(self.read(true_ms))

    def read_mono_ms(self, true_ms: int) -> int:
        """The monotonic reading at true time ``true_ms``: drift, never offset or jumps.

        Never goes back, whatever faults do: ``rate`` is always > 0 and a rate change
        keeps the drift so far (see :meth:`set`)."""
        if self.identity:
            return true_ms
        return math.floor(true_ms + self.drift_ms + (self.rate - 1.0) * (true_ms - self._t_set))

    def set(self, true_ms: int, offset_ms: float = 0.0, rate: float = 1.0) -> None:
        """From ``true_ms`` on, run at ``rate`` with absolute ``offset_ms`` (jumps kept)."""
        if not rate > 0:
            raise ValueError(f"clock rate must be > 0, got {rate!r}")
        self.drift_ms += (self.rate - 1.0) * (true_ms - self._t_set)
        self.offset_ms = float(offset_ms)
        self.rate = float(rate)
        self._t_set = true_ms
        self._refresh()

    def jump(self, delta_ms: float) -> None:
        """Step the clock by ``delta_ms`` (negative goes backwards, like an NTP step)."""
        self.jumps_ms += float(delta_ms)
        self._refresh()

    def _refresh(self) -> None:
        self.identity = (
            self.offset_ms == 0.0 and self.rate == 1.0 and self.jumps_ms == 0.0 and self.drift_ms == 0.0
        )

    def state(self) -> dict[str, float]:
        """Every setting, including the start of the current drift segment: what a node's
        clock must carry across a process restart (the machine's clock outlives the process)."""
        return {
            "offset_ms": self.offset_ms,
            "rate": self.rate,
            "jumps_ms": self.jumps_ms,
            "drift_ms": self.drift_ms,
            "t_set": float(self._t_set),
        }

    @classmethod
    def from_state(cls, state: dict[str, float]) -> ClockModel:
        """The clock :meth:`state` describes; keys it does not know are ignored."""
        clock = cls()
        clock.offset_ms = float(state.get("offset_ms", 0.0))
        clock.rate = float(state.get("rate", 1.0))
        clock.jumps_ms = float(state.get("jumps_ms", 0.0))
        clock.drift_ms = float(state.get("drift_ms", 0.0))
        clock._t_set = int(state.get("t_set", 0))
        clock._refresh()
        return clock

    def describe(self) -> dict[str, float]:
        """Current settings, for trace records and reports."""
        return {"offset_ms": self.offset_ms, "rate": self.rate, "jumps_ms": self.jumps_ms,
                "drift_ms": round(self.drift_ms, 3)}
