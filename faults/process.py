"""Process faults: crash (and restart), crash-restart loops, pause (and resume).

A crash loses volatile state and unsynced writes, so it tests durability; a pause keeps all
state but stops time for the node, so it tests what a node does when it wakes up believing it
is still leader.  Crashes and pauses are reference counted per node so overlapping faults
restart or resume a node only when the last one heals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from faults.base import (
    Applied,
    FaultBase,
    FaultSpecError,
    fmt_ms,
    ledger_for,
    resolve_one,
    scheduler_of,
)
from faults.engine import Engine
from faults.registry import register


def _down(engine: Engine, node: str) -> None:
    if ledger_for(engine).acquire(("crash", node)):
        engine.crash(node)


def _up(engine: Engine, node: str) -> None:
    if ledger_for(engine).release(("crash", node)):
        engine.restart(node)


@register
@dataclass(frozen=True)
class Crash(FaultBase):
    """Kill ``node``; heal restarts it from durable state."""

    name: ClassVar[str] = "crash"

    node: str = "random"

    def apply(self, engine: Engine) -> Applied:
        chosen = resolve_one(engine, self.node)
        _down(engine, chosen.nodes[0])
        return Applied(targets=chosen.nodes, token=ledger_for(engine).token(), notes=chosen.notes())

    def heal(self, engine: Engine, applied: Applied) -> None:
        _up(engine, applied.targets[0])

    def describe(self, applied: Applied) -> str:
        return f"crashed {applied.named(applied.targets[0])}"


class _Loop:
    """Live state of one crash-restart loop."""

    def __init__(self) -> None:
        self.active = True
        self.down = False


@register
@dataclass(frozen=True)
class CrashRestartLoop(FaultBase):
    """Crash ``node``, restart it ``down_ms`` later, crash it again ``up_ms`` after that...

    The node is chosen once, when the fault applies.  Needs an engine with
    ``schedule(at_ms, fn)``.  Heal stops the loop and restarts the node if it is down.
    """

    name: ClassVar[str] = "crash-restart-loop"

    node: str = "random"
    down_ms: int = 1000
    up_ms: int = 2000

    def __post_init__(self) -> None:
        for field_name in ("down_ms", "up_ms"):
            value = getattr(self, field_name)
            if value <= 0:
                raise FaultSpecError(
                    f"fault {self.name!r}: field {field_name!r} must be > 0, got {value!r}"
                )

    def apply(self, engine: Engine) -> Applied:
        schedule = scheduler_of(engine)
        chosen = resolve_one(engine, self.node)
        node = chosen.nodes[0]
        state = _Loop()

        def go_down() -> None:
            if not state.active:
                return
            _down(engine, node)
            state.down = True
            schedule(engine.now_ms() + self.down_ms, go_up)

        def go_up() -> None:
            if not state.active:
                return
            _up(engine, node)
            state.down = False
            schedule(engine.now_ms() + self.up_ms, go_down)

        go_down()
        token = ledger_for(engine).token()
        return Applied(targets=chosen.nodes, token=token, notes=chosen.notes(), state=state)

    def heal(self, engine: Engine, applied: Applied) -> None:
        state: _Loop = applied.state
        state.active = False
        if state.down:
            _up(engine, applied.targets[0])
            state.down = False

    def describe(self, applied: Applied) -> str:
        return (
            f"crashed and restarted {applied.named(applied.targets[0])} over and over"
            f" (down {fmt_ms(self.down_ms)}, up {fmt_ms(self.up_ms)})"
        )


@register
@dataclass(frozen=True)
class Pause(FaultBase):
    """Freeze ``node`` (SIGSTOP, a long GC pause); heal resumes it with its state intact."""

    name: ClassVar[str] = "pause"

    node: str = "random"

    def apply(self, engine: Engine) -> Applied:
        chosen = resolve_one(engine, self.node)
        node = chosen.nodes[0]
        if ledger_for(engine).acquire(("pause", node)):
            engine.pause(node)
        return Applied(targets=chosen.nodes, token=ledger_for(engine).token(), notes=chosen.notes())

    def heal(self, engine: Engine, applied: Applied) -> None:
        node = applied.targets[0]
        if ledger_for(engine).release(("pause", node)):
            engine.resume(node)

    def describe(self, applied: Applied) -> str:
        return f"paused {applied.named(applied.targets[0])}"
