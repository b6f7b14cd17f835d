"""Clock faults: a node's clock runs offset or fast/slow, or keeps jumping back and forth.

Leases, lease reads and timeouts trust local clocks; these faults show what happens when that
trust is misplaced.  Clock settings are kept on a per-node stack (see :mod:`faults.base`) so
healing one skew re-applies any other skew still active on that node instead of resetting it.
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


@register
@dataclass(frozen=True)
class ClockSkew(FaultBase):
    """Set ``node``'s clock to ``offset_ms + rate * true time`` until healed.

    ``offset_ms`` > 0 puts the clock ahead; ``rate`` > 1 makes it run fast (drift).  Heal sets
    offset 0 and rate 1 -- or the previous skew if another ClockSkew on that node is active.
    """

    name: ClassVar[str] = "clock-skew"

    node: str = "random"
    offset_ms: float = 2000.0
    rate: float = 1.0

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise FaultSpecError(
                f"fault {self.name!r}: field 'rate' must be > 0, got {self.rate!r}"
            )

    def apply(self, engine: Engine) -> Applied:
        chosen = resolve_one(engine, self.node)
        node = chosen.nodes[0]
        ledger = ledger_for(engine)
        token = ledger.token()
        ledger.push(("clock", node), token, (self.offset_ms, self.rate))
        engine.set_clock(node, offset_ms=self.offset_ms, rate=self.rate)
        return Applied(targets=chosen.nodes, token=token, notes=chosen.notes())

    def heal(self, engine: Engine, applied: Applied) -> None:
        node = applied.targets[0]
        remains, top = ledger_for(engine).pop(("clock", node), applied.token)
        offset, rate = top if remains else (0.0, 1.0)
        engine.set_clock(node, offset_ms=offset, rate=rate)

    def describe(self, applied: Applied) -> str:
        who = applied.named(applied.targets[0])
        parts = []
        if self.offset_ms:
            side = "ahead" if self.offset_ms > 0 else "behind"
            parts.append(f"{fmt_ms(abs(self.offset_ms))} {side}")
        if self.rate != 1.0:
            parts.append(f"running at {self.rate:g}x speed")
        return f"skewed the clock of {who}: " + (", ".join(parts) or "no change")


class _Strobe:
    """Live state of one strobe: whether it still runs and whether the clock is ahead now."""

    def __init__(self) -> None:
        self.active = True
        self.ahead = False


@register
@dataclass(frozen=True)
class ClockStrobe(FaultBase):
    """Jump ``node``'s clock forward by ``delta_ms`` and back again every ``period_ms``.

    Models a flapping NTP step.  Needs an engine with ``schedule(at_ms, fn)``.  Heal stops the
    loop and, if the clock is currently ahead, jumps it back so the net effect is zero.
    """

    name: ClassVar[str] = "clock-strobe"

    node: str = "random"
    delta_ms: float = 1000.0
    period_ms: int = 200

    def __post_init__(self) -> None:
        if self.period_ms <= 0:
            raise FaultSpecError(
                f"fault {self.name!r}: field 'period_ms' must be > 0, got {self.period_ms!r}"
            )

    def apply(self, engine: Engine) -> Applied:
        schedule = scheduler_of(engine)
        chosen = resolve_one(engine, self.node)
        node = chosen.nodes[0]
        state = _Strobe()

        def flip() -> None:
            if not state.active:
                return
            engine.jump_clock(node, -self.delta_ms if state.ahead else self.delta_ms)
            state.ahead = not state.ahead
            schedule(engine.now_ms() + self.period_ms, flip)

        flip()
        token = ledger_for(engine).token()
        return Applied(targets=chosen.nodes, token=token, notes=chosen.notes(), state=state)

    def heal(self, engine: Engine, applied: Applied) -> None:
        state: _Strobe = applied.state
        state.active = False
        if state.ahead:
            engine.jump_clock(applied.targets[0], -self.delta_ms)
            state.ahead = False

    def describe(self, applied: Applied) -> str:
        who = applied.named(applied.targets[0])
        return (
            f"strobed the clock of {who}, jumping {fmt_ms(self.delta_ms)} forward and back"
            f" every {fmt_ms(self.period_ms)}"
        )
