"""The gRPC services a node serves: peer links, client sessions, and control.

They are the wire surface: each turns a stream or call into inputs for the node and its
outputs back into protobuf, and nothing else.  They see the node only through the small
protocols below (what they feed it and what the driver may ask of it), so this module
does not import the node host and the host imports it freely.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any, Protocol

import grpc
import grpc.aio

from cluster.core.types import ClientReply, ClientRequest, Message
from cluster.runtime.codec import CodecError, decode, decode_request, encode_reply
from cluster.runtime.sessions import ClientSessions
from faults.engine import LinkSettings
from protos import control_pb2, messages_pb2, node_pb2, node_pb2_grpc
from protos import control_pb2_grpc as control_grpc

__all__ = ["ClientService", "ControlService", "LinkService", "NodeControl", "NodeInputs"]


class NodeInputs(Protocol):
    """What the link and client services feed a node."""

    def deliver(self, msg: Message) -> None:
        """Step one input into the core (and do its Ready batch)."""

    def inbound_blocked(self, src: str) -> bool:
        """Is the link ``src -> this node`` cut on the receiving side?"""

    def received(self, *, client: bool, decode_error: bool = False) -> None:
        """Count an input (for metrics)."""


class NodeControl(Protocol):
    """What the driver's control plane asks of a node (``protos/control.proto``)."""

    def status(self) -> control_pb2.NodeStatus: ...

    def set_link(self, dst: str, settings: LinkSettings, *, inbound: bool = False) -> None: ...

    def block_inbound(self, src: str, blocked: bool) -> None: ...

    def set_clock(self, offset_ms: float, rate: float) -> None: ...

    def jump_clock(self, delta_ms: float) -> None: ...

    def set_peers(self, addresses: dict[str, str]) -> None: ...

    def events(self) -> AsyncIterator[control_pb2.TraceEvents]: ...

    def set_failpoint(self, fp_id: str, kind: str, where: dict[str, Any], delay_ms: int, armed: bool) -> None: ...

    def thaw(self, rearm: bool = False) -> None: ...


def link_settings(p: control_pb2.LinkSettings) -> LinkSettings:
    return LinkSettings(cut=p.cut, loss=p.loss, delay_ms=p.delay_ms, jitter_ms=p.jitter_ms,
                        duplicate=p.duplicate, reorder=p.reorder)


def link_settings_proto(dst: str, s: LinkSettings, *, inbound: bool = False) -> control_pb2.LinkSettings:
    return control_pb2.LinkSettings(dst=dst, inbound=inbound, cut=s.cut, loss=s.loss, delay_ms=s.delay_ms,
                                    jitter_ms=s.jitter_ms, duplicate=s.duplicate, reorder=s.reorder)


class LinkService(node_pb2_grpc.NodeLinkServicer):
    """Inbound half of the peer links: decode and step every envelope."""

    def __init__(self, node_id: str, inputs: NodeInputs) -> None:
        self.node_id = node_id
        self.inputs = inputs

    async def Exchange(self, request_iterator: Any, context: grpc.aio.ServicerContext) -> None:  # noqa: N802
        inputs = self.inputs
        async for batch in request_iterator:
            for env in batch.items:
                if inputs.inbound_blocked(env.src):
                    # The receiving half of a cut: gRPC reports UNAVAILABLE to the sender, as
                    # it would for a real partition, and the sender redials until it heals.
                    await context.abort(grpc.StatusCode.UNAVAILABLE, f"link {env.src}->{self.node_id} is cut")
                try:
                    msg = decode(env)
                except CodecError:
                    inputs.received(client=False, decode_error=True)
                    continue
                inputs.received(client=False)
                inputs.deliver(msg)


class ClientService(node_pb2_grpc.ClientServicer):
    """Client sessions: requests in, replies (routed by client id) out."""

    def __init__(self, inputs: NodeInputs, sessions: ClientSessions) -> None:
        self.inputs = inputs
        self.sessions = sessions

    def _accept(self, req: messages_pb2.ClientRequest, q: asyncio.Queue[ClientReply]) -> None:
        msg: ClientRequest = decode_request(req)
        self.sessions.bind(msg.client_id, q)
        self.inputs.received(client=True)
        self.inputs.deliver(msg)

    async def Session(self, request_iterator: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[node_pb2.ClientReplies]:  # noqa: N802
        """Requests come in batches (:class:`node_pb2.ClientRequests`); the replies waiting
        when the stream gets its turn go back as one batch."""
        q: asyncio.Queue[ClientReply] = asyncio.Queue()
        self.sessions.opened(q)

        async def pump() -> None:
            async for batch in request_iterator:
                for req in batch.items:
                    self._accept(req, q)

        reader = asyncio.get_running_loop().create_task(pump())
        try:
            while True:
                getter = asyncio.ensure_future(q.get())
                done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    replies = [encode_reply(getter.result())]
                    while not q.empty():
                        replies.append(encode_reply(q.get_nowait()))
                    yield node_pb2.ClientReplies(items=replies)
                else:
                    getter.cancel()
                    return
        finally:
            reader.cancel()
            self.sessions.closed(q)

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
            self.sessions.unbind(request.client_id, q)


class ControlService(control_grpc.ControlServicer):
    def __init__(self, node: NodeControl) -> None:
        self.node = node

    async def Status(self, request: Any, context: Any) -> control_pb2.NodeStatus:  # noqa: N802
        return self.node.status()

    async def SetLink(self, request: control_pb2.LinkSettings, context: Any) -> control_pb2.Ack:  # noqa: N802
        self.node.set_link(request.dst, link_settings(request), inbound=request.inbound)
        return control_pb2.Ack()

    async def BlockInbound(self, request: control_pb2.InboundBlock, context: Any) -> control_pb2.Ack:  # noqa: N802
        self.node.block_inbound(request.src, request.blocked)
        return control_pb2.Ack()

    async def SetClock(self, request: control_pb2.ClockSettings, context: Any) -> control_pb2.Ack:  # noqa: N802
        self.node.set_clock(request.offset_ms, request.rate or 1.0)
        return control_pb2.Ack()

    async def JumpClock(self, request: control_pb2.ClockJump, context: Any) -> control_pb2.Ack:  # noqa: N802
        self.node.jump_clock(request.delta_ms)
        return control_pb2.Ack()

    async def SetPeers(self, request: control_pb2.Peers, context: Any) -> control_pb2.Ack:  # noqa: N802
        self.node.set_peers({p.node: p.address for p in request.peers})
        return control_pb2.Ack()

    async def Events(self, request: Any, context: Any) -> AsyncIterator[control_pb2.TraceEvents]:  # noqa: N802
        async for ev in self.node.events():
            yield ev

    async def SetFailpoint(self, request: control_pb2.Failpoint, context: Any) -> control_pb2.Ack:  # noqa: N802
        where = json.loads(request.where_json) if request.where_json else {}
        self.node.set_failpoint(request.id, request.kind, where, int(request.delay_ms), request.armed)
        return control_pb2.Ack()

    async def Thaw(self, request: control_pb2.ThawRequest, context: Any) -> control_pb2.Ack:  # noqa: N802
        self.node.thaw(rearm=request.rearm)
        return control_pb2.Ack()
