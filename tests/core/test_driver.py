"""The shared driver loop does a Ready batch in field order, whatever the sink."""

from __future__ import annotations

from typing import Any

from cluster.core.types import ClientReply, CoreEvent, Message, Put, Ready
from cluster.driver import drain, drain_ready


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
