"""The shared driver loop does a Ready batch in field order, whatever the sink."""

from __future__ import annotations

from typing import Any

from cluster.core.types import ClientReply, CoreEvent, Message, Put, Ready
from cluster.driver import drain, drain_ready, two_clock_tick


class _Log:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def persist(self, ops: Any, sync: bool) -> None:
        self.calls.append(("persist", (ops, sync)))

    def send(self, msg: Message) -> None:
        self.calls.append(("send", msg))

    def reply(self, msg: ClientReply) -> None:
        self.calls.append(("reply", msg))

    def record(self, events: Any) -> None:
        self.calls.append(("record", events))


class _Core:
    node_id = "n1"

    def __init__(self, batch: Ready) -> None:
        self.batch = batch

    def tick(self, now_ms: int, wall_ms: int | None = None) -> None:
        pass

    def step(self, message: Message) -> None:
        pass

    def ready(self) -> Ready:
        return self.batch


def test_persist_then_send_then_reply_then_record() -> None:
    put = Put("term", 3)
    msg = Message("n1", "n2")
    rep = ClientReply("n1", "c1", "c1", 1, "ok")
    ev = CoreEvent("n1", "role", {"role": "leader"})
    sink = _Log()
    out = drain(_Core(Ready((put,), True, (msg,), (rep,), (ev,))), sink)
    assert [c[0] for c in sink.calls] == ["persist", "send", "reply", "record"]
    assert sink.calls[0][1] == ((put,), True)
    assert out.messages == (msg,)


def test_an_empty_batch_touches_nothing_and_never_syncs() -> None:
    sink = _Log()
    drain_ready(Ready(), sink)
    assert sink.calls == []


def test_unsynced_persist_is_passed_as_asked() -> None:
    sink = _Log()
    drain_ready(Ready((Put("k", 1),), False), sink)
    assert sink.calls == [("persist", ((Put("k", 1),), False))]


def test_send_first_sends_and_replies_before_the_persist_and_records_last() -> None:
    put = Put("log", 1)
    msg = Message("n1", "n2")
    rep = ClientReply("n1", "c1", "c1", 1, "ok")
    ev = CoreEvent("n1", "commit", {"index": 1})
    sink = _Log()
    drain_ready(Ready((put,), True, (msg,), (rep,), (ev,), send_first=True), sink)
    assert [c[0] for c in sink.calls] == ["send", "reply", "persist", "record"]


class _OneClockCore:
    """A core written against the one-clock protocol, as a plugin may be."""

    node_id = "n1"

    def __init__(self) -> None:
        self.ticks: list[int] = []

    def tick(self, now_ms: int) -> None:
        self.ticks.append(now_ms)

    def step(self, message: Message) -> None:
        pass

    def ready(self) -> Ready:
        return Ready()


def test_a_one_clock_core_is_ticked_with_the_monotonic_reading_and_a_two_clock_core_with_both() -> None:
    one = _OneClockCore()
    two_clock_tick(one)(500, -9500)  # type: ignore[arg-type]
    assert one.ticks == [500]
    seen: list[tuple[int, int | None]] = []

    class _Both(_OneClockCore):
        def tick(self, now_ms: int, wall_ms: int | None = None) -> None:  # type: ignore[override]
            seen.append((now_ms, wall_ms))

    two_clock_tick(_Both())(500, -9500)  # type: ignore[arg-type]
    assert seen == [(500, -9500)]


def test_the_simulator_runs_a_one_clock_core_on_its_monotonic_clock_through_a_step_back() -> None:
    import random

    from cluster.sim.network import SimNetwork
    from cluster.sim.process import NodeProcess
    from cluster.sim.recorder import Recorder
    from cluster.sim.scheduler import Scheduler
    from cluster.sim.transport import Transport

    sched = Scheduler()
    rec = Recorder(sched, trace_messages=False)
    core = _OneClockCore()
    proc = NodeProcess("n1", phase=0, tick_ms=10, make_core=lambda *_: core,  # type: ignore[arg-type,return-value]
                       stream=lambda _: random.Random(0), crash_rng=None, scheduler=sched,
                       transport=Transport(SimNetwork(random.Random(0)), sched, rec), recorder=rec)
    proc.start(None)
    proc.clock.set(0, offset_ms=10_000)  # a wall clock 10 s ahead that an NTP step will pull back
    sched.run_until(50)
    proc.clock.set(50, offset_ms=0)
    sched.run_until(100)
    assert core.ticks and core.ticks == sorted(core.ticks) and core.ticks[-1] <= 100
