"""The link layer: outgoing gRPC streams with per-link fault injection.

Every directed link ``src -> dst`` is one long-lived bidirectional ``NodeLink.Exchange``
stream dialed by ``src``.  Faults act *here*, in the sender's link layer, before an
envelope reaches gRPC:

* ``cut``        -- drop everything queued and everything sent from now on, and cancel the
                    stream; the receiver also refuses the stream (``BlockInbound``), so a
                    reconnect attempt fails with ``UNAVAILABLE`` as gRPC would report a
                    real network partition;
* ``loss``       -- drop each envelope with that probability;
* ``delay``/``jitter`` -- hold an envelope ``delay +- jitter`` ms before it is written;
* ``duplicate``  -- write a second copy (with its own delay);
* ``reorder``    -- give that fraction of envelopes an extra random delay, so later ones
                    overtake them.

Why the link layer and not iptables/tc: it needs no root, acts per *directed* link exactly
as the fault vocabulary does (one-way partitions included), is the same on every machine,
and keeps fault decisions next to the counters that report them.  What it cannot model is
a kernel-level partition that leaves the TCP connection half-open; gRPC keepalive (see
:data:`CHANNEL_OPTIONS`) is what notices that case -- and a SIGSTOPped peer -- within ~2 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from typing import Any

import grpc
import grpc.aio

from faults.engine import HEALTHY, LinkSettings

__all__ = [
    "CHANNEL_OPTIONS",
    "SERVER_OPTIONS",
    "OutboundStream",
]

CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    # Ping every 500 ms and give up 1.5 s after an unanswered ping: a hung (paused) peer
    # is noticed within ~2 s, well inside a client's operation timeout.
    ("grpc.keepalive_time_ms", 500),
    ("grpc.keepalive_timeout_ms", 1500),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    # Reconnect fast after a restart instead of the default exponential backoff to 120 s.
    ("grpc.initial_reconnect_backoff_ms", 50),
    ("grpc.min_reconnect_backoff_ms", 50),
    ("grpc.max_reconnect_backoff_ms", 500),
    ("grpc.enable_retries", 0),
]
"""Client-side channel arguments for every node-to-node and client-to-node channel."""

SERVER_OPTIONS: list[tuple[str, Any]] = [
    # Accept the clients' frequent pings instead of answering GOAWAY "too_many_pings".
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 400),
    ("grpc.http2.max_ping_strikes", 0),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.keepalive_time_ms", 500),
    ("grpc.keepalive_timeout_ms", 1500),
    # Rebinding the same port right after a SIGKILLed incarnation.
    ("grpc.so_reuseport", 1),
]
"""Server-side arguments; must tolerate the client keepalive above."""

_MAX_QUEUE = 20_000


_MAX_BATCH = 512
"""Most items one stream write carries (a write's cost is mostly per write, not per item)."""

OpenCall = Callable[[grpc.aio.Channel], Any]
"""Given a channel, start the stream call (e.g. ``stub.Exchange()``)."""

Pack = Callable[[list[Any]], Any]
"""Given the items waiting to go (at least one), the one message a write carries."""


class OutboundStream:
    """One outgoing stream with a send queue, reconnects and fault injection.

    ``send`` never blocks and never raises: a message that cannot be delivered is dropped
    and counted (``on_drop(reason)``), exactly what a protocol core must tolerate anyway.
    ``on_reply`` receives what the peer writes back (client sessions use it for replies).

    Writes are batched: when the writer gets its turn it takes everything queued (up to
    :data:`_MAX_BATCH` items) and writes ``pack(items)`` once.  Faults act per item before
    the queue, so batching changes no fault's meaning; a failed write drops its items.
    """

    def __init__(
        self,
        name: str,
        address: str,
        open_call: OpenCall,
        pack: Pack,
        *,
        rng: random.Random,
        on_drop: Callable[[str], None] | None = None,
        on_sent: Callable[[], None] | None = None,
        on_reply: Callable[[Any], None] | None = None,
    ) -> None:
        self.name = name
        self.address = address
        self._open_call = open_call
        self._pack = pack
        self._rng = rng
        self._on_drop = on_drop
        self._on_sent = on_sent
        self._on_reply = on_reply
        self.settings: LinkSettings = HEALTHY
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._restored = asyncio.Event()
        self._restored.set()
        self._call: Any = None
        self._channel: grpc.aio.Channel | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.connects = 0
        self.errors = 0

    # --- public -------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def send(self, item: Any) -> None:
        s = self.settings
        if self._closed or s.cut:
            self._drop("cut" if s.cut else "closed")
            return
        if s.healthy():
            self._enqueue(item)
            return
        if s.loss and self._rng.random() < s.loss:
            self._drop("loss")
            return
        copies = 2 if (s.duplicate and self._rng.random() < s.duplicate) else 1
        for _ in range(copies):
            delay = s.delay_ms
            if s.jitter_ms:
                delay += self._rng.uniform(-s.jitter_ms, s.jitter_ms)
            if s.reorder and self._rng.random() < s.reorder:
                delay += self._rng.uniform(0.0, 2.0 * max(s.delay_ms, s.jitter_ms, 5.0))
            if delay > 0:
                asyncio.get_running_loop().call_later(delay / 1000.0, self._enqueue_later, item)
            else:
                self._enqueue(item)

    def configure(self, settings: LinkSettings) -> None:
        """Apply new settings; a cut empties the queue and closes the stream at once."""
        self.settings = settings
        if settings.cut:
            self._restored.clear()
            while not self._queue.empty():
                if self._queue.get_nowait() is not _WAKE:
                    self._drop("cut")
            self._cancel_call()
        else:
            self._restored.set()

    def set_address(self, address: str) -> None:
        """The peer moved (restarted on another port): redial."""
        if address == self.address:
            return
        self.address = address
        self._cancel_call()
        self._close_channel_later()

    async def close(self) -> None:
        self._closed = True
        self._cancel_call()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._channel is not None:
            with contextlib.suppress(Exception):
                await self._channel.close(grace=None)
            self._channel = None

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    # --- internals ----------------------------------------------------------------------

    def _drop(self, reason: str) -> None:
        if self._on_drop is not None:
            self._on_drop(reason)

    def _enqueue(self, item: Any) -> None:
        if self._queue.qsize() >= _MAX_QUEUE:
            self._drop("overflow")
            return
        self._queue.put_nowait(item)

    def _enqueue_later(self, item: Any) -> None:
        if self._closed or self.settings.cut:
            self._drop("cut")
        else:
            self._enqueue(item)

    def _cancel_call(self) -> None:
        call, self._call = self._call, None
        if call is not None:
            call.cancel()

    def _close_channel_later(self) -> None:
        ch, self._channel = self._channel, None
        if ch is not None:
            asyncio.get_running_loop().create_task(ch.close(grace=None))

    async def _run(self) -> None:
        while not self._closed:
            await self._restored.wait()
            if self._channel is None:
                self._channel = grpc.aio.insecure_channel(self.address, options=CHANNEL_OPTIONS)
            call = self._open_call(self._channel)
            self._call = call
            self.connects += 1
            reader = asyncio.get_running_loop().create_task(self._read(call))
            queue = self._queue
            try:
                while not self._closed and self._call is call:
                    item = await queue.get()
                    if item is _WAKE:
                        if self._call is not call:
                            break
                        continue
                    items = [item]
                    while len(items) < _MAX_BATCH and not queue.empty():
                        more = queue.get_nowait()
                        if more is not _WAKE:  # a wake is seen below: the call has ended
                            items.append(more)
                    if self._call is not call:  # cut or redialed while we waited
                        reason = "cut" if self.settings.cut else "reconnect"
                        for _ in items:
                            self._drop(reason)
                        break
                    try:
                        await call.write(self._pack(items))
                    except (grpc.aio.AioRpcError, asyncio.InvalidStateError, grpc.aio.UsageError):
                        for _ in items:
                            self._drop("error")
                        self.errors += 1
                        break
                    if self._on_sent is not None:
                        for _ in items:
                            self._on_sent()
            finally:
                reader.cancel()
                if self._call is call:
                    self._call = None
                    call.cancel()
            if not self._closed:
                await asyncio.sleep(0.05)  # a refused or broken stream: back off a little

    async def _read(self, call: Any) -> None:
        """Read what the peer writes back; when the stream ends, make the writer redial."""
        try:
            while True:
                msg = await call.read()
                if msg is grpc.aio.EOF:
                    break
                if self._on_reply is not None:
                    self._on_reply(msg)
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
            self.errors += 1
        except asyncio.CancelledError:
            return
        if self._call is call:
            self._call = None
            call.cancel()
            # wake the writer so it notices at once instead of at the next message
            self._queue.put_nowait(_WAKE)


class _Wake:
    """Queue sentinel: the stream ended; redial."""


_WAKE = _Wake()
