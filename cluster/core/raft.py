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
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cluster.core.kv import OPS, Command, KVStore, Result, freeze
from cluster.core.raft_config import RaftConfig, RaftFlaws
from cluster.core.raft_messages import (
    AppendEntries,
    AppendEntriesResponse,
    Entry,
    RequestVote,
    RequestVoteResponse,
)
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
LOG = "log"
ROLES: tuple[str, ...] = ("follower", "precandidate", "candidate", "leader")


@dataclass(frozen=True)
class _Read:
    """A ReadIndex read waiting for heartbeat round ``round`` to be acked by a majority."""

    request: ClientRequest
    read_index: int
    round: int


class RaftNode:
    """One Raft server; satisfies :class:`cluster.core.types.Core`."""

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
        self._others = tuple(p for p in peers if p != node_id)
        self._quorum = len(peers) // 2 + 1
        self._out = ReadyBuilder()
        self._hard_state_dirty = False

        image = dict(durable or {})
        term, voted_for = image.get(HARD_STATE, (0, None))
        self._term: int = term
        self._voted_for: str | None = voted_for
        self._log: list[Entry] = list(image.get(LOG, ()))
        self._log_view: tuple[Entry, ...] | None = None
        self._role = "follower"
        self._leader_id: str | None = None
        self._commit = 0
        self._applied = 0
        self._kv = KVStore()

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

        self._votes: dict[str, bool] = {}
        # Leader state, reset by _become_leader and cleared on stepping down.
        self._next: dict[str, int] = {}
        self._match: dict[str, int] = {}
        self._last_heard: dict[str, int] = {}
        self._round = 0
        self._acked_round: dict[str, int] = {}
        self._round_sent_at: dict[int, int] = {}
        self._committed_in_term = False
        self._pending: dict[int, list[ClientRequest]] = {}
        self._pending_ids: dict[tuple[str, int], int] = {}
        self._deferred_reads: list[ClientRequest] = []
        self._reads: list[_Read] = []

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

    # --- small helpers --------------------------------------------------------------

    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        self._out.events.append(CoreEvent(self.node_id, kind, data))

    def _send(self, message: Message) -> None:
        self._out.messages.append(message)

    def _reply(self, req: ClientRequest, status: str, value: Any = None) -> None:
        hint = self._leader_id if status == "redirect" else None
        self._out.replies.append(
            ClientReply(self.node_id, req.src, req.client_id, req.seq, status, value, hint)
        )
        if status == "ok" and req.op in ("put", "cas"):
            self._emit("ack", {"client_id": req.client_id, "seq": req.seq, "op": req.op})

    def _persist_hard_state(self) -> None:
        """Mark term/vote for persisting; :meth:`ready` writes one ``Put`` per batch."""
        self._hard_state_dirty = True

    def _last_index(self) -> int:
        return len(self._log)

    def _term_at(self, index: int) -> int:
        return self._log[index - 1].term if 0 < index <= len(self._log) else 0

    def _reset_election_timer(self) -> None:
        lo, hi = self.config.election_timeout_ms
        self._election_deadline = self._mono + self._rng.randint(lo, hi)

    def _set_role(self, role: str) -> None:
        if role != self._role:
            self._role = role
            self._emit("role", {"role": role, "term": self._term})

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
        mine = (self._term_at(self._last_index()), self._last_index())
        return (m.last_log_term, m.last_log_index) >= mine

    # --- roles ----------------------------------------------------------------------

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
        last = self._last_index()
        for peer in self._others:
            self._send(RequestVote(self.node_id, peer, term, last, self._term_at(last), prevote))

    def _become_leader(self) -> None:
        self._set_role("leader")
        self._leader_id = self.node_id
        last = self._last_index()
        self._next = {p: last + 1 for p in self._others}
        self._match = {p: 0 for p in self._others}
        self._last_heard = {p: self._mono for p in self._others}
        self._acked_round = {p: 0 for p in self._others}
        self._round_sent_at = {}
        self._committed_in_term = False
        # The no-op lets this leader commit an entry of its own term, which is what
        # commits everything before it (Figure 8) and unblocks ReadIndex reads.
        self._append(Entry(self._term, None))
        self._broadcast(rewind=False)
        self._maybe_commit()

    def _abandon_client_requests(self) -> None:
        """Stepping down: we can no longer tell whether our uncommitted entries will
        commit (a new leader may keep them), so writes get ``unknown``, never ``fail``.
        Reads had no effect, so ``unavailable`` is definite and safe to retry."""
        for index in sorted(self._pending):
            for req in self._pending[index]:
                self._reply(req, "unknown")
        for req in self._deferred_reads:
            self._reply(req, "unavailable")
        for read in self._reads:
            self._reply(read.request, "unavailable")
        self._pending.clear()
        self._pending_ids.clear()
        self._deferred_reads.clear()
        self._reads.clear()
        self._next.clear()
        self._match.clear()
        self._round_sent_at.clear()
        self._committed_in_term = False

    def _quorum_active(self) -> bool:
        window = self.config.election_min
        heard = sum(1 for p in self._others if self._mono - self._last_heard[p] < window)
        return 1 + heard >= self._quorum

    # --- elections ------------------------------------------------------------------

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

    # --- replication: follower side -------------------------------------------------

    def _on_append(self, m: AppendEntries) -> None:
        if m.term < self._term:
            # Tell a stale leader about the newer term so it steps down.
            self._send(AppendEntriesResponse(self.node_id, m.src, self._term, False, round=m.round))
            return
        if m.term > self._term or self._role != "follower":
            self._become_follower(m.term, m.src)
        self._leader_id = m.src
        self._last_leader_contact = self._mono
        self._reset_election_timer()

        prev = m.prev_log_index
        if prev > self._last_index() or self._term_at(prev) != m.prev_log_term:
            self._send(
                AppendEntriesResponse(
                    self.node_id,
                    m.src,
                    self._term,
                    False,
                    reject_hint=self._reject_hint(prev),
                    round=m.round,
                )
            )
            return
        self._merge_entries(prev, m.entries)
        match = prev + len(m.entries)
        if min(m.leader_commit, match) > self._commit:
            self._advance_commit(min(m.leader_commit, match))
        self._send(
            AppendEntriesResponse(self.node_id, m.src, self._term, True, match, round=m.round)
        )

    def _reject_hint(self, prev: int) -> int:
        """Where the leader should retry: our last index if we are short, otherwise the
        index before the first entry of the conflicting term (skips a whole term)."""
        if prev > self._last_index():
            return self._last_index()
        conflict_term = self._term_at(prev)
        index = prev
        while index > 1 and self._term_at(index - 1) == conflict_term:
            index -= 1
        return index - 1

    def _merge_entries(self, prev: int, entries: tuple[Entry, ...]) -> None:
        """Append ``entries`` after ``prev``, truncating only at a real conflict: a
        delayed or duplicated AppendEntries must never cut entries we already match."""
        for k, entry in enumerate(entries):
            index = prev + 1 + k
            if index <= self._last_index():
                if self._term_at(index) == entry.term:
                    continue
                removed = self._last_index() - index + 1
                # In correct Raft index > commit here; the "truncate" event lets the
                # safety checker see a committed entry vanish under a flaw.
                self._emit(
                    "truncate",
                    {"index": index, "removed": removed, "commit_index": self._commit},
                )
                del self._log[index - 1 :]
            rest = entries[k:]
            self._log.extend(rest)
            self._log_view = None
            self._out.persist.append(Splice(LOG, index - 1, rest))
            return

    # --- replication: leader side ---------------------------------------------------

    def _append(self, entry: Entry) -> int:
        self._log.append(entry)
        self._log_view = None
        index = self._last_index()
        self._out.persist.append(Splice(LOG, index - 1, (entry,)))
        return index

    def _send_append(self, peer: str) -> None:
        prev = self._next[peer] - 1
        entries = tuple(self._log[prev : prev + self.config.max_batch])
        self._send(
            AppendEntries(
                self.node_id,
                peer,
                self._term,
                prev,
                self._term_at(prev),
                entries,
                self._commit,
                self._round,
            )
        )
        self._next[peer] = prev + len(entries) + 1

    def _broadcast(self, rewind: bool) -> None:
        """Start a heartbeat round.  ``rewind`` (periodic heartbeats) resends everything
        not yet acknowledged, which is how lost AppendEntries are retransmitted."""
        self._round += 1
        self._round_sent_at[self._round] = self._now
        for peer in self._others:
            if rewind:
                self._next[peer] = self._match[peer] + 1
            self._send_append(peer)
        self._heartbeat_deadline = self._mono + self.config.heartbeat_ms
        quorum_round = self._quorum_round()
        for r in [r for r in self._round_sent_at if r < quorum_round]:
            del self._round_sent_at[r]

    def _on_append_response(self, m: AppendEntriesResponse) -> None:
        if m.term > self._term:
            self._become_follower(m.term, None)
            return
        if self._role != "leader" or m.term != self._term or m.src not in self._match:
            return
        peer = m.src
        self._last_heard[peer] = self._mono
        self._acked_round[peer] = max(self._acked_round[peer], m.round)
        if m.success:
            self._match[peer] = max(self._match[peer], m.match_index)
            self._next[peer] = max(self._next[peer], self._match[peer] + 1)
            self._maybe_commit()
            if self._role == "leader" and self._next[peer] <= self._last_index():
                self._send_append(peer)
        else:
            self._next[peer] = max(self._match[peer] + 1, min(self._next[peer], m.reject_hint + 1))
            self._send_append(peer)
        self._process_reads()

    def _maybe_commit(self) -> None:
        matches = sorted([self._last_index(), *self._match.values()], reverse=True)
        n = matches[self._quorum - 1]
        if n <= self._commit:
            return
        # Only an entry of the current term is committed by counting replicas; earlier
        # entries commit with it (Raft paper section 5.4.2, Figure 8).
        if self._term_at(n) == self._term or self.flaws.commit_old_terms_by_count:
            self._advance_commit(n)

    def _advance_commit(self, index: int) -> None:
        self._commit = index
        self._emit("commit", {"index": index, "term": self._term})
        self._apply_committed()
        if self._role != "leader":
            return
        if not self._committed_in_term and self._term_at(index) == self._term:
            self._committed_in_term = True
            deferred, self._deferred_reads = self._deferred_reads, []
            self._serve_reads(deferred)
        self._process_reads()

    def _apply_committed(self) -> None:
        while self._applied < self._commit:
            self._applied += 1
            index = self._applied
            entry = self._log[index - 1]
            cmd = entry.command
            as_json = None if cmd is None else cmd.to_json()
            self._emit("apply", {"index": index, "term": entry.term, "command": as_json})
            if cmd is None:
                continue
            result = self._kv.apply(cmd)
            if cmd.op == "get" and result.status == "ok":
                self._emit("read", {"mode": "log", "key": cmd.key, "read_index": index})
            for req in self._pending.pop(index, []):
                self._pending_ids.pop((req.client_id, req.seq), None)
                self._reply_result(req, result)

    def _reply_result(self, req: ClientRequest, result: Result) -> None:
        if result.status in ("ok", "fail"):
            self._reply(req, result.status, result.value)
        else:  # a stale duplicate: the client has moved on; say nothing definite
            self._reply(req, "unknown")

    # --- client requests ------------------------------------------------------------

    def _on_client(self, req: ClientRequest) -> None:
        if req.op not in OPS or not isinstance(req.key, str):
            self._reply(req, "fail", f"bad request: op {req.op!r} key {req.key!r}")
            return
        if req.op == "cas" and not (isinstance(req.value, list | tuple) and len(req.value) == 2):
            self._reply(req, "fail", "cas value must be (expected, new)")
            return
        if self._role != "leader":
            if req.op == "get" and self.flaws.read_from_any_node:
                self._answer_read(req, "any_node", self._applied)
            else:
                self._reply(req, "redirect")
            return
        if req.op == "get" and self.config.read_mode != "log":
            self._serve_reads([req])
            return
        ident = (req.client_id, req.seq)
        if ident in self._pending_ids:  # a retry of an entry already in our log
            self._pending[self._pending_ids[ident]].append(req)
            return
        cmd = Command(req.client_id, req.seq, req.op, req.key, freeze(req.value))
        index = self._append(Entry(self._term, cmd))
        if self.flaws.ack_before_commit and req.op in ("put", "cas"):
            self._reply(req, "ok")
        else:
            self._pending[index] = [req]
            self._pending_ids[ident] = index
        for peer in self._others:
            self._send_append(peer)
        self._maybe_commit()

    def _answer_read(self, req: ClientRequest, mode: str, read_index: int) -> None:
        assert req.key is not None
        self._emit("read", {"mode": mode, "key": req.key, "read_index": read_index})
        self._reply(req, "ok", self._kv.read(req.key))

    def _serve_reads(self, reqs: list[ClientRequest]) -> None:
        """Leader, non-log reads: answer, or start one ReadIndex round for them all."""
        if not reqs:
            return
        if self.flaws.leader_reads_without_quorum:
            for req in reqs:
                self._answer_read(req, "leader_local", self._applied)
            return
        if not self._committed_in_term:
            self._deferred_reads.extend(reqs)
            return
        if self.config.read_mode == "lease" and self._lease_holds():
            for req in reqs:
                self._answer_read(req, "lease", self._commit)
            return
        round_ = self._round + 1
        self._reads.extend(_Read(req, self._commit, round_) for req in reqs)
        self._broadcast(rewind=False)
        self._process_reads()

    def _quorum_round(self) -> int:
        """The newest heartbeat round that a majority (counting us) has acknowledged."""
        rounds = sorted([self._round, *self._acked_round.values()], reverse=True)
        return rounds[self._quorum - 1]

    def _process_reads(self) -> None:
        if not self._reads:
            return
        confirmed = self._quorum_round()
        waiting: list[_Read] = []
        for read in self._reads:
            if read.round <= confirmed and self._applied >= read.read_index:
                self._answer_read(read.request, "read_index", read.read_index)
            else:
                waiting.append(read)
        self._reads = waiting

    def _lease_length(self) -> float:
        lo = self.config.election_min
        if self.flaws.lease_ignores_clock_skew:
            return float(lo)
        d = self.config.max_clock_drift
        return lo * (1 - d) / (1 + d) - self.config.heartbeat_ms

    def _lease_holds(self) -> bool:
        """Lease start = local send time of the newest round a majority acknowledged."""
        sent_at = self._round_sent_at.get(self._quorum_round())
        if sent_at is None or not self._committed_in_term:
            return False
        return self._now < sent_at + self._lease_length()
