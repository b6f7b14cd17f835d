"""Where a node's replies to clients go: the open client sessions, by client id.

A client host opens one ``Client.Session`` stream per node and sends every client's
requests over it; the node answers on the stream the request came from.  A reply whose
client has no session here yet -- its request reached an earlier incarnation of this node,
before a crash -- goes to every open session (a client host ignores ids it does not own),
or waits for the next session to open, like a reply addressed to a client in the
simulator.  This object owns that routing and nothing else.
"""

from __future__ import annotations

import asyncio
from collections import deque

from cluster.core.types import ClientReply

__all__ = ["ClientSessions"]

_UNROUTED_BACKLOG = 1000


class ClientSessions:
    def __init__(self) -> None:
        self._by_client: dict[str, asyncio.Queue[ClientReply]] = {}
        self._open: list[asyncio.Queue[ClientReply]] = []
        self._unrouted: deque[ClientReply] = deque(maxlen=_UNROUTED_BACKLOG)
        self.broadcast = 0
        """Replies sent to every open session because their client had none here."""

    def opened(self, q: asyncio.Queue[ClientReply]) -> None:
        """A session stream opened: it also takes the replies that were waiting for one."""
        self._open.append(q)
        while self._unrouted:
            q.put_nowait(self._unrouted.popleft())

    def closed(self, q: asyncio.Queue[ClientReply]) -> None:
        if q in self._open:
            self._open.remove(q)
        for cid in [c for c, sq in self._by_client.items() if sq is q]:
            del self._by_client[cid]

    def bind(self, client_id: str, q: asyncio.Queue[ClientReply]) -> None:
        """``client_id``'s replies go to ``q`` (the session its last request came on)."""
        self._by_client[client_id] = q

    def unbind(self, client_id: str, q: asyncio.Queue[ClientReply]) -> None:
        if self._by_client.get(client_id) is q:
            del self._by_client[client_id]

    def route(self, reply: ClientReply) -> None:
        q = self._by_client.get(reply.dst)
        if q is not None:
            q.put_nowait(reply)
            return
        if not self._open:
            self._unrouted.append(reply)
            return
        self.broadcast += 1
        for oq in self._open:
            oq.put_nowait(reply)
