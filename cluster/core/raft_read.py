"""A leader's read queue: ReadIndex requests, heartbeat-round acks, and the lease's start.

:class:`ReadOnly` owns everything a leader needs to answer a ``get`` without writing it
to the log (etcd's ``readOnly``):

* the **heartbeat rounds**: a counter the leader bumps each time it broadcasts, the local
  time each recent round was sent, and the newest round each follower has answered.  A
  reply to round ``r`` proves the follower still accepted this leader's term after ``r``
  was sent, which is what both ReadIndex and the lease rest on;
* the **ReadIndex queue**: reads waiting for their round to be confirmed by a majority
  and for the state machine to be applied past their read index;
* the **deferred reads**: reads that arrived before this leader committed an entry of its
  own term (its commit index may lag until then, so no read index is safe yet).

The round counter keeps growing across terms (it only has to be unique per leader); the
per-term parts are reset when the node becomes leader and cleared when it steps down.
"""

from __future__ import annotations

from dataclasses import dataclass

from cluster.core.frozen import finish_records
from cluster.core.raft_progress import quorum_value
from cluster.core.types import ClientRequest

__all__ = ["PendingRead", "ReadOnly"]


@dataclass(frozen=True, slots=True)
class PendingRead:
    """A ReadIndex read waiting for heartbeat ``round`` to be acked by a majority."""

    request: ClientRequest
    read_index: int
    round: int

    def __init__(self, request: ClientRequest, read_index: int, round: int) -> None:  # noqa: A002
        # Compiled, the native constructor; interpreted, fast_init's replaces it (cluster.core.frozen).
        self.request = request  # type: ignore[misc]
        self.read_index = read_index  # type: ignore[misc]
        self.round = round  # type: ignore[misc]


class ReadOnly:
    """Heartbeat rounds and the reads waiting on them, for one node."""

    __slots__ = ("_others", "_quorum", "_round", "_acked", "_sent_at", "_pending", "_deferred", "_confirmed")

    def __init__(self, others: tuple[str, ...], quorum: int) -> None:
        self._others = others
        self._quorum = quorum
        self._round = 0
        self._acked: dict[str, int] = {}
        self._sent_at: dict[int, int] = {}
        self._pending: list[PendingRead] = []
        self._deferred: list[ClientRequest] = []
        # quorum_round(), kept until a round starts or an ack moves (-1: not known).  It is
        # asked on every AppendEntries reply, and answering means sorting every ack.
        self._confirmed = -1

    @property
    def round(self) -> int:
        """The newest heartbeat round sent (0 before the first)."""
        return self._round

    def reset(self) -> None:
        """A new term as leader: no follower has answered any of its rounds yet."""
        self._acked = {p: 0 for p in self._others}
        self._sent_at = {}
        self._confirmed = -1

    def clear(self) -> tuple[list[ClientRequest], list[ClientRequest]]:
        """Stepping down: forget the rounds and hand back the reads still waiting, as
        ``(deferred, read_index)`` requests, for the node to answer."""
        deferred = list(self._deferred)
        waiting = [read.request for read in self._pending]
        self._deferred.clear()
        self._pending.clear()
        self._sent_at.clear()
        return deferred, waiting

    # --- rounds -----------------------------------------------------------------------------

    def start_round(self, now: int) -> int:
        """A broadcast is going out at local time ``now``; returns its round number.

        Send times of rounds older than the newest quorum-acknowledged one are dropped:
        the lease only ever starts at that one or a later one.
        """
        self._round += 1
        self._confirmed = -1
        self._sent_at[self._round] = now
        confirmed = self.quorum_round()
        sent_at = self._sent_at
        for r in [r for r in sent_at if r < confirmed]:
            del sent_at[r]
        return self._round

    def acked(self, peer: str, round_: int) -> None:
        """``peer`` answered round ``round_`` (answers may come late or twice)."""
        if round_ > self._acked[peer]:
            self._acked[peer] = round_
            self._confirmed = -1

    def quorum_round(self) -> int:
        """The newest heartbeat round that a majority (counting us) has acknowledged."""
        confirmed = self._confirmed
        if confirmed < 0:
            values = list(self._acked.values())
            values.append(self._round)
            confirmed = self._confirmed = quorum_value(values, self._quorum)
        return confirmed

    def lease_holds(self, now: int, length: float) -> bool:
        """Whether ``now`` is within ``length`` of the send time of the newest round a
        majority acknowledged (the lease's start)."""
        sent_at = self._sent_at.get(self.quorum_round())
        return sent_at is not None and now < sent_at + length

    # --- reads --------------------------------------------------------------------------------

    def defer(self, reqs: list[ClientRequest]) -> None:
        """Hold reads until the leader has committed an entry of its term."""
        self._deferred.extend(reqs)

    def take_deferred(self) -> list[ClientRequest]:
        deferred, self._deferred = self._deferred, []
        return deferred

    def wait_for_next_round(self, reqs: list[ClientRequest], read_index: int) -> None:
        """Queue ReadIndex reads at ``read_index``; the next round sent confirms them."""
        round_ = self._round + 1
        self._pending.extend(PendingRead(req, read_index, round_) for req in reqs)

    @property
    def has_pending(self) -> bool:
        return bool(self._pending)

    def take_confirmed(self, applied: int) -> list[PendingRead]:
        """Remove and return, in arrival order, the reads whose round a majority has
        acknowledged and whose read index the state machine has reached."""
        if not self._pending:
            return []
        confirmed = self.quorum_round()
        ready: list[PendingRead] = []
        waiting: list[PendingRead] = []
        for read in self._pending:
            if read.round <= confirmed and applied >= read.read_index:
                ready.append(read)
            else:
                waiting.append(read)
        self._pending = waiting
        return ready


finish_records(PendingRead)
