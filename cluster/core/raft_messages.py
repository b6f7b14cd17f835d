"""Log entries and the messages Raft nodes exchange (see :mod:`cluster.core.raft`).

Log indices in messages are 1-based, as in the Raft paper: index 0 is the empty prefix
with term 0, so ``prev_log_index == 0`` always matches.

Every :class:`AppendEntries` carries the leader's heartbeat ``round``, a counter the
leader bumps each time it broadcasts, and the response echoes it.  A response to round
``r`` proves the follower still accepted this leader's term *after* round ``r`` was sent,
which is exactly what ReadIndex and leases need to know; matching by round (instead of
by time) keeps that proof valid under message delay, duplication and reordering.
"""

from __future__ import annotations

from dataclasses import dataclass

from cluster.core.frozen import finish_records
from cluster.core.kv import Command
from cluster.core.types import Message

__all__ = [
    "AppendEntries",
    "AppendEntriesResponse",
    "Entry",
    "RAFT_MESSAGES",
    "RequestVote",
    "RequestVoteResponse",
]


@dataclass(frozen=True, slots=True)
class Entry:
    """One log entry: the leader's term when it was appended and its command.

    ``command is None`` marks the no-op a new leader appends so it can commit an entry of
    its own term (only then may it commit earlier entries and serve ReadIndex reads).
    """

    term: int
    command: Command | None = None

    def __init__(self, term: int, command: Command | None = None) -> None:
        # Compiled, the native constructor; interpreted, fast_init's replaces it (cluster.core.frozen).
        self.term = term  # type: ignore[misc]
        self.command = command  # type: ignore[misc]


@dataclass(frozen=True, slots=True)
class RequestVote(Message):
    """Candidate -> voter.  With ``prevote`` it is only a poll: ``term`` is the term the
    candidate *would* campaign in, and the voter changes nothing."""

    term: int
    last_log_index: int
    last_log_term: int
    prevote: bool = False

    def __init__(self, src: str, dst: str, term: int, last_log_index: int, last_log_term: int, prevote: bool = False) -> None:
        # Compiled, the native constructor; interpreted, fast_init's replaces it (cluster.core.frozen).
        self.src = src  # type: ignore[misc]
        self.dst = dst  # type: ignore[misc]
        self.term = term  # type: ignore[misc]
        self.last_log_index = last_log_index  # type: ignore[misc]
        self.last_log_term = last_log_term  # type: ignore[misc]
        self.prevote = prevote  # type: ignore[misc]


@dataclass(frozen=True, slots=True)
class RequestVoteResponse(Message):
    """Voter -> candidate.  ``term`` is the voter's term, or for a granted prevote the
    polled term (so the candidate can match the answer to its poll)."""

    term: int
    granted: bool
    prevote: bool = False

    def __init__(self, src: str, dst: str, term: int, granted: bool, prevote: bool = False) -> None:
        # Compiled, the native constructor; interpreted, fast_init's replaces it (cluster.core.frozen).
        self.src = src  # type: ignore[misc]
        self.dst = dst  # type: ignore[misc]
        self.term = term  # type: ignore[misc]
        self.granted = granted  # type: ignore[misc]
        self.prevote = prevote  # type: ignore[misc]


@dataclass(frozen=True, slots=True)
class AppendEntries(Message):
    """Leader -> follower: entries after ``prev_log_index``; empty for a pure heartbeat."""

    term: int
    prev_log_index: int
    prev_log_term: int
    entries: tuple[Entry, ...]
    leader_commit: int
    round: int = 0

    def __init__(self, src: str, dst: str, term: int, prev_log_index: int, prev_log_term: int, entries: tuple[Entry, ...],
                 leader_commit: int, round: int = 0) -> None:
        # Compiled, the native constructor; interpreted, fast_init's replaces it (cluster.core.frozen).
        self.src = src  # type: ignore[misc]
        self.dst = dst  # type: ignore[misc]
        self.term = term  # type: ignore[misc]
        self.prev_log_index = prev_log_index  # type: ignore[misc]
        self.prev_log_term = prev_log_term  # type: ignore[misc]
        self.entries = entries  # type: ignore[misc]
        self.leader_commit = leader_commit  # type: ignore[misc]
        self.round = round  # type: ignore[misc]


@dataclass(frozen=True, slots=True)
class AppendEntriesResponse(Message):
    """Follower -> leader.

    On success ``match_index`` is the last index known to equal the leader's log
    (``prev_log_index + len(entries)``, *not* the follower's last index, whose tail may
    be stale).  On a consistency failure ``reject_hint`` is an index the leader may
    retry after (``next_index = reject_hint + 1``), skipping a whole conflicting term.
    """

    term: int
    success: bool
    match_index: int = 0
    reject_hint: int = 0
    round: int = 0

    def __init__(self, src: str, dst: str, term: int, success: bool, match_index: int = 0, reject_hint: int = 0,
                 round: int = 0) -> None:
        # Compiled, the native constructor; interpreted, fast_init's replaces it (cluster.core.frozen).
        self.src = src  # type: ignore[misc]
        self.dst = dst  # type: ignore[misc]
        self.term = term  # type: ignore[misc]
        self.success = success  # type: ignore[misc]
        self.match_index = match_index  # type: ignore[misc]
        self.reject_hint = reject_hint  # type: ignore[misc]
        self.round = round  # type: ignore[misc]


finish_records(Entry, RequestVote, RequestVoteResponse, AppendEntries, AppendEntriesResponse)

RAFT_MESSAGES: tuple[type[Message], ...] = (
    RequestVote,
    RequestVoteResponse,
    AppendEntries,
    AppendEntriesResponse,
)
"""Every message type of this protocol, for codecs that need to register them."""
