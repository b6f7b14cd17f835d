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

Transactions (:mod:`cluster.core.kv_txn`: ``txn``, and the bank's ``open``, ``transfer``,
``read``; ``config.txn_mode``):

* ``log``        -- the whole transaction is one log entry, run when applied: every
  replica runs it at the same point of the same order, so transactions are strict
  serializable by construction.
* ``optimistic`` -- the leader reads at a snapshot confirmed like a ReadIndex read (or a
  lease read); a transaction that cannot write is answered there, one that can is
  committed through the log as a ``txn-commit`` entry that re-checks, when applied, that
  nothing wrote the keys it read or writes since its snapshot (and fails definitely if
  something did).  Strict serializable too; the flaws ``txn_no_read_validation`` and
  ``txn_lost_update`` leave keys out of that check.

The flaw ``txn_reads_outside_log`` serves a transaction's reads from the receiving node's
state at once, whatever the mode: a read-only one on any node, a read-write one on the
leader, whose writes then go through the log (unchecked in ``log`` mode).

How the node is built (as etcd's ``raft`` is): :class:`RaftNode` is the one state machine
-- roles, terms, votes, timers, the step/tick dispatch, client requests, applying to the
KV and assembling each :class:`Ready` -- and it uses three parts that each own their
state and are changed only through their methods:

* :class:`~cluster.core.raft_log.RaftLog` -- the entries, their durable ``Splice``
  writes, term lookups and the commit/applied indexes;
* :class:`~cluster.core.raft_progress.ProgressTracker` -- a leader's per-follower
  next/match indexes, liveness and the commit-index arithmetic;
* :class:`~cluster.core.raft_read.ReadOnly` -- heartbeat rounds and their acks, the
  ReadIndex queue, deferred reads and the lease's start.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from cluster.core import kv_txn
from cluster.core.kv import OPS, Command, KVStore, Result, freeze
from cluster.core.raft_config import RaftConfig, RaftFlaws
from cluster.core.raft_log import LOG, RaftLog
from cluster.core.raft_messages import (
    AppendEntries,
    AppendEntriesResponse,
    Entry,
    RequestVote,
    RequestVoteResponse,
)
from cluster.core.raft_progress import ProgressTracker
from cluster.core.raft_read import ReadOnly
from cluster.core.types import (
    ClientReply,
    ClientRequest,
    CoreEvent,
    Message,
    Put,
    Ready,
    ReadyBuilder,
    Splice,
)

__all__ = ["HARD_STATE", "LOG", "ROLES", "RaftConfig", "RaftFlaws", "RaftNode"]

HARD_STATE = "hard_state"
"""Durable key of ``(term, voted_for)``."""
ROLES: tuple[str, ...] = ("follower", "precandidate", "candidate", "leader")

_WRITE_OPS = ("put", "cas")

_TICK_NOW = -(1 << 62)
""":meth:`RaftNode.next_wakeup` before the first tick: any reading starts the clocks."""


class _RandBelow:
    """``rng._randbelow`` for an rng that lacks it: ``randrange(n)`` draws the same."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def __call__(self, n: int) -> int:
        return self._rng.randrange(n)


class RaftNode:
    """One Raft server; satisfies :class:`cluster.core.types.Core`.

    ``durable`` is what :meth:`Storage.load` returned at restart (``None`` for a fresh
    node); ``rng`` draws the election timeouts, so a seed fixes the node's behaviour.
    """

    def __init__(
        self,
        node_id: str,
        peers: tuple[str, ...],
        config: RaftConfig,
        rng: random.Random,
        durable: Mapping[str, Any] | None = None,
        flaws: RaftFlaws = RaftFlaws(),  # noqa: B008 - frozen, so a shared default is safe
    ) -> None:
        if node_id not in peers:
            raise ValueError(f"peers must include the node itself ({node_id!r})")
        self.node_id = node_id
        self.peers = tuple(peers)
        self.config = config
        self.flaws = flaws
        self._rng = rng
        lo, hi = config.election_timeout_ms
        self._timeout_lo = lo
        self._timeout_span = hi - lo + 1
        self._randbelow = getattr(rng, "_randbelow", None) or _RandBelow(rng)
        # The election timeout is drawn on every AppendEntries a follower takes.  For a
        # plain random.Random, _randbelow draws k-bit numbers until one is below n; doing
        # that here draws the same numbers without a Python call per draw.
        plain = getattr(type(rng), "_randbelow", None) is getattr(random.Random, "_randbelow_with_getrandbits", 0)
        self._getrandbits = rng.getrandbits if plain else None
        self._timeout_bits = self._timeout_span.bit_length()
        self._others = tuple(p for p in peers if p != node_id)
        self._quorum = len(peers) // 2 + 1
        self._out = ReadyBuilder()

        image = dict(durable or {})
        term, voted_for = image.get(HARD_STATE, (0, None))
        self._term: int = term
        self._voted_for: str | None = voted_for
        self._hard_state_dirty = False
        self._log = RaftLog(image.get(LOG, ()))
        self._progress = ProgressTracker(self._others, self._quorum)
        self._reads = ReadOnly(self._others, self._quorum)
        self._kv = KVStore()
        self._role = "follower"
        self._leader_id: str | None = None
        self._votes: dict[str, bool] = {}
        # Leader state: whether an entry of this term has committed yet (until then the
        # commit index may lag, so no read can be served), and the client writes waiting
        # for their entry to apply.
        self._committed_in_term = False
        self._pending: dict[int, list[ClientRequest]] = {}
        self._pending_ids: dict[tuple[str, int], int] = {}
        # Work that client requests ask for and the next ready() does once for all of
        # them (etcd batches the same way): replicate new entries, start a ReadIndex round.
        self._replicate_due = False
        self._round_due = False

        # Clocks: raw local reading (leases) and monotonic elapsed time (timers).
        self._started = False
        self._now = 0
        self._mono = 0
        self._election_deadline = 0
        self._heartbeat_deadline = 0
        # When we last heard a live leader (monotonic).  A *restarted* node (term > 0)
        # counts its boot as such a moment: it may have acked a lease round just before
        # crashing, and voting at once after a quick restart would break that lease.
        self._last_leader_contact: int | None = 0 if self._term > 0 else None

        self._emit("role", {"role": self._role, "term": self._term})

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
        return self._log.commit

    @property
    def last_applied(self) -> int:
        return self._log.applied

    @property
    def log(self) -> tuple[Entry, ...]:
        """The whole log (entry ``i`` is ``log[i - 1]``); cached until it changes."""
        return self._log.entries()

    @property
    def kv(self) -> KVStore:
        return self._kv

    @property
    def match_index(self) -> dict[str, int]:
        """The leader's view of each follower's match index (empty when not leader)."""
        return self._progress.match_index()

    def lease_valid(self) -> bool:
        """Whether a lease read would be served locally right now."""
        return self._role == "leader" and self._lease_holds()

    def __repr__(self) -> str:
        return (
            f"RaftNode({self.node_id} {self._role} term={self._term} "
            f"log={self._log.last_index} commit={self._log.commit})"
        )

    # --- Core interface -------------------------------------------------------------

    def tick(self, now_ms: int, wall_ms: int | None = None) -> None:
        if not self._started:
            self._started = True
            self._now = now_ms
            self._reset_election_timer()
            return
        if now_ms > self._now:
            self._mono += now_ms - self._now
        self._now = now_ms
        if self._role == "leader":
            if self.config.check_quorum and not self._progress.quorum_active(
                self._mono, self.config.election_min
            ):
                self._become_follower(self._term, None)
            elif self._mono >= self._heartbeat_deadline:
                self._broadcast(rewind=True)
        elif self._mono >= self._election_deadline:
            if self.config.prevote:
                self._become_precandidate()
            else:
                self._become_candidate()

    def next_wakeup(self) -> int:
        """The lowest ``now_ms`` at which :meth:`tick` does more than note the reading.

        Timers run on ``_mono``, which a tick advances by ``now_ms - _now``, so a deadline
        ``d`` on it fires at the reading ``_now + d - _mono``.  Below that a tick changes
        nothing but ``_now`` and ``_mono``, and ticking only the last of several such
        readings leaves them as ticking each would (readings never go back), which is what
        lets an engine skip idle ticks (see :mod:`cluster.core.types`)."""
        if not self._started:
            return _TICK_NOW
        if self._role == "leader":
            due = self._heartbeat_deadline
            if self.config.check_quorum:
                expiry = self._progress.quorum_expiry(self.config.election_min)
                if expiry is not None and expiry < due:
                    due = expiry
        else:
            due = self._election_deadline
        return self._now + due - self._mono

    def step(self, message: Message) -> None:
        # Exact classes first, most frequent first: a pointer comparison each when compiled.
        # A subclass of one of them goes through the isinstance tests below.  (No table of
        # bound methods: it would make every core a reference cycle, which only a full
        # garbage collection frees, log and all.)
        if type(message) is AppendEntries:
            self._on_append(message)
        elif type(message) is AppendEntriesResponse:
            self._on_append_response(message)
        elif type(message) is ClientRequest:
            self._on_client(message)
        elif isinstance(message, AppendEntries):
            self._on_append(message)
        elif isinstance(message, AppendEntriesResponse):
            self._on_append_response(message)
        elif isinstance(message, ClientRequest):
            self._on_client(message)
        elif isinstance(message, RequestVote):
            self._on_vote(message)
        elif isinstance(message, RequestVoteResponse):
            self._on_vote_response(message)
        else:
            raise TypeError(f"RaftNode cannot handle {type(message).__name__}")

    def ready(self) -> Ready:
        if self._replicate_due or self._round_due:
            self._flush_client_work()
        out = self._out
        log = self._log
        if log.writes:
            out.persist.extend(log.take_writes())
        hard_state = self._hard_state_dirty
        if hard_state:
            self._hard_state_dirty = False
            vote = None if self.flaws.no_persist_vote else self._voted_for
            out.persist.insert(0, Put(HARD_STATE, (self._term, vote)))
        if self.flaws.no_fsync_log:
            out.sync = False
        elif out.persist and self._role == "leader" and not hard_state:
            out.send_first = self._sends_without_writes(out)
        return out.take()

    def _sends_without_writes(self, out: ReadyBuilder) -> bool:
        """Whether this batch's messages and replies may leave before its writes are
        durable (see ``Ready.send_first``): a leader writing only new entries of its own,
        sending only AppendEntries, and answering only for entries committed in earlier
        batches (a one-node cluster commits the entry it has just written, and must not)."""
        for m in out.messages:
            if type(m) is not AppendEntries:
                return False
        if out.replies:
            if self.flaws.ack_before_commit:
                return False  # its early acks wait for the local write, as they always did
            first_new = min((op.start for op in out.persist if isinstance(op, Splice)), default=0) + 1
            if self._log.commit >= first_new:
                return False
        return True

    # --- output helpers ---------------------------------------------------------------

    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        self._out.events.append(CoreEvent(self.node_id, kind, data))

    def _send(self, message: Message) -> None:
        self._out.messages.append(message)

    def _reply(self, req: ClientRequest, status: str, value: Any = None) -> None:
        hint = self._leader_id if status == "redirect" else None
        self._out.replies.append(
            ClientReply(self.node_id, req.src, req.client_id, req.seq, status, value, hint)
        )
        if status == "ok" and (req.op in _WRITE_OPS or (req.op in kv_txn.TXN_OPS
                                                       and kv_txn.may_write(req.op, req.value))):
            self._emit("ack", {"client_id": req.client_id, "seq": req.seq, "op": req.op})

    def _persist_hard_state(self) -> None:
        """Mark term/vote for persisting; :meth:`ready` writes one ``Put`` per batch."""
        self._hard_state_dirty = True

    # --- roles ------------------------------------------------------------------------

    def _reset_election_timer(self) -> None:
        # randint(lo, hi) is lo + _randbelow(hi - lo + 1) (randrange's fast path): the same
        # draw, without two Python call layers on every AppendEntries.
        getrandbits = self._getrandbits
        if getrandbits is None:
            draw = self._randbelow(self._timeout_span)
        else:
            bits, span = self._timeout_bits, self._timeout_span
            draw = getrandbits(bits)
            while draw >= span:
                draw = getrandbits(bits)
        self._election_deadline = self._mono + self._timeout_lo + draw

    def _set_role(self, role: str) -> None:
        if role != self._role:
            self._role = role
            self._emit("role", {"role": role, "term": self._term})

    def _become_follower(self, term: int, leader: str | None) -> None:
        was_leader = self._role == "leader"
        if term > self._term:
            self._term = term
            self._voted_for = None
            self._persist_hard_state()
        self._leader_id = leader
        if was_leader:
            self._abandon_client_requests()
        self._set_role("follower")
        self._reset_election_timer()

    def _become_precandidate(self) -> None:
        """PreVote: poll with ``term + 1`` without touching term or vote, so a node that
        cannot win (partitioned, stale log) never forces a term change on the others."""
        self._set_role("precandidate")
        self._leader_id = None
        self._votes = {self.node_id: True}
        self._reset_election_timer()
        self._emit("election", {"term": self._term + 1, "prevote": True})
        self._request_votes(self._term + 1, prevote=True)
        if len(self._votes) >= self._quorum:
            self._become_candidate()

    def _become_candidate(self) -> None:
        self._term += 1
        self._voted_for = self.node_id
        self._persist_hard_state()
        self._set_role("candidate")
        self._leader_id = None
        self._votes = {self.node_id: True}
        self._reset_election_timer()
        self._emit("election", {"term": self._term, "prevote": False})
        self._request_votes(self._term, prevote=False)
        if len(self._votes) >= self._quorum:
            self._become_leader()

    def _request_votes(self, term: int, prevote: bool) -> None:
        last, last_term = self._log.last_index, self._log.last_term
        for peer in self._others:
            self._send(RequestVote(self.node_id, peer, term, last, last_term, prevote))

    def _become_leader(self) -> None:
        self._set_role("leader")
        self._leader_id = self.node_id
        self._progress.reset(self._log.last_index, self._mono)
        self._reads.reset()
        self._committed_in_term = False
        # The no-op lets this leader commit an entry of its own term, which is what
        # commits everything before it (Figure 8) and unblocks ReadIndex reads.
        self._log.append(Entry(self._term, None))
        self._broadcast(rewind=False)
        self._maybe_commit()

    def _abandon_client_requests(self) -> None:
        """Stepping down: we can no longer tell whether our uncommitted entries will
        commit (a new leader may keep them), so writes get ``unknown``, never ``fail``.
        Reads had no effect, so ``unavailable`` is definite and safe to retry."""
        for index in sorted(self._pending):
            for req in self._pending[index]:
                self._reply(req, "unknown")
        deferred, waiting = self._reads.clear()
        for req in deferred:
            self._reply(req, "unavailable")
        for req in waiting:
            self._reply(req, "unavailable")
        self._pending.clear()
        self._pending_ids.clear()
        self._progress.clear()
        self._committed_in_term = False

    # --- elections --------------------------------------------------------------------

    def _sticky(self) -> bool:
        """Whether to refuse (pre)votes because a leader is known to be live.

        Only with check_quorum or lease reads (see :attr:`RaftConfig.sticky`).  A leader
        counts itself as live: with check_quorum it steps down once it is not.
        """
        if not self.config.sticky:
            return False
        if self._role == "leader":
            return True
        return (
            self._last_leader_contact is not None
            and self._mono - self._last_leader_contact < self.config.election_min
        )

    def _candidate_log_ok(self, m: RequestVote) -> bool:
        if self.flaws.skip_up_to_date_check:
            return True
        return self._log.is_up_to_date(m.last_log_term, m.last_log_index)

    def _on_vote(self, m: RequestVote) -> None:
        if m.prevote:
            granted = m.term > self._term and not self._sticky() and self._candidate_log_ok(m)
            term = m.term if granted else self._term
            self._send(RequestVoteResponse(self.node_id, m.src, term, granted, prevote=True))
            return
        if m.term > self._term:
            if self._sticky():
                # Ignore the higher term: a live leader must not be deposed by a node
                # that merely lost touch (and a lease holder relies on this).
                self._send(RequestVoteResponse(self.node_id, m.src, self._term, False))
                return
            self._become_follower(m.term, None)
        granted = False
        if m.term == self._term:
            free = self._voted_for in (None, m.src) or self.flaws.vote_twice_in_term
            if free and self._candidate_log_ok(m):
                granted = True
                if self._voted_for != m.src:
                    self._voted_for = m.src
                    self._persist_hard_state()
                self._reset_election_timer()
                self._emit("vote", {"term": self._term, "candidate": m.src})
        self._send(RequestVoteResponse(self.node_id, m.src, self._term, granted))

    def _on_vote_response(self, m: RequestVoteResponse) -> None:
        if m.prevote:
            if m.granted:
                if self._role == "precandidate" and m.term == self._term + 1:
                    self._votes[m.src] = True
                    if len(self._votes) >= self._quorum:
                        self._become_candidate()
            elif m.term > self._term:
                self._become_follower(m.term, None)
            return
        if m.term > self._term:
            self._become_follower(m.term, None)
            return
        if self._role == "candidate" and m.term == self._term and m.granted:
            self._votes[m.src] = True
            if len(self._votes) >= self._quorum:
                self._become_leader()

    # --- replication: follower side ----------------------------------------------------

    def _on_append(self, m: AppendEntries) -> None:
        term = self._term
        if m.term < term:
            # Tell a stale leader about the newer term so it steps down.
            self._send(AppendEntriesResponse(self.node_id, m.src, term, False, round=m.round))
            return
        if m.term > term or self._role != "follower":
            self._become_follower(m.term, m.src)
        self._leader_id = m.src
        self._last_leader_contact = self._mono
        self._reset_election_timer()

        log = self._log
        prev = m.prev_log_index
        if not log.matches(prev, m.prev_log_term):
            self._send(
                AppendEntriesResponse(
                    self.node_id,
                    m.src,
                    self._term,
                    False,
                    reject_hint=log.reject_hint(prev),
                    round=m.round,
                )
            )
            return
        if m.entries:
            cut = log.merge(prev, m.entries)
            if cut is not None:
                # In correct Raft the cut is above the commit index; the event lets the
                # safety checker see a committed entry vanish under a flaw.
                self._emit(
                    "truncate",
                    {"index": cut.start, "removed": cut.removed, "commit_index": log.commit},
                )
        match = prev + len(m.entries)
        commit = m.leader_commit
        if commit > match:
            commit = match
        if commit > log.commit:
            self._advance_commit(commit)
        # Runs for every AppendEntries a follower takes: the reply is built positionally
        # (match_index, reject_hint, round) and queued without a call.
        self._out.messages.append(
            AppendEntriesResponse(self.node_id, m.src, self._term, True, match, 0, m.round)
        )

    # --- replication: leader side ------------------------------------------------------

    def _send_append(self, peer: str) -> None:
        progress = self._progress
        prev = progress.next_index(peer) - 1
        log = self._log
        prev_term, entries = log.after(prev, self.config.max_batch)
        self._out.messages.append(
            AppendEntries(
                self.node_id, peer, self._term, prev, prev_term, entries, log.commit,
                self._reads.round,
            )
        )
        progress.sent(peer, prev + len(entries))

    def _broadcast(self, rewind: bool) -> None:
        """Start a heartbeat round.  ``rewind`` (periodic heartbeats) resends everything
        not yet acknowledged, which is how lost AppendEntries are retransmitted."""
        self._reads.start_round(self._now)
        self._round_due = False  # this round confirms every read waiting for one
        progress = self._progress
        for peer in self._others:
            if rewind:
                progress.rewind(peer)
            self._send_append(peer)
        self._heartbeat_deadline = self._mono + self.config.heartbeat_ms

    def _on_append_response(self, m: AppendEntriesResponse) -> None:
        if m.term > self._term:
            self._become_follower(m.term, None)
            return
        progress = self._progress
        peer = m.src
        if self._role != "leader" or m.term != self._term or not progress.tracks(peer):
            return
        progress.heard_from(peer, self._mono)
        self._reads.acked(peer, m.round)
        if m.success:
            # A match that did not move cannot move the committed index: every other input
            # of _maybe_commit (our log, our term) is followed by a call of its own.  Nor can
            # one that moved to at most the commit index: the majority value rises, if at all,
            # no higher than the larger of that match and the value the last call judged.
            if progress.succeeded(peer, m.match_index) and m.match_index > self._log.commit:
                self._maybe_commit()
            if self._role == "leader" and progress.needs_entries(peer, self._log.last_index):
                self._send_append(peer)
        else:
            progress.rejected(peer, m.reject_hint)
            self._send_append(peer)
        self._process_reads()

    def _maybe_commit(self) -> None:
        log = self._log
        n = self._progress.committed(log.last_index)
        if n <= log.commit:
            return
        # Only an entry of the current term is committed by counting replicas; earlier
        # entries commit with it (Raft paper section 5.4.2, Figure 8).
        if log.term_at(n) == self._term or self.flaws.commit_old_terms_by_count:
            self._advance_commit(n)

    def _advance_commit(self, index: int) -> None:
        self._log.commit_to(index)
        self._emit("commit", {"index": index, "term": self._term})
        self._apply_committed()
        if self._role != "leader":
            return
        if not self._committed_in_term and self._log.term_at(index) == self._term:
            self._committed_in_term = True
            self._serve_reads(self._reads.take_deferred())
        self._process_reads()

    def _apply_committed(self) -> None:
        log = self._log
        pending = self._pending
        while (step := log.next_to_apply()) is not None:
            index, entry = step
            cmd = entry.command
            as_json = None if cmd is None else cmd.to_json()
            self._emit("apply", {"index": index, "term": entry.term, "command": as_json})
            if cmd is None:
                continue
            result = self._kv.apply(cmd)
            if cmd.op == "get" and result.status == "ok":
                self._emit("read", {"mode": "log", "key": cmd.key, "read_index": index})
            waiting = pending.pop(index, None)
            if waiting:
                for req in waiting:
                    self._pending_ids.pop((req.client_id, req.seq), None)
                    self._reply_result(req, result)

    def _reply_result(self, req: ClientRequest, result: Result) -> None:
        if result.status in ("ok", "fail"):
            self._reply(req, result.status, result.value)
        else:  # a stale duplicate: the client has moved on; say nothing definite
            self._reply(req, "unknown")

    # --- client requests ----------------------------------------------------------------

    def _flush_client_work(self) -> None:
        """Replicate what client requests appended since the last batch -- one
        AppendEntries per follower for all of them, however many arrived -- and start one
        ReadIndex round for every read that arrived.  A round's AppendEntries carry the new
        entries too, so it goes first."""
        replicate, self._replicate_due = self._replicate_due, False
        round_, self._round_due = self._round_due, False
        if self._role != "leader":
            return
        if round_:
            self._broadcast(rewind=False)
            self._process_reads()
        if replicate:
            progress, last = self._progress, self._log.last_index
            for peer in self._others:
                if progress.needs_entries(peer, last):
                    self._send_append(peer)

    def _on_client(self, req: ClientRequest) -> None:
        if req.op in kv_txn.TXN_OPS:
            self._on_txn(req)
            return
        if req.op not in OPS or not isinstance(req.key, str):
            self._reply(req, "fail", f"bad request: op {req.op!r} key {req.key!r}")
            return
        if req.op == "cas" and not (isinstance(req.value, list | tuple) and len(req.value) == 2):
            self._reply(req, "fail", "cas value must be (expected, new)")
            return
        if self._role != "leader":
            if req.op == "get" and self.flaws.read_from_any_node:
                self._answer_read(req, "any_node", self._log.applied)
            else:
                self._reply(req, "redirect")
            return
        if req.op == "get" and self.config.read_mode != "log":
            self._serve_reads([req], batch=True)
            return
        self._propose(req, Command(req.client_id, req.seq, req.op, req.key, freeze(req.value)))

    def _propose(self, req: ClientRequest, cmd: Command) -> None:
        """Leader: append ``cmd`` for ``req`` and reply once it is applied."""
        ident = (req.client_id, req.seq)
        if ident in self._pending_ids:  # a retry of an entry already in our log
            self._pending[self._pending_ids[ident]].append(req)
            return
        index = self._log.append(Entry(self._term, cmd))
        if self.flaws.ack_before_commit and req.op in _WRITE_OPS:
            self._reply(req, "ok")
        else:
            self._pending[index] = [req]
            self._pending_ids[ident] = index
        self._replicate_due = True
        self._maybe_commit()

    # --- transactions -----------------------------------------------------------------------

    def _on_txn(self, req: ClientRequest) -> None:
        problem = kv_txn.request_error(req.op, req.value)
        if problem is not None:
            self._reply(req, "fail", f"bad request: {problem}")
            return
        value = freeze(req.value)
        local = self.flaws.txn_reads_outside_log
        if self._role != "leader":
            if local and not kv_txn.may_write(req.op, value):
                self._txn_at_snapshot(req, "txn_local", self._log.applied)
            else:
                self._reply(req, "redirect")
        elif local:
            self._txn_at_snapshot(req, "txn_local", self._log.applied)
        elif self.config.txn_mode == "optimistic":
            self._serve_reads([req])  # the snapshot is taken where a get would be answered
        else:
            self._propose(req, Command(req.client_id, req.seq, req.op, "", value))

    def _txn_at_snapshot(self, req: ClientRequest, mode: str, read_index: int) -> None:
        """Run ``req`` against this node's state now: answer it if it cannot write,
        otherwise commit it through the log (leader only) with the keys to validate."""
        done = self._kv.outcome_of(req.client_id, req.seq)
        if done is not None:  # a retry of a transaction already applied
            self._reply_result(req, done)
            return
        value = freeze(req.value)
        outcome = kv_txn.evaluate(req.op, value, self._kv.read)
        self._emit("read", {"mode": mode, "keys": list(outcome.reads), "read_index": read_index})
        if not kv_txn.may_write(req.op, value):
            self._reply(req, outcome.status, outcome.value)
            return
        if self._role != "leader":
            self._reply(req, "redirect")
            return
        if self.config.txn_mode == "optimistic":
            check = kv_txn.validated_keys(
                outcome,
                reads=not self.flaws.txn_no_read_validation,
                writes=not self.flaws.txn_lost_update,
            )
        else:  # reads taken outside a log that has no validation step: nothing is checked
            check = ()
        commit = kv_txn.commit_value(self._kv.version, check, outcome)
        self._propose(req, Command(req.client_id, req.seq, kv_txn.COMMIT, "", commit))

    # --- reads ------------------------------------------------------------------------------

    def _answer_read(self, req: ClientRequest, mode: str, read_index: int) -> None:
        if req.op in kv_txn.TXN_OPS:
            self._txn_at_snapshot(req, mode, read_index)
            return
        assert req.key is not None
        self._emit("read", {"mode": mode, "key": req.key, "read_index": read_index})
        self._reply(req, "ok", self._kv.read(req.key))

    def _serve_reads(self, reqs: list[ClientRequest], batch: bool = False) -> None:
        """Leader, non-log reads: answer, or start one ReadIndex round for them all.

        With ``batch`` (reads arriving from clients) the round starts in the next
        :meth:`ready`, so every read that arrives before it shares one round."""
        if not reqs:
            return
        if self.flaws.leader_reads_without_quorum:
            for req in reqs:
                self._answer_read(req, "leader_local", self._log.applied)
            return
        if not self._committed_in_term:
            self._reads.defer(reqs)
            return
        if self.config.read_mode == "lease" and self._lease_holds():
            for req in reqs:
                self._answer_read(req, "lease", self._log.commit)
            return
        self._reads.wait_for_next_round(reqs, self._log.commit)
        if batch:
            self._round_due = True
            return
        self._broadcast(rewind=False)
        self._process_reads()

    def _process_reads(self) -> None:
        reads = self._reads
        if not reads.has_pending:
            return
        for read in reads.take_confirmed(self._log.applied):
            self._answer_read(read.request, "read_index", read.read_index)

    def _lease_length(self) -> float:
        lo = self.config.election_min
        if self.flaws.lease_ignores_clock_skew:
            return float(lo)
        d = self.config.max_clock_drift
        return lo * (1 - d) / (1 + d) - self.config.heartbeat_ms

    def _lease_holds(self) -> bool:
        """Lease start = local send time of the newest round a majority acknowledged."""
        return self._committed_in_term and self._reads.lease_holds(self._now, self._lease_length())

