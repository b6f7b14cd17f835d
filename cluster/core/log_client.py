"""A Jepsen-style client of a Kafka-like log: ``send``, ``subscribe`` and ``poll``.

One process, one operation at a time, one attempt each: a ``send`` is never retried by the
client (retrying is the producer's job, and a client retry would be a second event), and no
answer by the deadline is ``info`` -- the process is then retired and the slot goes on as a
new one, as Jepsen does with a crashed client.

Each operation goes to the node its ``routes`` name (the producer for ``send``, the consumer
for ``subscribe`` and ``poll``).  A poll carries the process's cursor in the consumer's
processed log, so successive polls of one process read on from where it left off; a new
process has no cursor and the consumer resumes it where the last client confirmed reading.

What it records is the log checker's native history (``docs/history-format.md``, "Log
histories"): ``send [partition, value]`` -> ``ok [partition, [offset, value]]``;
``subscribe [partitions]`` with ``group`` and ``auto_commit: false`` on the invocation (the
consumer commits offsets itself, after processing, not at each poll); ``poll`` ->
``ok {partition: [[offset, value], ...]}`` with ``rebalance_log`` on the completion when the
consumer went through a rebalance in the part of its log this poll returned.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cluster.core.types import ClientReply, ClientRequest, Message, Ready, ReadyBuilder

__all__ = ["LogClient", "LogCompletion"]


@dataclass(frozen=True)
class LogCompletion:
    """How one operation ended; ``extra`` goes into the history next to ``value``."""

    status: str
    value: Any
    attempts: int = 1
    node: str | None = None
    extra: tuple[tuple[str, Any], ...] = ()


class LogClient:
    """One Jepsen process of a log workload (see the module docstring)."""

    def __init__(self, client_id: str, routes: Mapping[str, str], rng: random.Random, *,
                 timeout_ms: int = 3000, group: str | None = None) -> None:
        self.node_id = client_id
        self.client_id = client_id
        self.routes = dict(routes)
        self.timeout_ms = timeout_ms
        self.group = group
        self.busy = False
        self.seq = 0
        self.cursor: int | None = None
        self.invoke_extra: tuple[tuple[str, Any], ...] = ()
        self._op = ""
        self._deadline = 0
        self._done: LogCompletion | None = None
        self._out = ReadyBuilder()

    def invoke(self, op: str, key: str | None, value: Any, now_ms: int) -> None:
        if self.busy:
            raise RuntimeError(f"{self.client_id} is busy")
        target = self.routes.get(op)
        self.seq += 1
        self._op = op
        self.invoke_extra = ()
        if target is None:
            self._done = LogCompletion("fail", None)
            return
        if op == "subscribe" and self.group is not None:
            self.invoke_extra = (("group", self.group), ("auto_commit", False))
        if op == "poll":
            value = self.cursor
        self.busy = True
        self._deadline = now_ms + self.timeout_ms
        self._out.messages.append(ClientRequest(self.client_id, target, self.client_id, self.seq, op, key, value))

    def step(self, reply: Message) -> None:
        if not isinstance(reply, ClientReply) or not self.busy or reply.seq != self.seq:
            return
        self.busy = False
        if reply.status != "ok":
            self._done = LogCompletion("fail" if reply.status == "fail" else "info", None, node=reply.src)
            return
        if self._op == "poll":
            reads, cursor, rebalances = reply.value
            self.cursor = int(cursor)
            value = {str(p): [[int(off), v] for off, v in records] for p, records in reads}
            log = [{"type": str(kind), "keys": [str(k) for k in keys]} for kind, keys in rebalances]
            self._done = LogCompletion("ok", value, node=reply.src, extra=(("rebalance_log", log),) if log else ())
        elif self._op == "send":
            partition, (offset, sent) = reply.value
            self._done = LogCompletion("ok", [partition, [offset, sent]], node=reply.src)
        else:
            self._done = LogCompletion("ok", list(reply.value), node=reply.src)

    def tick(self, now_ms: int) -> None:
        if self.busy and now_ms >= self._deadline:
            self.busy = False
            self._done = LogCompletion("info", None)

    def ready(self) -> Ready:
        return self._out.take()

    def take_completion(self) -> LogCompletion | None:
        done, self._done = self._done, None
        return done
