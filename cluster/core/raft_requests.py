"""Raft client requests: writes into the log, and reads by log, ReadIndex or lease.

Split out of :mod:`cluster.core.raft` (whose docstring describes the read modes).  A
leader appends writes (and ``log``-mode reads) to its log; ``read_index`` reads wait for a
heartbeat round acknowledged by a majority; ``lease`` reads are answered locally while the
lease computed from such a round holds.  Stepping down abandons what is still waiting.
"""

from __future__ import annotations

from cluster.core.kv import OPS, Command, freeze
from cluster.core.raft_messages import Entry
from cluster.core.raft_state import RaftState, _Read
from cluster.core.types import ClientRequest


class RequestMixin(RaftState):
    """Client request handling, the ReadIndex and lease read paths, and abandoning on step-down."""

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
