"""The world as the real engine's driver wants it: links, clocks and failpoints.

Faults change the *desired* state here; the engine then pushes it to the node processes.
Keeping it on the driver (not only in the nodes) is what makes faults survive restarts the
way they do in the simulator: a partition belongs to the network, not to the process, so a
restarted node is told about every cut that still holds; a machine's clock skew outlives
its process (a restarted node replays the clock's changes); an armed failpoint is armed
again in every new incarnation.  Pure data: no processes, no I/O, no event loop.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from cluster.runtime.clock import ClockChange, ClockModel, replay
from faults.engine import HEALTHY, LinkSettings

__all__ = ["DesiredWorld", "FailpointSpec"]


@dataclass(frozen=True)
class FailpointSpec:
    """"Freeze when the batch in which you emit a ``kind`` event whose data matches
    ``where`` has ended, or ``delay_ms`` after that, and say so" (see
    ``protos/control.proto``: ``Failpoint``)."""

    id: str
    kind: str
    where: Mapping[str, Any] = field(default_factory=dict)
    delay_ms: int = 0


class DesiredWorld:
    def __init__(self, nodes: tuple[str, ...]) -> None:
        self.nodes = nodes
        self._links: dict[tuple[str, str], LinkSettings] = {}
        self._clock_changes: dict[str, list[ClockChange]] = {n: [] for n in nodes}
        self._clocks: dict[str, ClockModel] = {n: ClockModel() for n in nodes}
        self._failpoints: dict[str, FailpointSpec] = {}

    # --- links ----------------------------------------------------------------------------

    def link(self, src: str, dst: str) -> LinkSettings:
        return self._links.get((src, dst), HEALTHY)

    def cut(self, src: str, dst: str) -> bool:
        """Cut ``src -> dst``; False if it already was."""
        now = self.link(src, dst)
        if now.cut:
            return False
        self._links[(src, dst)] = now.with_cut(True)
        return True

    def restore(self, src: str, dst: str) -> bool:
        """Undo a cut; False if the link was not cut."""
        now = self.link(src, dst)
        if not now.cut:
            return False
        self._links[(src, dst)] = now.with_cut(False)
        return True

    def degrade(self, src: str, dst: str, settings: LinkSettings) -> LinkSettings:
        """Give ``src -> dst`` ``settings``' degradation (its cut stays as it is)."""
        new = self.link(src, dst).with_degradation(settings)
        self._links[(src, dst)] = new
        return new

    def links_of(self, node: str) -> Iterator[tuple[str, str, LinkSettings]]:
        """Every link that is not healthy-by-default and starts or ends at ``node``."""
        for (src, dst), settings in list(self._links.items()):
            if node in (src, dst):
                yield src, dst, settings

    # --- clocks ---------------------------------------------------------------------------

    def set_clock(self, node: str, t_ms: int, offset_ms: float, rate: float) -> None:
        change = ClockChange.set(t_ms, offset_ms, rate)
        change.apply(self._clocks[node])  # validates (rate > 0) before it is kept
        self._clock_changes[node].append(change)

    def jump_clock(self, node: str, delta_ms: float) -> None:
        change = ClockChange.jump(delta_ms)
        change.apply(self._clocks[node])
        self._clock_changes[node].append(change)

    def clock(self, node: str) -> ClockModel:
        """The node's clock model as the driver holds it (to describe and read it)."""
        return self._clocks[node]

    def clock_history(self, node: str) -> tuple[ClockChange, ...]:
        """What a new process of ``node`` replays to read what its machine's clock reads."""
        return tuple(self._clock_changes[node])

    def replayed_clock(self, node: str) -> ClockModel:
        return replay(self._clock_changes[node])

    # --- failpoints -----------------------------------------------------------------------

    def arm(self, fp: FailpointSpec) -> None:
        self._failpoints[fp.id] = fp

    def disarm(self, fp_id: str) -> bool:
        return self._failpoints.pop(fp_id, None) is not None

    def failpoint(self, fp_id: str) -> FailpointSpec | None:
        return self._failpoints.get(fp_id)

    def failpoints(self) -> tuple[FailpointSpec, ...]:
        return tuple(self._failpoints.values())
