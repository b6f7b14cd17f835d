"""A leaderless, Dynamo/ABD-style quorum register as a sans-IO core.

Every replica holds, per key, the newest ``(version, value)`` it has seen, and every
replica can *coordinate* a client request.  Versions are ``(counter, writer id)`` tuples,
totally ordered.  The protocol is multi-writer ABD with configurable quorums:

* **write** -- query R replicas for the newest version of the key, pick
  ``(max counter + 1, coordinator id)``, store it on W replicas, reply ``ok``.
* **read**  -- query R replicas, take the newest version; with ``write_back`` store that
  version on W replicas (*read repair*) before replying ``ok`` with its value.

Why this is linearizable when ``R + W > N`` and write-back is on: every read or write
query quorum intersects the store quorum of every operation that already completed, so
a query always sees the newest completed version (a write therefore picks a strictly
larger version, and a read never returns something older than a completed write).  The
write-back makes a read *complete* its value: once a read returned ``v``, ``v`` sits on W
replicas, so no later read can go back to an older value even if the writer of ``v``
has not finished.  Drop either ingredient -- ``R + W <= N`` (the ``sloppy_quorum`` flaw)
or the write-back (``write_back=False`` or the ``skip_write_back`` flaw) -- and a learner
can watch the checker find a stale or flickering read.

Durability: a replica persists ``Put(f"kv/{key}", (version, value))`` (synced) in the same
or an earlier :class:`Ready` than its acknowledgement, and the driver persists before it
sends, so an ack always refers to state that survives a crash.

Timeouts: a phase that does not gather its quorum within ``request_timeout_ms`` of the
coordinator's local clock is abandoned.  If a store phase had begun, some replicas may
already hold the value, so the client is told ``"unknown"`` (never ``"fail"``); if only
queries were sent, nothing changed anywhere and the answer is ``"unavailable"``.

Client deduplication is *local to a coordinator*: a retry of an in-flight
``(client_id, seq)`` is ignored (its reply is coming) and a retry of a completed one gets
the cached reply.  There is no cluster-wide dedup in a leaderless register, so a client
must not re-send a write whose outcome is unknown to *another* coordinator -- see
``ClientConfig.retry_after_ambiguous`` in :mod:`cluster.core.client`.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from cluster.core.flaws import Flaws
from cluster.core.quorum_messages import (
    ZERO_VERSION,
    QueryVersion,
    QueryVersionReply,
    StoreAck,
    StoreValue,
    Version,
)
from cluster.core.types import (
    ClientReply,
    ClientRequest,
    CoreEvent,
    Message,
    Put,
    Ready,
    ReadyBuilder,
)

__all__ = [
    "QuorumConfig",
    "QuorumFlaws",
    "QuorumNode",
    "READ_OPS",
    "WRITE_OPS",
]

READ_OPS: tuple[str, ...] = ("read", "get")
"""Client ops served as a register read (``get`` accepted so key-value workloads work)."""

WRITE_OPS: tuple[str, ...] = ("write", "put")
"""Client ops served as a register write."""

EPOCH_KEY = "quorum/epoch"
"""Durable key of the coordinator's restart counter (see :mod:`quorum_messages`)."""

KV_PREFIX = "kv/"


@dataclass(frozen=True)
class QuorumConfig:
    """Quorum sizes and timing.  ``n`` is the number of replicas (``len(peers)``)."""

    r: int = 2
    w: int = 2
    write_back: bool = True
    """ABD read write-back: store the version a read returns on W replicas first."""
    request_timeout_ms: int = 500
    """How long the coordinator waits for one phase's quorum before giving up."""


@dataclass(frozen=True)
class QuorumFlaws(Flaws):
    """Deliberate design mistakes a learner can switch on; all off means correct.

    :meth:`describe` holds each flaw's explanation in one place, so the scenario
    catalogue and the reports explain it in the same words.
    """

    sloppy_quorum: bool = False
    skip_write_back: bool = False


_FLAW_DOCS: dict[str, str] = {
    "sloppy_quorum": (
        "Use R = W = 1 whatever the config says, so R + W <= N: a read quorum can miss "
        "the replicas that acknowledged the latest write, and a read returns a stale value."
    ),
    "skip_write_back": (
        "Reads return the newest version they saw without writing it back to W replicas: "
        "a read can see a write that is still in progress and a later read can miss it, "
        "so the value appears and then disappears."
    ),
}
QuorumFlaws.DOCS = _FLAW_DOCS


