"""A node's links to its peers: outbound gRPC streams, inbound blocks, the broker link.

What a node sends leaves through here and nowhere else, and every link fault the driver
pushes to the node lands here: ``cut``/loss/delay/... on an outbound stream
(:class:`~cluster.runtime.transport.OutboundStream`), the receiving half of a cut
(:meth:`PeerLinks.block_inbound`: the inbound service refuses the sender's stream), and
both directions of the node's connection to a real broker
(:class:`~cluster.runtime.broker_link.BrokerLink`), which stands where the broker node's
gRPC link would be.  This object owns those links; the node host owns the core.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable

from cluster.core.types import Message
from cluster.runtime.broker_link import BrokerLink, BrokerLinkSpec
from cluster.runtime.codec import CodecError, encode
from cluster.runtime.metrics import NodeMetrics
from cluster.runtime.transport import OutboundStream
from faults.engine import LinkSettings
from protos import messages_pb2, node_pb2, node_pb2_grpc

__all__ = ["PeerLinks"]


def _envelopes(items: list[messages_pb2.Envelope]) -> node_pb2.Envelopes:
    return node_pb2.Envelopes(items=items)


class PeerLinks:
    """``node``'s links.  ``seed``/``incarnation`` name the link layer's random streams."""

    def __init__(self, node: str, *, seed: int, incarnation: int, metrics: NodeMetrics | None,
                 deliver: Callable[[Message], None]) -> None:
        self.node = node
        self.metrics = metrics
        self._deliver = deliver
        self._seed = seed
        self._incarnation = incarnation
        self._rng = random.Random(f"{seed}:links:{node}:{incarnation}")
        self._links: dict[str, OutboundStream] = {}
        self._blocked_in: set[str] = set()
        self.broker: BrokerLink | None = None
        self.unroutable = 0
        self.encode_errors = 0

    # --- lifecycle ----------------------------------------------------------------------

    def start_broker(self, spec: BrokerLinkSpec) -> None:
        """Connect to the run's real broker (which stands for node ``spec.node``)."""
        m = self.metrics
        node = self.node

        def dropped(reason: str) -> None:
            if m is not None:
                m.dropped.labels(node, spec.node, reason).inc()

        rng = random.Random(f"{self._seed}:broker-link:{node}:{self._incarnation}")
        self.broker = BrokerLink(node, spec, rng=rng, on_message=self._deliver, on_drop=dropped)
        self.broker.start()

    async def close(self) -> None:
        for link in list(self._links.values()):
            await link.close()
        self._links.clear()
        if self.broker is not None:
            await self.broker.close()

    def set_peers(self, addresses: dict[str, str]) -> None:
        """Dial every peer (or follow one that moved to a new address)."""
        for peer, addr in addresses.items():
            if peer == self.node:
                continue
            link = self._links.get(peer)
            if link is None:
                link = self._new_link(peer, addr)
                self._links[peer] = link
                link.start()
            else:
                link.set_address(addr)

    def _new_link(self, peer: str, addr: str) -> OutboundStream:
        m = self.metrics
        node = self.node

        def dropped(reason: str) -> None:
            if m is not None:
                m.dropped.labels(node, peer, reason).inc()

        def sent() -> None:
            if m is not None:
                m.sent.labels(node, peer).inc()

        return OutboundStream(
            f"{node}->{peer}", addr,
            lambda ch: node_pb2_grpc.NodeLinkStub(ch).Exchange(),
            _envelopes, rng=self._rng, on_drop=dropped, on_sent=sent,
        )

    # --- sending ------------------------------------------------------------------------

    def send(self, m: Message) -> None:
        """Hand a protocol message to the link towards ``m.dst`` (never blocks)."""
        if self.broker is not None and m.dst == self.broker.spec.node:
            self.broker.send(m)
            if self.metrics is not None:
                self.metrics.sent.labels(self.node, m.dst).inc()
            return
        link = self._links.get(m.dst)
        if link is None:
            self.unroutable += 1
            return
        try:
            env = encode(m)
        except CodecError:
            self.encode_errors += 1
            return
        link.send(env)

    def queued(self) -> bool:
        """Is anything sent still waiting in an outbound queue?"""
        return any(link.queued for link in self._links.values())

    # --- faults -------------------------------------------------------------------------

    def configure(self, dst: str, settings: LinkSettings, *, inbound: bool = False) -> None:
        """Settings of the link to ``dst`` (``inbound``: of the broker -> node direction)."""
        if self.broker is not None and dst == self.broker.spec.node:
            self.broker.configure(settings, inbound=inbound)
        link = self._links.get(dst)
        if link is not None and not inbound:
            link.configure(settings)
        if self.metrics is not None:
            active = sum(1 for lk in self._links.values() if not lk.settings.healthy())
            self.metrics.faults.labels(self.node, "link").set(active)

    def block_inbound(self, src: str, blocked: bool) -> None:
        """The receiving half of a cut ``src -> node``: refuse ``src``'s stream."""
        if self.broker is not None and src == self.broker.spec.node:
            self.broker.configure(dataclasses.replace(self.broker.inbound, cut=blocked), inbound=True)
        if blocked:
            self._blocked_in.add(src)
        else:
            self._blocked_in.discard(src)
        if self.metrics is not None:
            self.metrics.faults.labels(self.node, "inbound_block").set(len(self._blocked_in))

    def inbound_blocked(self, src: str) -> bool:
        return src in self._blocked_in

    def freeze(self, frozen: bool) -> None:
        """A frozen node sends and receives nothing, the broker connection included."""
        if self.broker is not None:
            self.broker.frozen = frozen
