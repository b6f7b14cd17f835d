"""A client of the leaderless register that adds items to a set (a shopping cart).

``add key item`` is a read-modify-write, as a Dynamo client does it: ``get`` the key from a
coordinator (a replica picked at random per operation), merge the siblings it returns (set
union: a cart keeps every item any sibling has), add the item, and ``put`` the merged set
back to the same coordinator with the causal context the read returned.  So a write
*descends from* every version the client read: it supersedes them by including them.

``read key`` is a ``get``; its value is the list of sibling sets.

One attempt per operation: no answer by the deadline is ``info`` (a ``put`` may have been
stored); a ``get`` that failed before anything was written makes the ``add`` ``fail``.
The history's ``add`` completion is the set the client wrote, which is what the lost-update
checker (:mod:`analysis.lost_update`) follows: an item is superseded only by a later write
whose set contains it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from cluster.core.types import ClientReply, ClientRequest, Message, Ready, ReadyBuilder

__all__ = ["CartClient", "CartCompletion"]


@dataclass(frozen=True)
class CartCompletion:
    status: str
    value: Any
    attempts: int = 1
    node: str | None = None


class CartClient:
    """One Jepsen process of the cart workload (see the module docstring)."""

    def __init__(self, client_id: str, nodes: tuple[str, ...], rng: random.Random, *, timeout_ms: int = 2000) -> None:
        self.node_id = client_id
        self.client_id = client_id
        self.nodes = nodes
        self.rng = rng
        self.timeout_ms = timeout_ms
        self.busy = False
        self.seq = 0
        self._op = ""
        self._key: str | None = None
        self._item: Any = None
        self._phase = ""
        self._target = ""
        self._deadline = 0
        self._written: list[Any] = []
        self._done: CartCompletion | None = None
        self._out = ReadyBuilder()

    def invoke(self, op: str, key: str | None, value: Any, now_ms: int) -> None:
        if self.busy:
            raise RuntimeError(f"{self.client_id} is busy")
        if op not in ("add", "read"):
            self._done = CartCompletion("fail", None)
            return
        self.busy = True
        self._op, self._key, self._item = op, key, value
        self._target = self.rng.choice(self.nodes)
        self._deadline = now_ms + self.timeout_ms
        self._send("get", None)

    def _send(self, op: str, value: Any) -> None:
        self.seq += 1
        self._phase = op
        self._out.messages.append(ClientRequest(self.client_id, self._target, self.client_id, self.seq, op,
                                                self._key, value))

    def step(self, reply: Message) -> None:
        if not isinstance(reply, ClientReply) or not self.busy or reply.seq != self.seq:
            return
        if self._phase == "get":
            if reply.status != "ok":
                self._finish("fail", None)
                return
            values, context = reply.value
            if self._op == "read":
                self._finish("ok", [sorted(v) for v in values])
                return
            merged = sorted({*(x for v in values for x in v), self._item})
            self._send("put", (tuple(merged), context))
            self._written = merged
        else:
            if reply.status == "ok":
                self._finish("ok", self._written)
            else:
                self._finish("fail" if reply.status == "fail" else "info", None)

    def tick(self, now_ms: int) -> None:
        if self.busy and now_ms >= self._deadline:
            # Before the put was sent nothing can have been written: a definite failure.
            self._finish("info" if self._phase == "put" else "fail", None)

    def _finish(self, status: str, value: Any) -> None:
        self.busy = False
        self._done = CartCompletion(status, value, node=self._target)

    def ready(self) -> Ready:
        return self._out.take()

    def take_completion(self) -> CartCompletion | None:
        done, self._done = self._done, None
        return done
