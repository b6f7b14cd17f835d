"""The engine interface that fault models act on.

Faults are data (design principle 6); *engines* apply them.  The simulator and the real
runtime both implement :class:`Engine`, so one fault vocabulary serves both.  Methods are
idempotent where that is natural (cutting a cut link is a no-op) so overlapping faults
compose, and every method is named for what a learner would call it.
"""

from __future__ import annotations

import random
from typing import Protocol


class Engine(Protocol):
    # --- who is there ------------------------------------------------------------------
    def node_ids(self) -> tuple[str, ...]:
        """All server nodes, in a fixed order."""

    def leader(self) -> str | None:
        """The node that currently believes it is leader with the highest term, if any."""

    def now_ms(self) -> int:
        """Engine time in milliseconds (virtual in the simulator, monotonic in the runtime)."""

    @property
    def rng(self) -> random.Random:
        """Seeded randomness for fault decisions (which node, how long)."""

    # --- network -----------------------------------------------------------------------
    def cut(self, src: str, dst: str) -> None:
        """Drop everything sent from ``src`` to ``dst`` (one direction) until restored."""

    def restore(self, src: str, dst: str) -> None:
        """Undo :meth:`cut` for that direction."""

    def set_link(
        self,
        src: str,
        dst: str,
        *,
        loss: float = 0.0,
        delay_ms: float = 0.0,
        jitter_ms: float = 0.0,
        duplicate: float = 0.0,
        reorder: float = 0.0,
    ) -> None:
        """Degrade one direction of a link.  All zeros restores the healthy link."""

    # --- clocks ------------------------------------------------------------------------
    def set_clock(self, node: str, *, offset_ms: float = 0.0, rate: float = 1.0) -> None:
        """Set the node's clock to ``offset + rate * true_time`` from now on (continuous)."""

    def jump_clock(self, node: str, delta_ms: float) -> None:
        """Step the node's clock by ``delta_ms`` (may go backwards, like an NTP step)."""

    # --- processes ---------------------------------------------------------------------
    def crash(self, node: str) -> None:
        """Kill the node: volatile state and unsynced writes are lost."""

    def restart(self, node: str) -> None:
        """Start a crashed node again from its durable state."""

    def pause(self, node: str) -> None:
        """Freeze the node (like SIGSTOP or a long GC pause): no processing, no timers."""

    def resume(self, node: str) -> None:
        """Unfreeze a paused node; it processes what queued up meanwhile."""

    # --- observation ---------------------------------------------------------------------
    def record(self, kind: str, data: dict[str, object]) -> None:
        """Append a fault event to the trace (kind e.g. "fault-start", "fault-end")."""
