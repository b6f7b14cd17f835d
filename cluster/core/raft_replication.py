"""Raft log replication: AppendEntries on both sides, commit, and applying to the KV.

Split out of :mod:`cluster.core.raft`.  The follower side merges entries (truncating only
at a real conflict); the leader side sends batches, retransmits on heartbeats, advances
the commit index by counting replicas of a current-term entry, and applies committed
commands, answering the client requests waiting on them.
"""

from __future__ import annotations

from cluster.core.kv import Result
from cluster.core.raft_messages import AppendEntries, AppendEntriesResponse, Entry
from cluster.core.raft_state import LOG, RaftState
from cluster.core.types import ClientRequest, Splice


class ReplicationMixin(RaftState):
    """AppendEntries handling, commit and apply."""

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
