"""The :class:`Core` protocol: what both engines require of a protocol core.

It is re-exported by :mod:`cluster.core.types`, where every core and engine imports it
from.  It lives in a module of its own because ``types`` may be compiled with mypyc
(:mod:`cluster.native`), which turns a protocol class into a native trait; this module
stays interpreted, so ``Core`` stays a ``typing.Protocol`` and ``isinstance(x, Core)``
works in both modes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from cluster.core.types import Message, Ready

__all__ = ["Core"]


@runtime_checkable
class Core(Protocol):
    """What both engines require of a protocol core (see :mod:`cluster.core.types`)."""

    node_id: str

    def tick(self, now_ms: int, wall_ms: int | None = None) -> None: ...

    def step(self, message: Message) -> None: ...

    def ready(self) -> Ready: ...
