"""How the runner drives a started engine, whichever engine it is.

An engine comes with a *launcher*: ``launcher.open(spec)`` is a context manager that
starts the cluster described by a :class:`~cluster.spec.ClusterSpec` and yields a
:class:`Session`; leaving it stops everything the engine started (processes, brokers,
servers, temporary folders), whatever happened.  The runner then does the same thing on
every engine: install the fault schedule on ``session.engine``, :meth:`Session.run` for
the scenario's duration, :meth:`Session.settle`, read the end state through
:meth:`Session.final_view`, and :meth:`Session.collect` the history, trace and stats.

What differs between engines is behind these calls and said in their docstrings: the
simulator's time is virtual and its run is a function of the seed; the real engine's is
wall-clock time on real processes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from analysis.history import Event
from cluster.core.types import Core
from cluster.spec import ClusterSpec
from faults.schedule import SchedulingEngine

__all__ = ["Collected", "FinalView", "Launcher", "Progress", "Session"]

Progress = Callable[[int, int], None]
"""``(engine ms so far, total ms)``, called now and then while a run goes on."""


class FinalView(Protocol):
    """The cluster at the end of a run, as a system's end-of-run hooks read it."""

    def node_ids(self) -> tuple[str, ...]: ...

    def node_state(self, node: str) -> str:
        """``up``, ``paused`` or ``crashed``."""

    @property
    def nodes(self) -> Mapping[str, Core]:
        """The cores of the nodes that are up, as they are now."""

    def durable(self, node: str) -> Mapping[str, Any]:
        """The node's durable state: what it would restart from (down nodes included)."""

    def record(self, kind: str, data: dict[str, object]) -> None:
        """Append a record to the run's trace."""


@dataclass
class Collected:
    """What a finished run leaves: the history, the trace (in time order) and statistics."""

    events: list[Event]
    trace: list[dict[str, Any]]
    stats: dict[str, Any] = field(default_factory=dict)


class Session(Protocol):
    """A started engine, as the runner drives it (see the module doc)."""

    @property
    def engine(self) -> SchedulingEngine:
        """What fault schedules act on."""

    def run(self, duration_ms: int, *, deadline: float, progress: Progress | None = None) -> None:
        """Run the clients' workload for ``duration_ms`` of engine time, or until the
        wall clock (``time.monotonic()``) passes ``deadline``."""

    def settle(self, heal_all: Callable[[], None], settle_ms: int, *, deadline: float) -> None:
        """A quiet tail for checkers that judge liveness (``heal_all`` heals every fault)."""

    def final_view(self) -> FinalView: ...

    def collect(self) -> Collected: ...


class Launcher(Protocol):
    """An engine, ready to start clusters."""

    name: str
    """The engine's name in results folders and in scenario files (``sim``, ``ray``)."""
    real_time: bool
    """True when a run takes real time (a system's real-time defaults then apply)."""

    def open(self, spec: ClusterSpec) -> contextlib.AbstractContextManager[Session]: ...
