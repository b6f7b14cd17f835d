"""The real engine's settle phase (``cluster.runtime.launch.settle_until_calm``): calm is
claimed only after a whole window in which every node was up and wired and none reported
an event.  A fake engine stands in for RayEngine (what settle reads of it is three methods
and a counter), and the waits are shortened."""

from __future__ import annotations

import asyncio
import time

import pytest

from cluster.runtime import launch


class _Engine:
    """Nodes that wire at given times (None: never) and events streamed until ``busy_until``."""

    def __init__(self, wire_at: dict[str, float | None], busy_until: float = 0.0) -> None:
        self.t0 = time.monotonic()
        self.wire_at = wire_at
        self.busy_until = busy_until
        self.thawed = 0
        self._streamed = 0

    @property
    def streamed(self) -> int:
        if time.monotonic() - self.t0 < self.busy_until:
            self._streamed += 1
        return self._streamed

    def unwired(self) -> list[str]:
        now = time.monotonic() - self.t0
        return [n for n, at in self.wire_at.items() if at is None or now < at]

    def wired(self) -> bool:
        return not self.unwired()

    def thaw_all(self) -> None:
        self.thawed += 1


@pytest.fixture(autouse=True)
def _short_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(launch, "_MAX_WIRE_WAIT_S", 0.4)
    monkeypatch.setattr(launch, "_MAX_SETTLE_EXTRA_S", 0.8)


def _settle(engine: _Engine, deadline_s: float = 30.0) -> launch.SettleOutcome:
    # settle_ms=0 gives a 0.5 s window
    return asyncio.run(launch.settle_until_calm(engine, 0, time.monotonic() + deadline_s))


def test_a_quiet_wired_system_is_calm_after_one_window() -> None:
    engine = _Engine({"n1": 0.0, "n2": 0.0})
    out = _settle(engine)
    assert out.calm and out.unwired == () and engine.thawed == 1
    assert 0.45 <= out.settle_s < 1.5 and out.window_s == 0.5


def test_a_node_that_never_came_back_is_not_calm_and_is_named() -> None:
    """Silence from a node that is still restarting is not calm: its work is still to come."""
    engine = _Engine({"n1": 0.0, "n3": None})
    out = _settle(engine)
    assert not out.calm and out.unwired == ("n3",)
    assert engine.thawed == 1


def test_a_late_restart_gets_a_whole_window_after_it_wired() -> None:
    """n3 wires after the wiring wait gave up (0.4 s) but within the calm budget: calm,
    measured from when it wired."""
    engine = _Engine({"n1": 0.0, "n3": 0.7})
    out = _settle(engine)
    assert out.calm and out.settle_s >= 0.7 + 0.35  # a window (0.5 s) from the last look (0.1 s steps) at it down


def test_a_system_still_working_at_the_limit_is_not_calm() -> None:
    engine = _Engine({"n1": 0.0}, busy_until=10.0)
    out = _settle(engine)
    assert not out.calm and out.unwired == ()
    assert out.settle_s < 3.0


def test_no_calm_is_claimed_without_a_whole_window_watched() -> None:
    """A run whose time limit is (nearly) spent cannot watch a window: not calm."""
    engine = _Engine({"n1": 0.0})
    assert not _settle(engine, deadline_s=0.1).calm


def test_the_checkers_name_the_nodes_still_restarting() -> None:
    from analysis import trace_kinds as K
    from analysis.idempotency import settle_unfinished

    why = settle_unfinished([{"kind": K.SETTLE_UNFINISHED, "settle_s": 91.5, "window_s": 5.0, "unwired": ["n3"]}])
    assert why == "n3 was still restarting when the settle phase ended after 91.5 s of real time"
    why = settle_unfinished([{"kind": K.SETTLE_UNFINISHED, "settle_s": 40, "window_s": 5.0}])
    assert why is not None and why.startswith("the nodes were still working")
