"""Tests for ``faults``, plus :class:`FakeEngine`, a recording engine with a manual clock."""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Mapping
from typing import Any

Hook = Callable[[str, Mapping[str, Any]], None]


class FakeEngine:
    """Implements ``faults.engine.Engine`` plus ``schedule``/``add_event_hook`` by recording.

    ``calls`` lists every engine action as a tuple, e.g. ``("cut", "n1", "n2")``;
    ``timeline`` is the same with the engine time of each call; ``records`` lists ``(kind, data)`` from :meth:`record`.  Time moves only in
    :meth:`run_until`, which fires due callbacks in (time, insertion) order.
    """

    def __init__(
        self,
        nodes: tuple[str, ...] = ("n1", "n2", "n3"),
        leader: str | None = "n1",
        seed: int = 7,
    ) -> None:
        self.nodes = nodes
        self.current_leader = leader
        self._rng = random.Random(seed)
        self.time = 0
        self.calls: list[tuple[Any, ...]] = []
        self.timeline: list[tuple[int, tuple[Any, ...]]] = []
        self.records: list[tuple[str, dict[str, object]]] = []
        self.hooks: list[Hook] = []
        self._timers: list[tuple[int, int, Callable[[], None]]] = []
        self._seq = 0

    def _do(self, call: tuple[Any, ...]) -> None:
        self.calls.append(call)
        self.timeline.append((self.time, call))

    # Engine
    def node_ids(self) -> tuple[str, ...]:
        return self.nodes

    def leader(self) -> str | None:
        return self.current_leader

    def now_ms(self) -> int:
        return self.time

    @property
    def rng(self) -> random.Random:
        return self._rng

    def cut(self, src: str, dst: str) -> None:
        self._do(("cut", src, dst))

    def restore(self, src: str, dst: str) -> None:
        self._do(("restore", src, dst))

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
        self._do(("set_link", src, dst, loss, delay_ms, jitter_ms, duplicate, reorder))

    def set_clock(self, node: str, *, offset_ms: float = 0.0, rate: float = 1.0) -> None:
        self._do(("set_clock", node, offset_ms, rate))

    def jump_clock(self, node: str, delta_ms: float) -> None:
        self._do(("jump_clock", node, delta_ms))

    def crash(self, node: str) -> None:
        self._do(("crash", node))

    def restart(self, node: str) -> None:
        self._do(("restart", node))

    def pause(self, node: str) -> None:
        self._do(("pause", node))

    def resume(self, node: str) -> None:
        self._do(("resume", node))

    def record(self, kind: str, data: dict[str, object]) -> None:
        self.records.append((kind, data))

    # simulator extras
    def schedule(self, at_ms: int, fn: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._timers, (max(at_ms, self.time), self._seq, fn))

    def add_event_hook(self, fn: Hook) -> None:
        self.hooks.append(fn)

    def emit(self, kind: str, data: Mapping[str, Any]) -> None:
        for hook in list(self.hooks):
            hook(kind, data)

    def run_until(self, t: int) -> None:
        while self._timers and self._timers[0][0] <= t:
            at, _, fn = heapq.heappop(self._timers)
            self.time = at
            fn()
        self.time = t

    # helpers for assertions
    def fault_events(self) -> list[tuple[str, object, object]]:
        """``(kind, id, description)`` for fault-start / fault-end / fault-skipped records."""
        return [(k, d.get("id"), d.get("description", d.get("reason"))) for k, d in self.records]