@dataclass
class _Request:
    """One client request this node coordinates, through its query and store phases.

    Private to the core; the coordinator changes it only through the methods below, so a
    phase's deadline, answers and acks always start together.
    """

    rid: int
    reply_to: str
    client_id: str
    seq: int
    op: str  # the op as the client sent it
    is_write: bool
    key: str
    value: Any  # the value to write; for a read, the value chosen by the query phase
    phase: str = "query"  # "query" | "store"
    deadline_ms: int = 0
    answers: dict[str, tuple[Version, Any]] = field(default_factory=dict)
    acks: dict[str, Version] = field(default_factory=dict)
    version: Version = ZERO_VERSION

    def begin_query(self, deadline_ms: int, own: str, own_answer: tuple[Version, Any]) -> None:
        """Ask for versions; the coordinator's own replica answers at once."""
        self.phase = "query"
        self.deadline_ms = deadline_ms
        self.answers[own] = own_answer

    def answered(self, src: str, version: Version, value: Any) -> None:
        self.answers[src] = (version, value)

    def newest(self) -> tuple[Version, Any]:
        """The newest answer.  Taken in replica-id order so ties (equal versions, equal
        values) resolve the same way on every run."""
        return max((self.answers[src] for src in sorted(self.answers)), key=lambda a: a[0])

    def settle(self, version: Version, value: Any) -> None:
        """The outcome is known without a store phase (a read without write-back)."""
        self.version, self.value = version, value

    def begin_store(self, deadline_ms: int, own: str, version: Version, value: Any) -> None:
        """Store ``value`` at ``version``; the coordinator's own replica already has it."""
        self.phase = "store"
        self.deadline_ms = deadline_ms
        self.version, self.value = version, value
        self.acks[own] = version

    def acked(self, src: str, version: Version) -> None:
        self.acks[src] = version


