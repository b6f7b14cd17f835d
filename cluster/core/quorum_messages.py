"""Messages of the leaderless quorum register (see :mod:`cluster.core.quorum`).

Two request/response pairs are enough for multi-writer ABD: a coordinator *queries* a
replica for the newest version it holds of a key, and asks a replica to *store* a value
at a version.  Every message carries the coordinator's ``(epoch, rid)`` so that a reply
can be matched to the phase that asked for it.  The epoch changes on every restart of
the coordinator: a reply that was in flight when it crashed must not be counted towards
a request that merely reused the same small request number after the restart -- that
stale reply could report an old version and let a read miss an acknowledged write.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cluster.core.frozen import fast_init
from cluster.core.types import Message

Version = tuple[int, str]
"""``(counter, writer id)``.  Tuples compare lexicographically, so versions are totally
ordered and two writers that pick the same counter are still told apart by their ids."""

ZERO_VERSION: Version = (0, "")
"""The version of a key that was never written; older than any real write."""


@fast_init
@dataclass(frozen=True, slots=True)
class QueryVersion(Message):
    """Coordinator -> replica: "what is the newest version of ``key`` you hold?"."""

    epoch: int
    rid: int
    key: str


@fast_init
@dataclass(frozen=True, slots=True)
class QueryVersionReply(Message):
    """Replica -> coordinator: the replica's newest ``version`` and ``value`` of ``key``."""

    epoch: int
    rid: int
    key: str
    version: Version
    value: Any


@fast_init
@dataclass(frozen=True, slots=True)
class StoreValue(Message):
    """Coordinator -> replica: keep ``value`` at ``version`` unless you hold a newer one."""

    epoch: int
    rid: int
    key: str
    version: Version
    value: Any


@fast_init
@dataclass(frozen=True, slots=True)
class StoreAck(Message):
    """Replica -> coordinator: ``key`` is durably at ``version`` or newer on this replica.

    Sent only after the replica's ``Put`` (if one was needed) is in the same or an
    earlier :class:`~cluster.core.types.Ready` batch, so persist-then-send orders it.
    """

    epoch: int
    rid: int
    key: str
    version: Version


QUORUM_MESSAGES: tuple[type[Message], ...] = (
    QueryVersion,
    QueryVersionReply,
    StoreValue,
    StoreAck,
)
"""Every message type of this protocol, for codecs that need to register them."""
