"""A Dynamo-style leaderless register: any replica coordinates, R/W quorums, siblings or LWW.

Every node is a replica of every key and can *coordinate* a client request:

* ``get key`` -- ask every replica for its versions of ``key``, and once ``r`` have answered
  (the coordinator's own copy counts) reply ``ok (values, context)``: the surviving versions
  (:func:`cluster.core.siblings.resolve`) and the causal context a client must write back with.
* ``put key (value, context)`` -- create a :class:`~cluster.core.siblings.Version` with a
  fresh dot ``(self, counter)`` (the counter is persisted before use, so a dot is never
  reused, across crashes too) and the coordinator's wall-clock timestamp, store it locally,
  send it to every other replica, and once ``w`` replicas stored it reply ``ok``.

How replicas resolve conflicting versions is the lesson (see :mod:`cluster.core.siblings`):
dotted version vectors keep concurrent writes as siblings for the client to merge; the
``last_write_wins`` flaw keeps only the version with the highest coordinator timestamp.

Durability and timeouts follow :mod:`cluster.core.quorum`: a replica persists
``reg/<key>`` (synced) before it acknowledges; requests carry the coordinator's
per-incarnation epoch so a reply from before a restart is never counted; a put that has
not reached ``w`` replicas within ``request_timeout_ms`` is answered ``unknown`` (some
replicas may hold it), a get ``unavailable``.

Timestamps read the wall clock (``tick``'s ``wall_ms``): that is where clock skew does its
damage.  Timeouts run on the monotonic clock.

Trace events: ``register-write`` {key, node, counter, ts, value, context} when a coordinator
creates a version; ``register-store`` {key, kept, dropped: [dots]} at each replica that
changed what it keeps; ``lww-discard`` {key, dot, ts, kept_dot, kept_ts} when last-write-wins
throws a version away.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cluster.core.flaws import Flaws
from cluster.core.frozen import fast_init
from cluster.core.siblings import Context, Version, lww_store, read_context, resolve, store
from cluster.core.types import (
    ClientReply,
    ClientRequest,
    CoreEvent,
    Message,
    Put,
    Ready,
    ReadyBuilder,
)

__all__ = ["Fetch", "Fetched", "RegisterConfig", "RegisterFlaws", "RegisterNode", "Replicate", "ReplicateAck"]


@dataclass(frozen=True)
class RegisterFlaws(Flaws):
    """Deliberate mistakes in conflict resolution; all off is the correct design."""

    last_write_wins: bool = False
    """Replicas keep only the version with the highest coordinator wall-clock timestamp."""


RegisterFlaws.DOCS = {
    "last_write_wins": (
        "Conflicting versions are resolved by the coordinator's wall-clock timestamp: the "
        "highest wins and the rest are dropped, so a write coordinated by a node whose clock "
        "is behind silently loses to the older write it read and meant to replace."
    ),
}


@dataclass(frozen=True)
class RegisterConfig:
    """Quorum sizes (N is the number of nodes) and the coordinator's timeout."""

    r: int = 2
    w: int = 2
    request_timeout_ms: int = 1000

    def __post_init__(self) -> None:
        if self.r < 1 or self.w < 1:
            raise ValueError(f"config: r and w must be >= 1, got r={self.r}, w={self.w}")
        if self.request_timeout_ms < 1:
            raise ValueError("config: request_timeout_ms must be >= 1")


@fast_init
@dataclass(frozen=True, slots=True)
class Replicate(Message):
    """Coordinator -> replica: keep ``version`` of ``key`` by your conflict rule."""

    epoch: int
    rid: int
    key: str
    version: Version


@fast_init
@dataclass(frozen=True, slots=True)
class ReplicateAck(Message):
    epoch: int
    rid: int


@fast_init
@dataclass(frozen=True, slots=True)
class Fetch(Message):
    """Coordinator -> replica: "which versions of ``key`` do you keep?"."""

    epoch: int
    rid: int
    key: str


@fast_init
@dataclass(frozen=True, slots=True)
class Fetched(Message):
    epoch: int
    rid: int
    versions: tuple[Version, ...]


@dataclass
class _Request:
    kind: str  # "get" | "put"
    client: ClientRequest
    deadline: int
    answered: set[str] = field(default_factory=set)
    replies: list[tuple[Version, ...]] = field(default_factory=list)


