"""A storage service that lock holders write to, with or without fencing tokens.

Every write carries the writer's lock token: the lock service hands out tokens that only
grow (each grant is a compare-and-set that increments it), so a token says *which* grant of
the lock the writer holds.  The storage service is the last line of defence against a
holder whose lease ran out while it was not looking (a GC pause, a stalled VM): it keeps
the highest token it has accepted, durably, and rejects a write with a lower one -- that
writer's grant is older than one whose holder has already written.  This is Kleppmann's
fencing token ("How to do distributed locking").

Flaw ``storage_ignores_tokens``: accept every write, as a plain file store or a database
without a token column would; the zombie holder's write lands after its successor's.

Trace event: ``storage-write`` {holder, token, value, accepted, max_token}.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cluster.core.flaws import Flaws
from cluster.core.frozen import fast_init
from cluster.core.types import CoreEvent, Message, Put, Ready, ReadyBuilder

__all__ = ["FencedStorage", "FencingFlaws", "StorageAck", "StorageWrite"]


@dataclass(frozen=True)
class FencingFlaws(Flaws):
    """Deliberate mistakes in the lock-and-storage design; all off is the correct design."""

    storage_ignores_tokens: bool = False
    """The storage service accepts every write, whatever its lock token."""


FencingFlaws.DOCS = {
    "storage_ignores_tokens": (
        "The storage service accepts a write whatever its fencing token: a holder whose "
        "lease expired during a pause writes after the next holder, as if it still held the lock."
    ),
}


@fast_init
@dataclass(frozen=True, slots=True)
class StorageWrite(Message):
    """Worker -> storage: write ``value`` as the holder of lock grant ``token``."""

    req: int
    holder: str
    token: int
    value: Any


@fast_init
@dataclass(frozen=True, slots=True)
class StorageAck(Message):
    """Storage -> worker: whether the write was accepted, and the highest token seen."""

    req: int
    accepted: bool
    max_token: int


class FencedStorage:
    """The storage service (see the module docstring)."""

    role = "storage"

    def __init__(self, node_id: str, rng: random.Random, *, durable: Mapping[str, Any] | None = None,
                 flaws: FencingFlaws | None = None) -> None:
        self.node_id = node_id
        self.flaws = flaws or FencingFlaws()
        self.out = ReadyBuilder()
        self.max_token = int((durable or {}).get("max_token", 0))
        self.writes = int((durable or {}).get("writes", 0))

    def tick(self, now_ms: int, wall_ms: int | None = None) -> None:
        pass

    def step(self, message: Message) -> None:
        if not isinstance(message, StorageWrite):
            return
        accepted = self.flaws.storage_ignores_tokens or message.token >= self.max_token
        if accepted:
            self.writes += 1
            self.max_token = max(self.max_token, message.token)
            self.out.persist.extend((Put(f"data/{self.writes:06d}", (message.holder, message.token, message.value)),
                                     Put("writes", self.writes), Put("max_token", self.max_token)))
        self.out.events.append(CoreEvent(self.node_id, "storage-write", {
            "holder": message.holder, "token": message.token, "value": message.value, "accepted": accepted,
            "max_token": self.max_token}))
        self.out.messages.append(StorageAck(self.node_id, message.src, message.req, accepted, self.max_token))

    def ready(self) -> Ready:
        return self.out.take()
