"""A worker that takes a lease-based lock from the Raft KV, then writes to a storage service.

Each client ``job`` runs the classic recipe:

1. **acquire** -- ``get lock`` from the Raft-replicated KV (``(holder, token, expires)``;
   ``holder`` is None when released); if it is free, or its lease has expired by this
   worker's wall clock, ``cas`` it from what was read to ``(me, token + 1, now + ttl)``.  The compare-and-set makes the grant atomic and the token
   strictly increasing: token ``k`` names the ``k``-th grant.  A lock held by someone else is
   polled again after ``poll_ms``; no lock within ``job_timeout_ms`` fails the job.
2. **check, then write** -- on the next tick the worker checks its lease on its monotonic
   clock (measured from when it *sent* the cas, the conservative end), records
   ``lease-checked``, and on the tick after that sends the write with its token.  That gap
   is where a GC pause or a stalled VM strikes in real life: nothing the worker checks before
   it acts can cover the time between the check and the act.
3. **release** -- ``cas`` the lock from its own value to free, ``(None, token, 0)``, whatever
   the storage said (the token stays, so the next grant's is higher).

The client hears ``ok`` when the storage accepted the write, ``fail`` when it rejected it
(or no lock came in time, or the lease was already gone at the check), ``unknown`` when the
storage did not answer.

The KV session of a worker is per incarnation (``<node>-<epoch>``), so a restarted worker
is a new client of the Raft KV; replies still come to the node.  Trace events:
``lock-granted`` {token, ttl_ms, expires_wall}, ``lease-checked`` {token, left_ms},
``lease-lost`` {token}, ``lock-released`` {token, ok}, ``lock-busy`` {holder, token}.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cluster.core.client import ClientConfig, ClientCore
from cluster.core.fenced_storage import StorageAck, StorageWrite
from cluster.core.types import ClientReply, ClientRequest, CoreEvent, Message, Ready, ReadyBuilder

__all__ = ["LOCK_KEY", "LockConfig", "LockWorker"]

LOCK_KEY = "lock"


@dataclass(frozen=True)
class LockConfig:
    """Lease and timing options of the lock workers (ms)."""

    ttl_ms: int = 1000
    """How long a grant lasts."""
    margin_ms: int = 100
    """A holder stops trusting its lease this long before it ends (clock drift, latency)."""
    poll_ms: int = 100
    """How often a worker waiting for a held lock looks again."""
    job_timeout_ms: int = 4000
    """A job that gets no lock in this long fails."""
    write_timeout_ms: int = 1000
    kv_timeout_ms: int = 1000

    def __post_init__(self) -> None:
        for name in ("ttl_ms", "poll_ms", "job_timeout_ms", "write_timeout_ms", "kv_timeout_ms"):
            if getattr(self, name) < 1:
                raise ValueError(f"config: {name} must be >= 1")
        if not 0 <= self.margin_ms < self.ttl_ms:
            raise ValueError("config: margin_ms must be >= 0 and below ttl_ms")


@dataclass
class _Job:
    client: ClientRequest
    deadline: int
    phase: str = "get"  # get | wait | cas | check | write-due | writing | release
    seen: Any = None  # the lock value last read
    want: Any = None  # the lock value a cas in flight would write
    granted: Any = None  # the lock value this job holds
    token: int = 0
    granted_at: int = 0
    cas_sent_at: int = 0
    write_deadline: int = 0
    retry_at: int = 0
    outcome: tuple[str, Any] = ("fail", None)


class LockWorker:
    """One worker node (see the module docstring)."""

    role = "worker"

    def __init__(self, node_id: str, raft_nodes: tuple[str, ...], storage: str, config: LockConfig,
                 rng: random.Random, *, durable: Mapping[str, Any] | None = None) -> None:
        self.node_id = node_id
        self.storage = storage
        self.config = config
        self.epoch = f"{rng.getrandbits(32):08x}"
        self.raft = ClientCore(f"{node_id}-{self.epoch}", raft_nodes,
                               ClientConfig(timeout_ms=config.kv_timeout_ms), rng)
        self.out = ReadyBuilder()
        self.now = 0
        self.wall = 0
        self.job: _Job | None = None
        self.queue: list[ClientRequest] = []
        self._req = 0

    # --- Core protocol ------------------------------------------------------------------------

    def tick(self, now_ms: int, wall_ms: int | None = None) -> None:
        self.now = now_ms
        self.wall = now_ms if wall_ms is None else wall_ms
        self.raft.tick(now_ms)
        self._pump()
        job = self.job
        if job is None:
            self._next_job()
            return
        if job.phase == "wait" and now_ms >= job.retry_at:
            self._get(job)
        elif job.phase == "check":
            left = job.granted_at + self.config.ttl_ms - self.config.margin_ms - now_ms
            if left > 0:
                self._emit("lease-checked", token=job.token, left_ms=left)
                job.phase = "write-due"  # the write goes out on the next tick
            else:
                self._emit("lease-lost", token=job.token)
                self._release(job, ("fail", "the lease ran out before the write"))
        elif job.phase == "write-due":
            self._req += 1
            job.phase = "writing"
            job.write_deadline = now_ms + self.config.write_timeout_ms
            value = job.client.value
            self.out.messages.append(StorageWrite(self.node_id, self.storage, self._req, self.node_id, job.token, value))
        elif job.phase == "writing" and now_ms >= job.write_deadline:
            self._release(job, ("unknown", None))

    def step(self, message: Message) -> None:
        if isinstance(message, ClientReply) and message.client_id == self.raft.client_id:
            self.raft.step(message)
            self._pump()
        elif isinstance(message, ClientRequest):
            if message.op != "job":
                self._reply(message, "fail", f"a worker runs jobs, not {message.op}")
                return
            self.queue.append(message)
            if self.job is None:
                self._next_job()
        elif isinstance(message, StorageAck):
            job = self.job
            if job is not None and job.phase == "writing" and message.req == self._req:
                self._release(job, ("ok", None) if message.accepted else
                              ("fail", f"rejected: token {job.token} is below {message.max_token}"))

    def ready(self) -> Ready:
        return self.out.take()

    # --- the recipe ---------------------------------------------------------------------------

    def _next_job(self) -> None:
        if self.queue:
            req = self.queue.pop(0)
            self.job = _Job(req, self.now + self.config.job_timeout_ms)
            self._get(self.job)

    def _get(self, job: _Job) -> None:
        job.phase = "get"
        self.raft.invoke("get", LOCK_KEY, None, self.now)
        self._pump()

    def _cas(self, job: _Job, new: Any) -> None:
        job.phase = "cas"
        job.want = new
        job.cas_sent_at = self.now
        self.raft.invoke("cas", LOCK_KEY, [job.seen, new], self.now)
        self._pump()

    def _pump(self) -> None:
        """Forward the KV client's requests as this node's, then act on a completion."""
        for m in self.raft.ready().messages:
            self.out.messages.append(dataclasses.replace(m, src=self.node_id))
        done = self.raft.take_completion()
        job = self.job
        if done is None or job is None:
            return
        if job.phase == "get":
            self._on_lock_read(job, done.status, done.value)
        elif job.phase == "cas":
            if done.status == "ok":
                job.granted = job.want
                job.token = int(job.want[1])
                job.granted_at = job.cas_sent_at
                job.phase = "check"
                self._emit("lock-granted", token=job.token, ttl_ms=self.config.ttl_ms, expires_wall=int(job.want[2]))
            else:
                self._wait(job)  # someone else won the race, or the outcome is unknown: look again
        elif job.phase == "release":
            self._emit("lock-released", token=job.token, ok=done.status == "ok")
            self._finish(job, job.outcome)

    def _on_lock_read(self, job: _Job, status: str, value: Any) -> None:
        if status != "ok":
            self._wait(job)
            return
        job.seen = tuple(value) if value is not None else None
        if job.seen is not None and job.want is not None and job.seen == tuple(job.want):
            # Our cas whose answer was lost did land: we hold the lock since we sent it.
            job.granted, job.token, job.granted_at, job.phase = job.want, int(job.want[1]), job.cas_sent_at, "check"
            self._emit("lock-granted", token=job.token, ttl_ms=self.config.ttl_ms, expires_wall=int(job.want[2]))
            return
        if job.seen is not None and job.seen[0] is not None and int(job.seen[2]) > self.wall:
            self._emit("lock-busy", holder=job.seen[0], token=job.seen[1])
            self._wait(job)
            return
        token = int(job.seen[1]) + 1 if job.seen else 1
        self._cas(job, (self.node_id, token, self.wall + self.config.ttl_ms))

    def _wait(self, job: _Job) -> None:
        if self.now >= job.deadline:
            self._finish(job, ("fail", "no lock in time"))
            return
        job.phase = "wait"
        job.retry_at = self.now + self.config.poll_ms

    def _release(self, job: _Job, outcome: tuple[str, Any]) -> None:
        """Free the lock if it is still this grant (a cas from exactly what was written).
        A free lock keeps its last token, ``(None, token, 0)``, so tokens never repeat."""
        job.outcome = outcome
        job.phase = "release"
        self.raft.invoke("cas", LOCK_KEY, [job.granted, (None, job.token, 0)], self.now)
        self._pump()

    def _finish(self, job: _Job, outcome: tuple[str, Any]) -> None:
        status, why = outcome
        self._reply(job.client, status, why)
        self.job = None
        self._next_job()

    def _reply(self, req: ClientRequest, status: str, value: Any) -> None:
        self.out.replies.append(ClientReply(self.node_id, req.src, req.client_id, req.seq, status, value))

    def _emit(self, kind: str, **data: Any) -> None:
        self.out.events.append(CoreEvent(self.node_id, kind, data))
