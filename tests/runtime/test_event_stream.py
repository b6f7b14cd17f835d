"""The driver's follower of a node's event stream (``RayEngine._follow_events``): a stream
that breaks while its node is up is opened again and reported; one of a crashed node ends
quietly.  A scripted control stub stands in for the node's gRPC service."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc

from cluster.runtime.engine import RayEngine
from cluster.runtime.handles import CRASHED, UP
from protos import control_pb2


def _batch(kind: str, t: int) -> control_pb2.TraceEvents:
    return control_pb2.TraceEvents(events=[control_pb2.TraceEvent(kind=kind, node="n1", t=t, data_json=b"{}")])


class _Control:
    """``Events`` streams: the first breaks after one event, the next ones run ``script``."""

    def __init__(self, engine: RayEngine, breaks: int) -> None:
        self.engine = engine
        self.breaks = breaks
        self.calls = 0

    def Events(self, request: Any) -> AsyncIterator[control_pb2.TraceEvents]:  # noqa: N802 - the gRPC name
        self.calls += 1
        call = self.calls
        node = self.engine._nodes["n1"]

        async def stream() -> AsyncIterator[control_pb2.TraceEvents]:
            yield _batch("tick", call)
            if call <= self.breaks:
                raise grpc.aio.AioRpcError(grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(),
                                           "stream removed")
            node.state = CRASHED  # the node is then crashed on purpose: its stream ends

        return stream()


def _follow(breaks: int) -> tuple[RayEngine, _Control]:
    """Follow n1's stream (n1 up) until the follower gives up; the engine and the stub."""
    loop = asyncio.new_event_loop()
    try:
        engine = RayEngine(specs={"n1": object()}, seed=1, make_actor=lambda spec: None, loop=loop)  # type: ignore[dict-item]
        engine._nodes["n1"].state = UP
        control = _Control(engine, breaks=breaks)
        loop.run_until_complete(engine._follow_events(engine._nodes["n1"], control, 0))
    finally:
        loop.close()
    return engine, control


def test_a_broken_stream_of_a_live_node_is_opened_again_and_reported() -> None:
    engine, control = _follow(breaks=1)
    assert control.calls == 2 and engine.streamed == 2
    assert len(engine.errors) == 1
    assert engine.errors[0].startswith("n1: event stream failed (UNAVAILABLE) at ")
    assert engine.errors[0].endswith(" ms while the node was up; opened again")


def test_the_stream_of_a_crashed_node_ends_without_an_error() -> None:
    engine, control = _follow(breaks=0)
    assert control.calls == 1 and engine.errors == []


def test_a_stream_that_keeps_breaking_is_given_up_after_a_few_tries() -> None:
    engine, control = _follow(breaks=100)
    assert control.calls == 4 and len(engine.errors) == 4
    assert engine.errors[-1].endswith("the triggers no longer see its events")
