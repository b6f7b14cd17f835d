"""Degraded links: loss, delay with jitter, duplication and reordering on directed links.

Settings are absolute per link (``engine.set_link``), so overlapping degradations are kept on
a per-link stack: healing one re-applies the degradation still on top, or the healthy link.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from faults.base import (
    Applied,
    FaultBase,
    FaultNotApplicable,
    FaultSpecError,
    Link,
    Resolved,
    fmt_ms,
    join_nodes,
    ledger_for,
    resolve,
)
from faults.engine import HEALTHY, Engine, LinkSettings
from faults.registry import register

BARE_LOSS = 0.1
"""The loss of a link fault that names no effect at all (see :class:`LinkFault`)."""


def _ends(engine: Engine, target: str) -> Resolved:
    """``"*"`` is every node; anything else is a node id or selector."""
    return Resolved(engine.node_ids()) if target == "*" else resolve(engine, target)


@register
@dataclass(frozen=True)
class LinkFault(FaultBase):
    """Degrade every directed link from ``src`` to ``dst`` (each a node, selector or ``"*"``).

    ``loss``, ``duplicate`` and ``reorder`` are probabilities per message; ``delay_ms`` and
    ``jitter_ms`` add latency (delay +- jitter).  Links from a node to itself are skipped.

    Every effect defaults to none, with one exception: a link fault that names no effect at
    all (``{fault = "link"}``, or ``"link"`` in a random schedule's kinds) is a lossy link,
    10% loss (:data:`BARE_LOSS`).  A fault that names any effect gets exactly the effects it
    names -- a description of delay alone never hides loss.  ``to_dict`` writes every field, so
    a saved scenario and a report show the loss that was applied.
    """

    name: ClassVar[str] = "link"

    src: str = "*"
    dst: str = "*"
    loss: float | None = None
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0

    def __post_init__(self) -> None:
        if self.loss is None:
            bare = not (self.delay_ms or self.jitter_ms or self.duplicate or self.reorder)
            object.__setattr__(self, "loss", BARE_LOSS if bare else 0.0)
        for field_name in ("loss", "duplicate", "reorder"):
            value = getattr(self, field_name)
            if not 0.0 <= value <= 1.0:
                raise FaultSpecError(
                    f"fault {self.name!r}: field {field_name!r} must be between 0 and 1, got {value!r}"
                )
        for field_name in ("delay_ms", "jitter_ms"):
            value = getattr(self, field_name)
            if value < 0:
                raise FaultSpecError(
                    f"fault {self.name!r}: field {field_name!r} must be >= 0, got {value!r}"
                )

    def settings(self) -> LinkSettings:
        return LinkSettings(loss=float(self.loss or 0.0), delay_ms=self.delay_ms, jitter_ms=self.jitter_ms,
                            duplicate=self.duplicate, reorder=self.reorder)

    def apply(self, engine: Engine) -> Applied:
        src = _ends(engine, self.src)
        dst = _ends(engine, self.dst)
        links: tuple[Link, ...] = tuple((s, d) for s in src.nodes for d in dst.nodes if s != d)
        if not links:
            raise FaultNotApplicable(
                f"no links from {join_nodes(src.nodes)} to {join_nodes(dst.nodes)}"
            )
        ledger = ledger_for(engine)
        token = ledger.token()
        settings = self.settings()
        for s, d in links:
            ledger.push(("link", s, d), token, settings)
            engine.set_link(s, d, **settings.degradation())
        senders = tuple(n for n in src.nodes if any(s == n for s, _ in links))
        receivers = tuple(n for n in dst.nodes if any(d == n for _, d in links))
        targets = senders + tuple(n for n in receivers if n not in senders)
        return Applied(
            targets=targets,
            token=token,
            links=links,
            groups=(senders, receivers),
            notes=src.notes() + dst.notes(),
        )

    def heal(self, engine: Engine, applied: Applied) -> None:
        ledger = ledger_for(engine)
        for s, d in applied.links:
            remains, top = ledger.pop(("link", s, d), applied.token)
            engine.set_link(s, d, **(top if remains else HEALTHY).degradation())

    def describe(self, applied: Applied) -> str:
        effects = []
        if self.loss:
            effects.append(f"{self.loss:.0%} loss")
        if self.delay_ms or self.jitter_ms:
            jitter = f" +- {fmt_ms(self.jitter_ms)}" if self.jitter_ms else ""
            effects.append(f"{fmt_ms(self.delay_ms)}{jitter} delay")
        if self.duplicate:
            effects.append(f"{self.duplicate:.0%} duplicated")
        if self.reorder:
            effects.append(f"{self.reorder:.0%} reordered")
        src, dst = applied.groups
        where = (
            "every link"
            if self.src == "*" and self.dst == "*"
            else f"links from {join_nodes([applied.named(n) for n in src])} to {join_nodes(dst)}"
        )
        return f"degraded {where}: {', '.join(effects) or 'no change'}"
