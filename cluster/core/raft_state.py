"""State and small helpers shared by the parts of the Raft core.

:class:`~cluster.core.raft.RaftNode` is assembled from mixins, one per responsibility:
elections (:mod:`~cluster.core.raft_election`), log replication and commit
(:mod:`~cluster.core.raft_replication`) and client requests with the three read paths
(:mod:`~cluster.core.raft_requests`).  This module holds what they all share: the durable
keys, :class:`RaftState` (the constructor, which restores durable state and sets every
field, plus the output helpers ``_emit``/``_send``/``_reply`` and log accessors), and
type-only declarations of the methods one part calls on another.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cluster.core.kv import KVStore
from cluster.core.raft_config import RaftConfig, RaftFlaws
from cluster.core.raft_messages import Entry
from cluster.core.types import ClientReply, ClientRequest, CoreEvent, Message, ReadyBuilder

__all__ = ["HARD_STATE", "LOG", "ROLES", "RaftState"]

HARD_STATE = "hard_state"
LOG = "log"
ROLES: tuple[str, ...] = ("follower", "precandidate", "candidate", "leader")


@dataclass(frozen=True)
class _Read:
    """A ReadIndex read waiting for heartbeat round ``round`` to be acked by a majority."""

    request: ClientRequest
    read_index: int
    round: int


class RaftState:
    """Fields, constructor and shared helpers of one Raft server (a ``RaftNode``)."""

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

    if TYPE_CHECKING:  # implemented by the mixins; declared so each part type-checks alone

        def _become_follower(self, term: int, leader: str | None) -> None: ...

        def _abandon_client_requests(self) -> None: ...

        def _append(self, entry: Entry) -> int: ...

        def _send_append(self, peer: str) -> None: ...

        def _broadcast(self, rewind: bool) -> None: ...

        def _maybe_commit(self) -> None: ...

        def _serve_reads(self, reqs: list[ClientRequest]) -> None: ...

        def _process_reads(self) -> None: ...

        def _quorum_round(self) -> int: ...
