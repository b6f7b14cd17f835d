"""The gRPC services a node serves: peer links, client sessions, and control.

Kept apart from :mod:`cluster.runtime.node` (the driver loop) because they are the wire
surface: each turns a stream or call into inputs for :class:`~cluster.runtime.node.NodeHost`
(``deliver``, sessions, fault settings) and its outputs back into protobuf, and nothing else.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio

from cluster.core.types import ClientReply, ClientRequest
from cluster.runtime.codec import CodecError, decode, decode_request, encode_reply
from faults.engine import LinkSettings
from protos import control_pb2, messages_pb2, node_pb2_grpc
from protos import control_pb2_grpc as control_grpc

if TYPE_CHECKING:
    from cluster.runtime.node import NodeHost

__all__ = ["ClientService", "ControlService", "LinkService"]


class LinkService(node_pb2_grpc.NodeLinkServicer):
    """Inbound half of the peer links: decode and step every envelope."""

    def __init__(self, host: NodeHost) -> None:
        self.host = host

    async def Exchange(self, request_iterator: Any, context: grpc.aio.ServicerContext) -> None:  # noqa: N802
        host = self.host
        async for env in request_iterator:
            if env.src in host._blocked_in:
                # The receiving half of a cut: gRPC reports UNAVAILABLE to the sender, as it
                # would for a real partition, and the sender redials until the link heals.
                await context.abort(grpc.StatusCode.UNAVAILABLE, f"link {env.src}->{host.node_id} is cut")
            try:
                msg = decode(env)
            except CodecError:
                host.stats["decode_errors"] += 1
                continue
            host.stats["received"] += 1
            if host.metrics is not None:
                host.metrics.received.inc()
            host.deliver(msg)


class ClientService(node_pb2_grpc.ClientServicer):
    """Client sessions: requests in, replies (routed by client id) out."""

    def __init__(self, host: NodeHost) -> None:
        self.host = host

    def _accept(self, req: messages_pb2.ClientRequest, q: asyncio.Queue[ClientReply]) -> None:
        host = self.host
        msg: ClientRequest = decode_request(req)
        host._sessions[msg.client_id] = q
        if host.metrics is not None:
            host.metrics.client_requests.inc()
        host.deliver(msg)

    async def Session(self, request_iterator: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[messages_pb2.ClientReply]:  # noqa: N802
        q: asyncio.Queue[ClientReply] = asyncio.Queue()
        self.host._session_opened(q)

        async def pump() -> None:
            async for req in request_iterator:
                self._accept(req, q)

        reader = asyncio.get_running_loop().create_task(pump())
        try:
            while True:
                getter = asyncio.ensure_future(q.get())
                done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    yield encode_reply(getter.result())
                else:
                    getter.cancel()
                    return
        finally:
            reader.cancel()
            self.host._session_closed(q)

    async def Execute(self, request: messages_pb2.ClientRequest, context: grpc.aio.ServicerContext) -> messages_pb2.ClientReply:  # noqa: N802
        q: asyncio.Queue[ClientReply] = asyncio.Queue()
        self._accept(request, q)
        remaining = context.time_remaining()
        try:
            while True:
                reply = await asyncio.wait_for(q.get(), timeout=remaining if remaining else 5.0)
                if reply.seq == request.seq:
                    return encode_reply(reply)
        except TimeoutError:
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "no reply from the core in time")
            raise  # unreachable: abort raises
        finally:
            if self.host._sessions.get(request.client_id) is q:
                del self.host._sessions[request.client_id]


class ControlService(control_grpc.ControlServicer):
    def __init__(self, host: NodeHost) -> None:
        self.host = host

    async def Status(self, request: Any, context: Any) -> control_pb2.NodeStatus:  # noqa: N802
        return self.host.status()

    async def SetLink(self, request: control_pb2.LinkSettings, context: Any) -> control_pb2.Ack:  # noqa: N802
        self.host.set_link(
            request.dst,
            LinkSettings(cut=request.cut, loss=request.loss, delay_ms=request.delay_ms,
                         jitter_ms=request.jitter_ms, duplicate=request.duplicate, reorder=request.reorder),
            inbound=request.inbound,
        )
        return control_pb2.Ack()

    async def BlockInbound(self, request: control_pb2.InboundBlock, context: Any) -> control_pb2.Ack:  # noqa: N802
        self.host.block_inbound(request.src, request.blocked)
        return control_pb2.Ack()

    async def SetClock(self, request: control_pb2.ClockSettings, context: Any) -> control_pb2.Ack:  # noqa: N802
        self.host.clock.set(request.offset_ms, request.rate or 1.0)
        return control_pb2.Ack()

    async def JumpClock(self, request: control_pb2.ClockJump, context: Any) -> control_pb2.Ack:  # noqa: N802
        self.host.clock.jump(request.delta_ms)
        return control_pb2.Ack()

    async def SetPeers(self, request: control_pb2.Peers, context: Any) -> control_pb2.Ack:  # noqa: N802
        self.host.set_peers({p.node: p.address for p in request.peers})
        return control_pb2.Ack()

    async def Events(self, request: Any, context: Any) -> AsyncIterator[control_pb2.TraceEvent]:  # noqa: N802
        async for ev in self.host.events():
            yield ev

    async def SetFailpoint(self, request: control_pb2.Failpoint, context: Any) -> control_pb2.Ack:  # noqa: N802
        where = json.loads(request.where_json) if request.where_json else {}
        self.host.set_failpoint(request.id, request.kind, where, int(request.delay_ms), request.armed)
        return control_pb2.Ack()

    async def Thaw(self, request: Any, context: Any) -> control_pb2.Ack:  # noqa: N802
        self.host.thaw()
        return control_pb2.Ack()