class RegisterNode:
    """A replica and coordinator (see the module docstring)."""

    role = "replica"

    def __init__(self, node_id: str, nodes: tuple[str, ...], config: RegisterConfig, rng: random.Random, *,
                 durable: Mapping[str, Any] | None = None, flaws: RegisterFlaws | None = None) -> None:
        self.node_id = node_id
        self.nodes = nodes
        self.config = config
        self.flaws = flaws or RegisterFlaws()
        self.lww = self.flaws.last_write_wins
        self.epoch = rng.getrandbits(31)
        self.out = ReadyBuilder()
        self.data: dict[str, tuple[Version, ...]] = dict(self.versions_from(durable))
        self.counter = int((durable or {}).get("counter", 0))
        self.now = 0
        self.wall = 0
        self._rid = 0
        self._requests: dict[int, _Request] = {}

    @staticmethod
    def versions_from(durable: Mapping[str, Any] | None) -> dict[str, tuple[Version, ...]]:
        """The versions a replica keeps, per key, from its durable state."""
        return {k[len("reg/"):]: tuple(v) for k, v in (durable or {}).items() if k.startswith("reg/") and v}

    # --- Core protocol ------------------------------------------------------------------------

    def tick(self, now_ms: int, wall_ms: int | None = None) -> None:
        self.now = now_ms
        self.wall = now_ms if wall_ms is None else wall_ms
        for rid in [r for r, req in self._requests.items() if now_ms >= req.deadline]:
            req = self._requests.pop(rid)
            self._reply(req.client, "unknown" if req.kind == "put" else "unavailable", None)

    def step(self, message: Message) -> None:
        if isinstance(message, ClientRequest):
            self._on_client(message)
        elif isinstance(message, Replicate):
            self._keep(message.key, message.version)
            self.out.messages.append(ReplicateAck(self.node_id, message.src, message.epoch, message.rid))
        elif isinstance(message, ReplicateAck):
            self._on_ack(message.src, message.epoch, message.rid)
        elif isinstance(message, Fetch):
            self.out.messages.append(Fetched(self.node_id, message.src, message.epoch, message.rid,
                                             self.data.get(message.key, ())))
        elif isinstance(message, Fetched):
            self._on_fetched(message)

    def ready(self) -> Ready:
        return self.out.take()

    # --- replica ------------------------------------------------------------------------------

    def _keep(self, key: str, version: Version) -> None:
        current = self.data.get(key, ())
        kept, dropped = lww_store(current, version) if self.lww else store(current, version)
        if kept == current:
            if self.lww and dropped:
                old = current[0]
                self.out.events.append(CoreEvent(self.node_id, "lww-discard", {
                    "key": key, "dot": list(version.dot), "ts": version.ts, "kept_dot": list(old.dot),
                    "kept_ts": old.ts}))
            return
        self.data[key] = kept
        self.out.persist.append(Put(f"reg/{key}", kept))
        self.out.events.append(CoreEvent(self.node_id, "register-store", {
            "key": key, "kept": [list(v.dot) for v in kept], "dropped": [list(v.dot) for v in dropped]}))
        if self.lww and dropped and dropped[0].dot != version.dot:
            old = dropped[0]
            self.out.events.append(CoreEvent(self.node_id, "lww-discard", {
                "key": key, "dot": list(old.dot), "ts": old.ts, "kept_dot": list(version.dot),
                "kept_ts": version.ts}))

    # --- coordinator --------------------------------------------------------------------------

    def _on_client(self, req: ClientRequest) -> None:
        key = str(req.key)
        if req.op == "get":
            rid = self._start("get", req)
            self._requests[rid].answered.add(self.node_id)
            self._requests[rid].replies.append(self.data.get(key, ()))
            for n in self.nodes:
                if n != self.node_id:
                    self.out.messages.append(Fetch(self.node_id, n, self.epoch, rid, key))
            self._maybe_done(rid)
        elif req.op == "put":
            value, context = req.value
            self.counter = max(self.counter, dict(context).get(self.node_id, 0)) + 1
            self.out.persist.append(Put("counter", self.counter))
            version = Version(tuple(value), self.node_id, self.counter, tuple(tuple(p) for p in context), self.wall)
            self.out.events.append(CoreEvent(self.node_id, "register-write", {
                "key": key, "counter": self.counter, "ts": version.ts, "value": list(version.value),
                "context": [list(p) for p in version.context], "client": req.client_id}))
            rid = self._start("put", req)
            self._keep(key, version)
            self._requests[rid].answered.add(self.node_id)
            for n in self.nodes:
                if n != self.node_id:
                    self.out.messages.append(Replicate(self.node_id, n, self.epoch, rid, key, version))
            self._maybe_done(rid)
        else:
            self._reply(req, "fail", f"the register serves get and put, not {req.op}")

    def _start(self, kind: str, req: ClientRequest) -> int:
        self._rid += 1
        self._requests[self._rid] = _Request(kind, req, self.now + self.config.request_timeout_ms)
        return self._rid

    def _on_ack(self, src: str, epoch: int, rid: int) -> None:
        req = self._requests.get(rid)
        if epoch != self.epoch or req is None or req.kind != "put":
            return
        req.answered.add(src)
        self._maybe_done(rid)

    def _on_fetched(self, m: Fetched) -> None:
        req = self._requests.get(m.rid)
        if m.epoch != self.epoch or req is None or req.kind != "get" or m.src in req.answered:
            return
        req.answered.add(m.src)
        req.replies.append(m.versions)
        self._maybe_done(m.rid)

    def _maybe_done(self, rid: int) -> None:
        req = self._requests[rid]
        if req.kind == "put" and len(req.answered) >= self.config.w:
            del self._requests[rid]
            self._reply(req.client, "ok", None)
        elif req.kind == "get" and len(req.answered) >= self.config.r:
            del self._requests[rid]
            versions = resolve(req.replies, lww=self.lww)
            context: Context = read_context(versions)
            self._reply(req.client, "ok", (tuple(v.value for v in versions), context))

    def _reply(self, req: ClientRequest, status: str, value: Any) -> None:
        self.out.replies.append(ClientReply(self.node_id, req.src, req.client_id, req.seq, status, value))
