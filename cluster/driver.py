"""The one driver loop every engine shares: persist, then send, then reply, then record.

A core hands back a :class:`~cluster.core.types.Ready` batch after each input.  Doing that
batch in field order is what crash safety rests on (design principle 2): a vote or a log
entry reaches the disk before any message that depends on it leaves, and a client hears
"ok" only after the messages that made it true were sent.  The simulator, the real
runtime's node host and its client host all drain through :func:`drain`, so the order is
written once and cannot drift between engines.

An engine supplies a :class:`ReadySink`: where a batch's parts go.  The sink decides what
"persist" means (a seeded in-memory store, a WAL with ``fsync``), how a message travels
(a virtual network, a gRPC stream) and how an event is recorded (the trace, a node-local
trace file); the order is not its choice.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Protocol

from cluster.core.types import ClientReply, Core, CoreEvent, Message, PersistOp, Ready

__all__ = ["ReadySink", "TwoClockTick", "drain", "drain_ready", "two_clock_tick"]

TwoClockTick = Callable[[int, int], None]
"""``(monotonic ms, wall ms) -> None``: how an engine hands a core both clocks."""


def two_clock_tick(core: Core) -> TwoClockTick:
    """``core.tick`` as a function of both clock readings, looked up once per core.

    A core written against the one-clock protocol (``tick(self, now_ms)``: a plugin, or
    docs/extending.md's example) gets the monotonic reading only: the one its timers need,
    and the one ``now_ms`` has always meant for a timer.  A core that takes ``wall_ms``
    too gets both."""
    tick = core.tick
    if "tick" in getattr(core, "__dict__", ()):  # set on the instance: read it every time
        both = _takes_both(tick)
    else:
        known = _TAKES_BOTH.get(type(core))
        both = known if known is not None else _TAKES_BOTH.setdefault(type(core), _takes_both(tick))
    if both:
        return tick

    def monotonic_only(now_ms: int, _wall_ms: int) -> None:
        tick(now_ms)

    return monotonic_only


_TAKES_BOTH: dict[type, bool] = {}
"""Per core class, whether its ``tick`` takes both clocks: reading a signature is slow (a
compiled core's is parsed from text), and every simulated run starts several cores."""


def _takes_both(tick: Callable[..., None]) -> bool:
    try:
        params = list(inspect.signature(tick).parameters.values())
    except (TypeError, ValueError):  # no signature to read (a builtin): pass both
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in params)


class ReadySink(Protocol):
    """Where one node's outputs go, in the order :func:`drain` calls them."""

    def persist(self, ops: tuple[PersistOp, ...], sync: bool) -> None:
        """Apply ``ops`` to durable storage; ``sync`` asks for them (and every earlier
        unsynced write) to be durable before anything that :func:`drain_ready` hands the
        sink after this call takes effect.  Called only with ops."""

    def send(self, msg: Message) -> None:
        """Hand a protocol message (or a client request, from a client core) to the network."""

    def reply(self, msg: ClientReply) -> None:
        """Deliver an answer to a client."""

    def record(self, events: tuple[CoreEvent, ...]) -> None:
        """Record the batch's core events (trace, metrics, event-triggered faults)."""


def drain_ready(r: Ready, sink: ReadySink) -> Ready:
    """Do one batch in the order crash safety needs.  A batch with nothing to persist
    never syncs: ``Ready.sync`` is a request about *this* batch's writes, so an empty batch
    (most ticks) must not make an earlier unsynced write durable by accident.

    With ``Ready.send_first`` the messages and replies go before the persist, so a sink
    that writes in the background (the real runtime) lets them travel while the disk
    syncs; the events are still recorded last."""
    if r.send_first:
        _send_and_reply(r, sink)
        if r.persist:
            sink.persist(r.persist, r.sync)
    else:  # the common case, written out: the simulator drains after every input
        if r.persist:
            sink.persist(r.persist, r.sync)
        if r.messages:
            send = sink.send
            for m in r.messages:
                send(m)
        if r.replies:
            reply = sink.reply
            for m in r.replies:
                reply(m)
    if r.events:
        sink.record(r.events)
    return r


def _send_and_reply(r: Ready, sink: ReadySink) -> None:
    if r.messages:
        send = sink.send
        for m in r.messages:
            send(m)
    if r.replies:
        reply = sink.reply
        for m in r.replies:
            reply(m)


def drain(core: Core, sink: ReadySink) -> Ready:
    """Take ``core``'s pending batch and do it through ``sink``; returns the batch."""
    return drain_ready(core.ready(), sink)
