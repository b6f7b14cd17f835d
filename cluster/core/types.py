"""Types shared by every sans-IO protocol core and by both engines that drive them.

A core never touches sockets, threads, clocks or global randomness.  The driver (the
deterministic simulator in ``cluster/sim`` or the real runtime in ``cluster/runtime``)
feeds it inputs and drains a :class:`Ready` batch after each one:

* ``tick(now_ms, wall_ms)`` -- time passes.  Both are the node's *local* clocks, so clock
                           faults are inputs like any other: ``now_ms`` is the monotonic
                           clock (follows drift, never steps), for every timer and lease;
                           ``wall_ms`` is the wall clock (offsets and NTP steps too), only
                           for timestamps that are stored or compared across nodes.
                           ``wall_ms=None`` (a test driving one clock) means ``now_ms``.
                           A core may also offer ``next_wakeup() -> int | None``: the
                           lowest ``now_ms`` at which a tick would do more than note the
                           reading (None: no timer pending).  It promises that a tick below
                           that only notes the reading, and that noting the last of several
                           such (non-decreasing) readings is the same as noting each; the
                           simulator then hands the core only that last reading, just
                           before its next input, instead of every idle tick.
* ``step(message)``     -- a protocol message (or client request) arrived.
* ``ready()``           -- drain what the core wants done, in this order:
                           persist (and sync if asked), then send, then deliver replies.

Keeping the order of durable writes in the output type (design principle 2) lets the
driver enforce "a vote is sent only after it is persisted" for every core alike, and lets
the simulator model a crash that loses unsynced writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mypy_extensions import mypyc_attr

from cluster.core.frozen import finish_base, finish_records
from cluster.core.interface import Core

__all__ = [
    "EMPTY_READY", "ClientReply", "ClientRequest", "Core", "CoreEvent", "Message", "NodeId", "PersistOp", "Put",
    "Ready", "ReadyBuilder", "Splice",
]

NodeId = str


@mypyc_attr(allow_interpreted_subclasses=True)
@dataclass(frozen=True, slots=True)
class Message:
    """Base class of every message a core sends.  ``src``/``dst`` are node or client ids.

    Compiled (:mod:`cluster.native`), it is a native class that interpreted classes may
    still subclass: every core's and plugin's messages do."""

    src: str
    dst: str


# --- durable writes ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Put:
    """Durably set ``key`` to ``value`` (values are immutable: tuples, frozen dataclasses)."""

    key: str
    value: Any

    def __init__(self, key: str, value: Any) -> None:
        # Compiled, the native constructor; interpreted, fast_init's replaces it (cluster.core.frozen).
        self.key = key  # type: ignore[misc]
        self.value = value  # type: ignore[misc]


@dataclass(frozen=True, slots=True)
class Splice:
    """Truncate the durable list ``key`` to ``start`` items, then append ``items``.

    This is how a log is persisted without rewriting it whole: appending is
    ``Splice(key, len(log), new)``; a conflict truncation is ``Splice(key, i, new)``.
    """

    key: str
    start: int
    items: tuple[Any, ...]

    def __init__(self, key: str, start: int, items: tuple[Any, ...]) -> None:
        # Compiled, the native constructor; interpreted, fast_init's replaces it (cluster.core.frozen).
        self.key = key  # type: ignore[misc]
        self.start = start  # type: ignore[misc]
        self.items = items  # type: ignore[misc]


PersistOp = Put | Splice


# --- what a core hands back ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientRequest(Message):
    """A client operation.  ``(client_id, seq)`` identifies it across retries."""

    client_id: str
    seq: int
    op: str  # e.g. "get", "put", "cas", "read", "write"
    key: str | None
    value: Any

    def __init__(self, src: str, dst: str, client_id: str, seq: int, op: str, key: str | None, value: Any) -> None:
        # Compiled, the native constructor; interpreted, fast_init's replaces it (cluster.core.frozen).
        self.src = src  # type: ignore[misc]
        self.dst = dst  # type: ignore[misc]
        self.client_id = client_id  # type: ignore[misc]
        self.seq = seq  # type: ignore[misc]
        self.op = op  # type: ignore[misc]
        self.key = key  # type: ignore[misc]
        self.value = value  # type: ignore[misc]


@dataclass(frozen=True, slots=True)
class ClientReply(Message):
    """The answer to a :class:`ClientRequest`.

    ``status`` is one of:
      * ``"ok"``         -- the operation took effect; ``value`` holds its output;
      * ``"fail"``       -- the operation definitely did not take effect (e.g. cas mismatch
                            where the model says so, or a rejected request);
      * ``"redirect"``   -- not the leader; ``leader_hint`` may name who is; nothing happened;
      * ``"unavailable"``-- could not be served now; nothing happened;
      * ``"unknown"``    -- the node cannot tell whether it took effect (e.g. a leader that
                            appended the entry stepped down before commit).  The client
                            records ``info``, never ``fail``, or retries with the same seq.
    """

    client_id: str
    seq: int
    status: str
    value: Any = None
    leader_hint: str | None = None

    def __init__(self, src: str, dst: str, client_id: str, seq: int, status: str, value: Any = None,
                 leader_hint: str | None = None) -> None:
        # Compiled, the native constructor; interpreted, fast_init's replaces it (cluster.core.frozen).
        self.src = src  # type: ignore[misc]
        self.dst = dst  # type: ignore[misc]
        self.client_id = client_id  # type: ignore[misc]
        self.seq = seq  # type: ignore[misc]
        self.status = status  # type: ignore[misc]
        self.value = value  # type: ignore[misc]
        self.leader_hint = leader_hint  # type: ignore[misc]


@dataclass(frozen=True, slots=True)
class CoreEvent:
    """Something a core wants recorded in the trace, e.g. a role change.

    ``kind`` is a short name ("role", "commit", "apply", "vote", "lease", ...) and
    ``data`` a flat JSON-able dict.  Events also drive event-triggered faults
    ("when a node becomes leader, isolate it") and the Raft safety checkers.
    """

    node: str
    kind: str
    data: dict[str, Any] = field(default_factory=dict)

    def __init__(self, node: str, kind: str, data: dict[str, Any] | None = None) -> None:
        # Compiled, the native constructor; interpreted, fast_init's replaces it (cluster.core.frozen).
        self.node = node  # type: ignore[misc]
        self.kind = kind  # type: ignore[misc]
        self.data = {} if data is None else data  # type: ignore[misc]


@dataclass(frozen=True, slots=True)
class Ready:
    """One batch of outputs.  The driver does them in field order, except that with
    ``send_first`` the messages and replies may leave before (or while) ``persist`` is
    written.

    ``send_first`` is the core's promise that nothing it sends or answers in the batch
    depends on the batch's own writes being durable.  A Raft leader's AppendEntries may go
    out while the leader's own copy of the entries is still being synced (Raft thesis
    10.2.1; etcd does the same), because the leader counts its own copy towards a commit
    only when it handles a later input, and a driver hands it none until the batch is
    done; its answers to writes committed in earlier batches rest on earlier writes.
    """

    persist: tuple[PersistOp, ...] = ()
    sync: bool = True
    messages: tuple[Message, ...] = ()
    replies: tuple[ClientReply, ...] = ()
    events: tuple[CoreEvent, ...] = ()
    send_first: bool = False

    def __init__(self, persist: tuple[PersistOp, ...] = (), sync: bool = True, messages: tuple[Message, ...] = (),
                 replies: tuple[ClientReply, ...] = (), events: tuple[CoreEvent, ...] = (), send_first: bool = False) -> None:
        # Compiled, the native constructor; interpreted, fast_init's replaces it (cluster.core.frozen).
        self.persist = persist  # type: ignore[misc]
        self.sync = sync  # type: ignore[misc]
        self.messages = messages  # type: ignore[misc]
        self.replies = replies  # type: ignore[misc]
        self.events = events  # type: ignore[misc]
        self.send_first = send_first  # type: ignore[misc]

    def is_empty(self) -> bool:
        return not (self.persist or self.messages or self.replies or self.events)


finish_base(Message)
finish_records(Put, Splice, ClientRequest, ClientReply, CoreEvent, Ready)


EMPTY_READY = Ready()


class ReadyBuilder:
    """Accumulates outputs inside a core between two ``ready()`` calls."""

    __slots__ = ("persist", "sync", "messages", "replies", "events", "send_first")

    def __init__(self) -> None:
        self.persist: list[PersistOp] = []
        self.sync = True
        self.messages: list[Message] = []
        self.replies: list[ClientReply] = []
        self.events: list[CoreEvent] = []
        self.send_first = False

    def take(self) -> Ready:
        persist, messages, replies, events = self.persist, self.messages, self.replies, self.events
        if not (persist or messages or replies or events) and self.sync:
            self.send_first = False
            return EMPTY_READY  # most ticks produce nothing: share one empty batch
        # Only the lists that hold something are copied and cleared (most batches carry
        # messages alone); an empty one stands for the same () that tuple() would give.
        r = Ready(
            tuple(persist) if persist else (),
            self.sync,
            tuple(messages) if messages else (),
            tuple(replies) if replies else (),
            tuple(events) if events else (),
            self.send_first,
        )
        if persist:
            persist.clear()
        if messages:
            messages.clear()
        if replies:
            replies.clear()
        if events:
            events.clear()
        self.sync = True
        self.send_first = False
        return r
