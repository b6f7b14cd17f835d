"""Raft elections: roles, PreVote, voting, becoming leader, and check-quorum.

Split out of :mod:`cluster.core.raft`.  Everything that changes a node's role lives here,
together with the vote handlers and the "sticky leader" rule that keeps a live leader (and
its lease) from being deposed by a node that merely lost touch.
"""

from __future__ import annotations

from cluster.core.raft_messages import Entry, RequestVote, RequestVoteResponse
from cluster.core.raft_state import RaftState


class ElectionMixin(RaftState):
    """Role changes and the RequestVote handlers."""

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
