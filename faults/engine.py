"""The engine interface that fault models act on.

Faults are data (design principle 6); *engines* apply them.  The simulator and the real
runtime both implement :class:`Engine`, so one fault vocabulary serves both.  Methods are
idempotent where that is natural (cutting a cut link is a no-op) so overlapping faults
compose, and every method is named for what a learner would call it.

:class:`LinkSettings` is the one value type for what a directed link does to messages
(cut, loss, delay, jitter, duplication, reordering): the fault models build it, the
engines store and apply it, a scenario's ``network`` table is parsed into it.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Protocol

__all__ = ["HEALTHY", "Engine", "LinkSettings"]


@dataclass(frozen=True, slots=True)
class LinkSettings:
    """What one directed link ``src -> dst`` does to messages; the defaults are healthy.

    ``cut`` drops everything; ``loss``, ``duplicate`` and ``reorder`` are per-message
    probabilities; ``delay_ms`` +- ``jitter_ms`` is added latency.  The *degradation* (every
    field but ``cut``) is what :meth:`Engine.set_link` sets; ``cut`` is what
    :meth:`Engine.cut` and :meth:`Engine.restore` toggle, so a partition and a degraded link
    overlap without undoing each other.
    """

    cut: bool = False
    loss: float = 0.0
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0

    DEGRADATION: ClassVar[tuple[str, ...]] = ("loss", "delay_ms", "jitter_ms", "duplicate", "reorder")
    """The fields :meth:`Engine.set_link` takes, in its keyword order."""

    def __post_init__(self) -> None:
        for name in ("loss", "duplicate", "reorder"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"link {name} must be between 0 and 1, got {p!r}")
        for name in ("delay_ms", "jitter_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"link {name} must be >= 0, got {getattr(self, name)!r}")

    def healthy(self) -> bool:
        return not self.cut and not self.degraded()

    def degraded(self) -> bool:
        """Anything besides the cut flag set?"""
        return bool(self.loss or self.delay_ms or self.jitter_ms or self.duplicate or self.reorder)

    def degradation(self) -> dict[str, float]:
        """The keyword arguments of :meth:`Engine.set_link` that give this link."""
        return {name: float(getattr(self, name)) for name in self.DEGRADATION}

    def with_cut(self, cut: bool) -> LinkSettings:
        return self if self.cut == cut else replace(self, cut=cut)

    def with_degradation(self, other: LinkSettings) -> LinkSettings:
        """``other``'s degradation with this link's cut flag (what ``set_link`` does)."""
        return replace(other, cut=self.cut)

    @classmethod
    def from_mapping(cls, spec: Mapping[str, Any], *, where: str = "network") -> LinkSettings:
        """Build from plain data (a scenario's ``network`` table); ``ValueError`` names the
        field and ``where``.  Only degradation fields: a link that starts cut is a fault."""
        allowed = set(cls.DEGRADATION)
        for key in spec:
            if key not in allowed:
                raise ValueError(f"{where}: unknown field {key!r}; allowed: {', '.join(sorted(allowed))}")
        kw: dict[str, float] = {}
        for key, value in spec.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{where}: field {key!r} must be a number, got {value!r}")
            kw[key] = float(value)
        try:
            return cls(**kw)  # type: ignore[arg-type]
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None


HEALTHY = LinkSettings()
"""A healthy link."""


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
        """Degrade one direction of a link (:meth:`LinkSettings.degradation` gives these
        arguments).  All zeros restores the healthy link; a cut stays as it is."""

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