class QuorumNode:
    """One replica of the leaderless register; also a coordinator for client requests.

    ``peers`` names every replica; the node's own id is added if it is missing, so both
    "all members" and "the others" conventions work.  ``durable`` is what
    :meth:`Storage.load` returned at restart (``None`` for a fresh node).
    """

    def __init__(
        self,
        node_id: str,
        peers: tuple[str, ...],
        config: QuorumConfig,
        rng: random.Random,
        durable: Mapping[str, Any] | None = None,
        flaws: QuorumFlaws = QuorumFlaws(),  # noqa: B008 - frozen, so a shared default is safe
    ) -> None:
        self.node_id = node_id
        self.config = config
        self.flaws = flaws
        # Unused by the protocol today; kept so every core has the same constructor shape
        # and a future option (e.g. contacting a random subset) stays deterministic.
        self.rng = rng
        self.members: tuple[str, ...] = tuple(sorted(set(peers) | {node_id}))
        n = len(self.members)
        for name, size in (("r", config.r), ("w", config.w)):
            if not 1 <= size <= n:
                raise ValueError(f"{name}={size} must be between 1 and n={n}")
        if config.request_timeout_ms <= 0:
            raise ValueError("request_timeout_ms must be positive")
        self._out = ReadyBuilder()
        self._now = 0
        self._store: dict[str, tuple[Version, Any]] = {}
        self._requests: dict[int, _Request] = {}
        self._next_rid = 1
        self._inflight: dict[tuple[str, int], int] = {}
        self._answered: dict[str, tuple[int, ClientReply]] = {}

        durable = durable or {}
        for dkey in sorted(durable):
            if dkey.startswith(KV_PREFIX):
                version, value = durable[dkey]
                self._store[dkey[len(KV_PREFIX) :]] = (_as_version(version), value)
        # A new epoch per incarnation, persisted before any message that carries it can
        # leave (the Put is first in the first Ready), so it never repeats after a crash.
        self.epoch = int(durable.get(EPOCH_KEY, 0)) + 1
        self._out.persist.append(Put(EPOCH_KEY, self.epoch))

    # --- inspection ---------------------------------------------------------------------

    @property
    def n(self) -> int:
        return len(self.members)

    @property
    def r(self) -> int:
        """The read quorum actually used (the ``sloppy_quorum`` flaw forces 1)."""
        return 1 if self.flaws.sloppy_quorum else self.config.r

    @property
    def w(self) -> int:
        """The write quorum actually used (the ``sloppy_quorum`` flaw forces 1)."""
        return 1 if self.flaws.sloppy_quorum else self.config.w

    @property
    def write_back(self) -> bool:
        return self.config.write_back and not self.flaws.skip_write_back

    @property
    def store(self) -> Mapping[str, tuple[Version, Any]]:
        """Read-only view: key -> (version, value) held by this replica."""
        return MappingProxyType(self._store)

    @property
    def pending_requests(self) -> int:
        return len(self._requests)

    def next_wakeup(self) -> int | None:
        """Earliest local time at which :meth:`tick` has something to do, if any."""
        return min((req.deadline_ms for req in self._requests.values()), default=None)

    # --- Core protocol --------------------------------------------------------------------

    def tick(self, now_ms: int, wall_ms: int | None = None) -> None:
        self._now = now_ms
        for req in list(self._requests.values()):
            if now_ms >= req.deadline_ms:
                self._time_out(req)

    def step(self, message: Message) -> None:
        if isinstance(message, ClientRequest):
            self._on_client(message)
        elif isinstance(message, QueryVersion):
            self._on_query(message)
        elif isinstance(message, StoreValue):
            self._on_store(message)
        elif isinstance(message, QueryVersionReply):
            self._on_query_reply(message)
        elif isinstance(message, StoreAck):
            self._on_store_ack(message)
        # Anything else (a stray message of another protocol) is ignored: a replica must
        # survive whatever the network hands it.

    def ready(self) -> Ready:
        return self._out.take()

    # --- replica side ------------------------------------------------------------------------

    def _local(self, key: str) -> tuple[Version, Any]:
        return self._store.get(key, (ZERO_VERSION, None))

    def _apply_store(self, key: str, version: Version, value: Any) -> None:
        """Keep ``value`` if ``version`` is newer; persist it before anything acks it."""
        if version <= self._local(key)[0]:
            return
        self._store[key] = (version, value)
        self._out.persist.append(Put(KV_PREFIX + key, (version, value)))
        self._event("store", key=key, version=list(version), value=value)

    def _on_query(self, msg: QueryVersion) -> None:
        version, value = self._local(msg.key)
        self._send(
            QueryVersionReply(self.node_id, msg.src, msg.epoch, msg.rid, msg.key, version, value)
        )

    def _on_store(self, msg: StoreValue) -> None:
        version = _as_version(msg.version)
        self._apply_store(msg.key, version, msg.value)
        self._send(StoreAck(self.node_id, msg.src, msg.epoch, msg.rid, msg.key, version))

    # --- coordinator side ----------------------------------------------------------------------

    def _on_client(self, msg: ClientRequest) -> None:
        ident = (msg.client_id, msg.seq)
        if ident in self._inflight:
            return  # a retry of a request still running here: its reply is on the way
        cached = self._answered.get(msg.client_id)
        if cached is not None and cached[0] == msg.seq:
            self._out.replies.append(dataclasses.replace(cached[1], dst=msg.src))
            return
        is_write = msg.op in WRITE_OPS
        if (not is_write and msg.op not in READ_OPS) or msg.key is None:
            # Definite: we refused before contacting anyone.
            self._reply_to(msg.src, msg.client_id, msg.seq, "fail", f"unsupported op {msg.op!r}")
            return
        req = _Request(
            rid=self._next_rid,
            reply_to=msg.src,
            client_id=msg.client_id,
            seq=msg.seq,
            op=msg.op,
            is_write=is_write,
            key=msg.key,
            value=msg.value if is_write else None,
        )
        self._next_rid += 1
        self._requests[req.rid] = req
        self._inflight[ident] = req.rid
        self._start_query(req)

    def _start_query(self, req: _Request) -> None:
        # Ask everyone, wait for the first R.  Our own replica answers at once, which is
        # also what makes R = 1 so dangerous: the coordinator only ever asks itself.
        deadline = self._now + self.config.request_timeout_ms
        req.begin_query(deadline, self.node_id, self._local(req.key))
        for peer in self.members:
            if peer != self.node_id:
                self._send(QueryVersion(self.node_id, peer, self.epoch, req.rid, req.key))
        self._check_query(req)

    def _on_query_reply(self, msg: QueryVersionReply) -> None:
        req = self._match(msg.epoch, msg.rid, msg.src, "query")
        if req is None or msg.key != req.key:
            return
        req.answered(msg.src, _as_version(msg.version), msg.value)
        self._check_query(req)

    def _check_query(self, req: _Request) -> None:
        if len(req.answers) < self.r:
            return
        best_version, best_value = req.newest()
        if req.is_write:
            # Also above our own replica's version: two concurrent writes coordinated here
            # saw the same max, and the first already stored (max+1, us) locally -- the
            # second must not reuse that version for a different value.
            counter = max(best_version[0], self._local(req.key)[0][0]) + 1
            self._start_store(req, (counter, self.node_id), req.value)
        elif self.write_back:
            self._start_store(req, best_version, best_value)
        else:
            req.settle(best_version, best_value)
            self._finish(req)

    def _start_store(self, req: _Request, version: Version, value: Any) -> None:
        deadline = self._now + self.config.request_timeout_ms
        req.begin_store(deadline, self.node_id, version, value)
        self._apply_store(req.key, version, value)
        for peer in self.members:
            if peer != self.node_id:
                self._send(
                    StoreValue(self.node_id, peer, self.epoch, req.rid, req.key, version, value)
                )
        self._check_store(req)

    def _on_store_ack(self, msg: StoreAck) -> None:
        req = self._match(msg.epoch, msg.rid, msg.src, "store")
        if req is None or msg.key != req.key:
            return
        req.acked(msg.src, _as_version(msg.version))
        self._check_store(req)

    def _check_store(self, req: _Request) -> None:
        if len(req.acks) >= self.w:
            self._finish(req)

    def _match(self, epoch: int, rid: int, src: str, phase: str) -> _Request | None:
        """The request a reply belongs to, or None for a stale, foreign or late reply."""
        if epoch != self.epoch or src not in self.members:
            return None
        req = self._requests.get(rid)
        if req is None or req.phase != phase:
            return None
        return req

    def _finish(self, req: _Request) -> None:
        self._forget(req)
        data: dict[str, Any] = {"client_id": req.client_id, "seq": req.seq}
        if req.is_write:
            self._event("ack", **data, op=req.op, key=req.key, version=list(req.version))
            reply = self._reply_to(req.reply_to, req.client_id, req.seq, "ok", None)
        else:
            self._event("read", **data, key=req.key, version=list(req.version), value=req.value)
            reply = self._reply_to(req.reply_to, req.client_id, req.seq, "ok", req.value)
        self._answered[req.client_id] = (req.seq, reply)

    def _time_out(self, req: _Request) -> None:
        self._forget(req)
        # Only a store can have changed anything; a pure query phase left no trace.
        status = "unknown" if req.phase == "store" else "unavailable"
        self._event(
            "timeout",
            client_id=req.client_id,
            seq=req.seq,
            op=req.op,
            key=req.key,
            phase=req.phase,
            status=status,
            answers=len(req.answers),
            acks=len(req.acks),
        )
        self._reply_to(req.reply_to, req.client_id, req.seq, status, None)

    def _forget(self, req: _Request) -> None:
        del self._requests[req.rid]
        self._inflight.pop((req.client_id, req.seq), None)

    # --- output helpers ------------------------------------------------------------------------

    def _send(self, msg: Message) -> None:
        self._out.messages.append(msg)

    def _reply_to(self, dst: str, client_id: str, seq: int, status: str, value: Any) -> ClientReply:
        reply = ClientReply(self.node_id, dst, client_id, seq, status, value)
        self._out.replies.append(reply)
        return reply

    def _event(self, kind: str, **data: Any) -> None:
        self._out.events.append(CoreEvent(self.node_id, kind, data))


def _as_version(raw: Any) -> Version:
    """Normalise a version that may have come back from JSON storage as a list."""
    counter, writer = raw
    return (int(counter), str(writer))
