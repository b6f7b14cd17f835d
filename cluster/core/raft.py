"""Raft as a pure state machine: election, log replication, commit, and three read paths.

A :class:`RaftNode` never does I/O.  The driver calls ``tick(now_ms)`` with the node's
local clock, ``step(message)`` with Raft messages and client requests, and drains
``ready()``: durable writes first (synced unless the ``no_fsync_log`` flaw is on), then
messages, then client replies.  Because a vote reply or an AppendEntries ack is emitted in
the same :class:`Ready` as the write it depends on, "persist before you promise" holds
for every driver without the core knowing about disks.

Durable state (what :meth:`Storage.load` hands back on restart):

* ``"hard_state"`` -> ``(term, voted_for)``, one ``Put`` so term and vote change
  atomically (a crash can never keep a new term with an old term's vote);
* ``"log"`` -> tuple of :class:`Entry`, written with ``Splice`` (0-based start).

Everything else (commit index, the KV) is volatile: a restarted node re-applies its log as
commits become known, which is exactly what makes a lost-but-"committed" entry visible.

Timers use a monotonic "elapsed" clock built from the ``tick`` readings (a reading that
goes backwards counts as no time passing), as a real node would use a monotonic timer.
The *lease*, however, compares raw local readings, like a lease on a wall clock: a clock
stepped backwards on the leader stretches its lease.  That is deliberate -- leases are
only as safe as clocks, and the playground lets a learner see it.

Reads (``config.read_mode``):

* ``log``        -- a get is a log entry like a write; answered when applied.
* ``read_index`` -- the leader records its commit index, confirms it is still leader by
  a heartbeat round acknowledged by a majority, and answers once applied past the index.
  A new leader first commits its election no-op (its commit index may lag till then).
* ``lease``      -- after a heartbeat round sent at local time ``t`` is acked by a
  majority, followers will not vote for anyone else until ``election_min`` after they got
  it; so the leader answers locally until ``t + election_min*(1-d)/(1+d) - heartbeat``.
  Without a valid lease it falls back to ReadIndex (mode ``read_index`` in the event).

The node is assembled from mixins, one responsibility each: :mod:`~cluster.core.raft_state`
(fields, constructor, helpers), :mod:`~cluster.core.raft_election`,
:mod:`~cluster.core.raft_replication` and :mod:`~cluster.core.raft_requests` (client
requests and reads).  This module keeps the public face: the ``Core`` interface and
inspection.
"""

from __future__ import annotations

from cluster.core.kv import KVStore
from cluster.core.raft_config import RaftConfig, RaftFlaws
from cluster.core.raft_election import ElectionMixin
from cluster.core.raft_messages import (
    AppendEntries,
    AppendEntriesResponse,
    Entry,
    RequestVote,
    RequestVoteResponse,
)
from cluster.core.raft_replication import ReplicationMixin
from cluster.core.raft_requests import RequestMixin
from cluster.core.raft_state import HARD_STATE, LOG, ROLES
from cluster.core.types import ClientRequest, Message, Put, Ready

__all__ = ["HARD_STATE", "LOG", "ROLES", "RaftConfig", "RaftFlaws", "RaftNode"]


class RaftNode(ElectionMixin, ReplicationMixin, RequestMixin):
    """One Raft server; satisfies :class:`cluster.core.types.Core`.

    Constructed as ``RaftNode(node_id, peers, config, rng, durable=None, flaws=RaftFlaws())``
    (see :class:`~cluster.core.raft_state.RaftState`).
    """

    # --- inspection -----------------------------------------------------------------

    @property
    def role(self) -> str:
        return self._role

    @property
    def term(self) -> int:
        return self._term

    @property
    def voted_for(self) -> str | None:
        return self._voted_for

    @property
    def leader_id(self) -> str | None:
        return self._leader_id

    @property
    def commit_index(self) -> int:
        return self._commit

    @property
    def last_applied(self) -> int:
        return self._applied

    @property
    def log(self) -> tuple[Entry, ...]:
        """The whole log (entry ``i`` is ``log[i - 1]``); cached until it changes."""
        if self._log_view is None:
            self._log_view = tuple(self._log)
        return self._log_view

    @property
    def kv(self) -> KVStore:
        return self._kv

    @property
    def match_index(self) -> dict[str, int]:
        """The leader's view of each follower's match index (empty when not leader)."""
        return dict(self._match)

    def lease_valid(self) -> bool:
        """Whether a lease read would be served locally right now."""
        return self._role == "leader" and self._lease_holds()

    def __repr__(self) -> str:
        return (
            f"RaftNode({self.node_id} {self._role} term={self._term} "
            f"log={len(self._log)} commit={self._commit})"
        )

    # --- Core interface -------------------------------------------------------------

    def tick(self, now_ms: int) -> None:
        if not self._started:
            self._started = True
            self._now = now_ms
            self._reset_election_timer()
            return
        self._mono += max(0, now_ms - self._now)
        self._now = now_ms
        if self._role == "leader":
            if self.config.check_quorum and not self._quorum_active():
                self._become_follower(self._term, None)
            elif self._mono >= self._heartbeat_deadline:
                self._broadcast(rewind=True)
        elif self._mono >= self._election_deadline:
            if self.config.prevote:
                self._become_precandidate()
            else:
                self._become_candidate()

    def step(self, message: Message) -> None:
        if isinstance(message, ClientRequest):
            self._on_client(message)
        elif isinstance(message, AppendEntries):
            self._on_append(message)
        elif isinstance(message, AppendEntriesResponse):
            self._on_append_response(message)
        elif isinstance(message, RequestVote):
            self._on_vote(message)
        elif isinstance(message, RequestVoteResponse):
            self._on_vote_response(message)
        else:
            raise TypeError(f"RaftNode cannot handle {type(message).__name__}")

    def ready(self) -> Ready:
        if self._hard_state_dirty:
            self._hard_state_dirty = False
            vote = None if self.flaws.no_persist_vote else self._voted_for
            self._out.persist.insert(0, Put(HARD_STATE, (self._term, vote)))
        if self.flaws.no_fsync_log:
            self._out.sync = False
        return self._out.take()
