"""Configuration and deliberate flaws of the Raft core (see :mod:`cluster.core.raft`).

Both are frozen data so a scenario can name them, a report can print them, and two runs
with equal configs behave identically.  Every flaw is off by default (design principle
7): a learner switches one on and watches the checker catch the anomaly it causes.
"""

from __future__ import annotations

from dataclasses import dataclass

from cluster.core.flaws import Flaws

__all__ = ["READ_MODES", "TXN_MODES", "RaftConfig", "RaftFlaws"]

READ_MODES: tuple[str, ...] = ("log", "read_index", "lease")
"""How a leader serves ``get``: through the log, by ReadIndex, or under a lease."""
TXN_MODES: tuple[str, ...] = ("log", "optimistic")
"""How a leader runs a transaction: whole in the log, or read at a snapshot and then
committed through the log after validation (see :mod:`cluster.core.raft`)."""


@dataclass(frozen=True)
class RaftConfig:
    """Timing and read-path options of one Raft cluster (all nodes share it)."""

    election_timeout_ms: tuple[int, int] = (150, 300)
    """Randomized per election from the node's rng, so split votes resolve."""
    heartbeat_ms: int = 50
    """Leader heartbeat period; must be well below the election timeout."""
    prevote: bool = False
    """Ask with ``term + 1`` before campaigning, so a partitioned node cannot inflate terms."""
    check_quorum: bool = False
    """A leader that has not heard from a majority for ``election_min`` steps down."""
    read_mode: str = "read_index"
    """``"log"`` | ``"read_index"`` | ``"lease"`` -- see :mod:`cluster.core.raft`."""
    max_clock_drift: float = 0.1
    """Bound on the relative clock-rate error that lease reads assume (0.1 = 10%)."""
    max_batch: int = 64
    """Most entries carried by one AppendEntries."""
    txn_mode: str = "log"
    """``"log"`` | ``"optimistic"`` -- how transactions run; see :mod:`cluster.core.raft`."""

    def __post_init__(self) -> None:
        lo, hi = self.election_timeout_ms
        if not 0 < lo <= hi:
            raise ValueError(f"election_timeout_ms must be 0 < lo <= hi, got {(lo, hi)}")
        if not 0 < self.heartbeat_ms < lo:
            raise ValueError("heartbeat_ms must be positive and below the election timeout")
        if self.read_mode not in READ_MODES:
            raise ValueError(f"unknown read_mode {self.read_mode!r}; known: {READ_MODES}")
        if not 0.0 <= self.max_clock_drift < 1.0:
            raise ValueError("max_clock_drift must be in [0, 1)")
        if self.max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        if self.txn_mode not in TXN_MODES:
            raise ValueError(f"unknown txn_mode {self.txn_mode!r}; known: {TXN_MODES}")

    @property
    def election_min(self) -> int:
        return self.election_timeout_ms[0]

    @property
    def sticky(self) -> bool:
        """Whether followers refuse (pre)votes while a leader is live.

        CheckQuorum needs it so a disruptive node cannot depose a healthy leader; lease
        reads need it for soundness: the lease relies on no node voting for a new leader
        within ``election_min`` of hearing the old one.
        """
        return self.check_quorum or self.read_mode == "lease"


@dataclass(frozen=True)
class RaftFlaws(Flaws):
    """Deliberate Raft mistakes a learner can switch on; all off means correct Raft.

    :meth:`describe` holds each flaw's explanation in one place, so the scenario
    catalogue and the reports explain it in the same words.
    """

    vote_twice_in_term: bool = False
    """Grant a vote even if already voted for someone else this term."""
    skip_up_to_date_check: bool = False
    """Grant votes to candidates with a less up-to-date log."""
    commit_old_terms_by_count: bool = False
    """Commit entries of earlier terms once replicated on a majority (Raft paper Figure 8)."""
    read_from_any_node: bool = False
    """Followers and candidates answer ``get`` from their local state."""
    leader_reads_without_quorum: bool = False
    """The leader answers ``get`` from local state without confirming it is still leader."""
    lease_ignores_clock_skew: bool = False
    """Lease length = election_min, with no margin for clock drift or heartbeat delay."""
    ack_before_commit: bool = False
    """The leader replies ok to put/cas once appended locally, before commit."""
    no_persist_vote: bool = False
    """votedFor is not persisted (lost on crash, so a node can vote twice in a term)."""
    no_fsync_log: bool = False
    """Log and hard state are written with sync=False (lost on crash)."""
    txn_reads_outside_log: bool = False
    """A transaction's reads are served from the receiving node's state at once, outside
    the log and without ReadIndex; only its writes go through the log."""
    txn_no_read_validation: bool = False
    """Optimistic transactions validate only the keys they write, not those they read."""
    txn_lost_update: bool = False
    """Optimistic transactions do not validate the keys they write (read-modify-write
    without a conflict check)."""


_FLAW_DOCS: dict[str, str] = {
    "vote_twice_in_term": (
        "Grant a vote even after voting for another candidate in the same term, so two "
        "leaders can be elected in one term and overwrite each other's committed entries."
    ),
    "skip_up_to_date_check": (
        "Grant votes to candidates whose log is less up to date than the voter's, so a "
        "leader missing committed entries can be elected and overwrite them."
    ),
    "commit_old_terms_by_count": (
        "Commit an entry of an earlier term as soon as a majority stores it (Raft paper "
        "Figure 8): a later leader can still overwrite it, losing a committed entry."
    ),
    "read_from_any_node": (
        "Followers and candidates answer get from their own state, which may lag the "
        "leader: reads go back in time (stale reads)."
    ),
    "leader_reads_without_quorum": (
        "The leader answers get locally without a heartbeat round; a deposed leader that "
        "has not noticed yet serves stale reads."
    ),
    "lease_ignores_clock_skew": (
        "The lease lasts a full election_min with no margin for clock drift or message "
        "delay, so a new leader can be elected while the old one still serves reads."
    ),
    "ack_before_commit": (
        "The leader acknowledges put/cas once appended locally, before a majority has it: "
        "a crash or deposition loses acknowledged writes."
    ),
    "no_persist_vote": (
        "votedFor is never persisted, so a node that crashes and restarts can vote for a "
        "second candidate in the same term (two leaders in one term)."
    ),
    "no_fsync_log": (
        "The log and hard state are written without fsync; a crash loses entries the node "
        "already acknowledged, so a 'committed' entry may vanish from a majority."
    ),
    "txn_reads_outside_log": (
        "A transaction's reads are answered from the state of whichever node receives it, "
        "at once, without ReadIndex; only its writes go through the log.  A read-write "
        "transaction then acts on a state older than its place in the log (read skew, "
        "G-single), and a follower answers read-only ones from the past."
    ),
    "txn_no_read_validation": (
        "Optimistic transactions (txn_mode = optimistic) check at commit only that nobody "
        "wrote the keys they write, not the keys they only read: snapshot isolation, so two "
        "transactions that each read what the other writes both commit (write skew, G2-item)."
    ),
    "txn_lost_update": (
        "Optimistic transactions (txn_mode = optimistic) commit their writes without "
        "checking whether someone wrote those keys since their snapshot: two "
        "read-modify-writes of one key both commit and one overwrites the other (lost update)."
    ),
}
RaftFlaws.DOCS = _FLAW_DOCS
