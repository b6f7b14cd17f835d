"""One node's connection to the real broker, as a link the fault injector can act on.

In the simulator the broker is a node like the others (``cluster/core/broker_model.py``)
and "partition the hotel service from the broker" cuts a simulated link.  On the real
engine the broker is a real RabbitMQ or Tansu process, and each node process talks to it
with its own client connections (pika / confluent-kafka) through a
:class:`~cluster.runtime.brokers.bridge.BrokerBridge`.  This module puts those
connections behind the same link vocabulary the gRPC peer links have:

* **cut** (either direction): the node's broker connections are closed and nothing flows
  until the link is restored.  TCP cannot be half-partitioned for long: a connection
  whose packets stop in one direction dies on heartbeat timeout, and the broker then
  requeues (RabbitMQ) or rebalances (Kafka) whatever the node held unacked.  Publishes
  attempted while cut get no answer, exactly like a lost confirm, so the outbox relay
  republishes after its confirm timeout.
* **loss** on the node -> broker direction drops a publish or ack before it is sent; on
  the broker -> node direction a single delivery cannot vanish from a TCP stream, so a
  "lost" delivery resets the connection instead (the broker redelivers it later), and a
  lost publisher confirm is a publish that was stored but never answered: the relay
  republishes after its confirm timeout, as after a connection reset.
* **delay / jitter** hold a publish or a delivery for that long; **duplicate** sends a
  publish twice (two broker messages) or steps a delivery into the core twice.

Threading: pika's blocking connection is not thread-safe and confluent-kafka calls block,
so every broker call of this node runs on one dedicated worker thread (FIFO, so publishes
keep their order); the core is stepped only on the node's asyncio loop.  A failed call
(broker killed, paused, restarting) closes the bridge; the next call reconnects and
re-subscribes, which is what a restarted consumer does.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from cluster.core.saga_messages import Ack, Deliver, Publish, PublishAck, Subscribe
from cluster.core.types import Message
from faults.engine import HEALTHY, LinkSettings

__all__ = ["BrokerLink", "BrokerLinkSpec"]

_RECONNECT_BACKOFF_S = 0.25
_POLL_TIMEOUT_S = 0.005
_IDLE_SLEEP_S = 0.005
_CUT_SLEEP_S = 0.02


@dataclass(frozen=True)
class BrokerLinkSpec:
    """Where the run's broker is and how this run names things on it (plain data)."""

    node: str
    """The broker's node id in the cores' messages (``n1``)."""
    kind: str
    """``rabbitmq`` or ``kafka``."""
    address: str
    namespace: str
    """Prefix of every queue/topic/group name, so concurrent runs never share one."""
    partitions: int = 2
    consumer_options: dict[str, Any] = field(default_factory=dict)


class BrokerLink:
    """``send`` core messages addressed to the broker; deliveries come back through
    ``on_message`` (on the asyncio loop).  Start with :meth:`start`, end with :meth:`close`.
    """

    def __init__(
        self,
        node_id: str,
        spec: BrokerLinkSpec,
        *,
        rng: random.Random,
        on_message: Callable[[Message], None],
        on_drop: Callable[[str], None] | None = None,
    ) -> None:
        self.node_id = node_id
        self.spec = spec
        self.out: LinkSettings = HEALTHY
        self.inbound: LinkSettings = HEALTHY
        self._rng = rng
        self._on_message = on_message
        self._on_drop = on_drop
        self._exec = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"broker-{node_id}")
        self._bridge: Any = None  # BrokerBridge, touched only on the worker thread
        self._subscription: Subscribe | None = None
        self._failed_at = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._poll_task: asyncio.Task[None] | None = None
        self._closed = False
        self._frozen = False
        self._held: list[Message] = []
        self.stats = {"published": 0, "publish_unanswered": 0, "delivered": 0, "acks": 0,
                      "dropped": 0, "reconnects": 0, "errors": 0}
        self.last_error = ""

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._poll_task = self._loop.create_task(self._poll_loop())

    async def close(self) -> None:
        self._closed = True
        if self._poll_task is not None:
            self._poll_task.cancel()
            with contextlib.suppress(BaseException):
                await self._poll_task
        loop = asyncio.get_running_loop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(loop.run_in_executor(self._exec, self._disconnect), timeout=5.0)
        self._exec.shutdown(wait=False, cancel_futures=True)

    # --- faults -------------------------------------------------------------------------

    @property
    def frozen(self) -> bool:
        """The node is frozen at a failpoint: nothing is sent, and what comes back from the
        broker (a delivery, a publish confirm) is held, not handed to the node."""
        return self._frozen

    @frozen.setter
    def frozen(self, frozen: bool) -> None:
        """Thawing hands the node what was held, in arrival order.  A freeze usually ends
        in a crash, which loses the held messages with the process (the broker then hands
        unacked deliveries out again); one that ends in a thaw was only a pause, and a
        paused process loses nothing: a delivery dropped here instead would stay unacked
        on a live connection, never redelivered."""
        self._frozen = frozen
        if not frozen:
            held, self._held = self._held, []
            for m in held:
                if self._closed:
                    break
                self._hand(m)

    def _hand(self, m: Message) -> None:
        if self._frozen:
            self._held.append(m)
        else:
            self._on_message(m)

    def cut(self) -> bool:
        return self.out.cut or self.inbound.cut

    def configure(self, settings: LinkSettings, *, inbound: bool) -> None:
        was_cut = self.cut()
        if inbound:
            self.inbound = settings
        else:
            self.out = settings
        if self.cut() and not was_cut:
            self._submit(self._disconnect)

    # --- node -> broker -----------------------------------------------------------------

    def send(self, m: Message) -> None:
        """Hand a ``Publish``/``Ack``/``Subscribe`` to the broker (never blocks)."""
        if isinstance(m, Subscribe):
            self._subscription = m  # kept even while cut: a reconnect re-subscribes with it
        if not isinstance(m, (Publish, Ack, Subscribe)) or self.frozen:
            return
        s = self.out
        if self.cut():
            self._drop("cut")
            return
        if s.loss and self._rng.random() < s.loss:
            self._drop("loss")
            return
        copies = 2 if (s.duplicate and isinstance(m, Publish) and self._rng.random() < s.duplicate) else 1
        delay = s.delay_ms + (self._rng.uniform(0, s.jitter_ms) if s.jitter_ms else 0.0)
        for _ in range(copies):
            if delay > 0 and self._loop is not None:
                self._loop.call_later(delay / 1000.0, self._submit_message, m)
            else:
                self._submit_message(m)

    def after_pending(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` on the loop once every broker call submitted so far has finished."""
        if self._closed or self._loop is None:
            fn()
            return
        fut = self._loop.run_in_executor(self._exec, lambda: None)
        fut.add_done_callback(lambda _f: fn())

    def _submit_message(self, m: Message) -> None:
        if self._closed:
            return
        if self.cut():  # cut while it was delayed
            self._drop("cut")
            return
        self._submit(lambda: self._call(m))

    def _submit(self, fn: Callable[[], Any]) -> None:
        if self._closed or self._loop is None:
            return
        fut = self._loop.run_in_executor(self._exec, fn)
        fut.add_done_callback(self._answered)

    def _answered(self, fut: asyncio.Future[Any]) -> None:
        if fut.cancelled() or self._closed:
            return
        exc = fut.exception()
        if exc is not None:
            self.stats["errors"] += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            return
        answer = fut.result()
        if isinstance(answer, PublishAck) and self.inbound.loss and self._rng.random() < self.inbound.loss:
            self._drop("loss")  # stored by the broker, never confirmed to the node
            return
        if isinstance(answer, Message):
            self._hand(answer)

    # --- worker thread ------------------------------------------------------------------

    def _ensure(self) -> Any:
        """The bridge, (re)connected; ``None`` while backing off after a failure."""
        if self._bridge is not None:
            return self._bridge
        if time.monotonic() - self._failed_at < _RECONNECT_BACKOFF_S:
            return None
        from cluster.runtime.brokers.bridge import BrokerBridge

        sp = self.spec
        bridge = BrokerBridge.connect(sp.node, sp.kind, sp.address, namespace=sp.namespace,
                                      partitions=sp.partitions, consumer_options=dict(sp.consumer_options))
        try:
            if self._subscription is not None:
                bridge.on_subscribe(self._subscription)
        except Exception as exc:
            self._fail(exc, bridge)
            return None
        if self._failed_at:
            self.stats["reconnects"] += 1
        self._bridge = bridge
        return bridge

    def _fail(self, exc: BaseException, bridge: Any) -> None:
        self.stats["errors"] += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        self._failed_at = time.monotonic()
        self._bridge = None
        with contextlib.suppress(Exception):
            bridge.close()

    def _disconnect(self) -> None:
        bridge, self._bridge = self._bridge, None
        if bridge is not None:
            with contextlib.suppress(Exception):
                bridge.close()

    def _call(self, m: Message) -> Message | None:
        bridge = self._ensure()
        if bridge is None:
            if isinstance(m, Publish):
                self.stats["publish_unanswered"] += 1
            return None
        try:
            if isinstance(m, Publish):
                answer = bridge.on_publish(m)
                self.stats["published" if answer is not None else "publish_unanswered"] += 1
                return answer
            if isinstance(m, Ack):
                self.stats["acks"] += 1
                return bridge.on_ack(m) if m.src in bridge.consumers else None
            if isinstance(m, Subscribe):
                bridge.on_subscribe(m)
        except Exception as exc:  # broker gone, paused or restarting: reconnect next time
            self._fail(exc, bridge)
        return None

    def _poll(self) -> list[Deliver]:
        if self._subscription is None:
            return []
        bridge = self._ensure()
        if bridge is None:
            return []
        try:
            return bridge.poll(self.node_id, _POLL_TIMEOUT_S, max_messages=50)
        except Exception as exc:
            self._fail(exc, bridge)
            return []

    # --- broker -> node -----------------------------------------------------------------

    async def _poll_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closed:
            if self.cut() or self.frozen:
                await asyncio.sleep(_CUT_SLEEP_S)
                continue
            deliveries = await loop.run_in_executor(self._exec, self._poll)
            for d in deliveries:
                self._inbound(d)
            if not deliveries:
                await asyncio.sleep(_IDLE_SLEEP_S)

    def _inbound(self, d: Deliver) -> None:
        s = self.inbound
        if self.cut():
            self._drop("cut")
            return
        if s.loss and self._rng.random() < s.loss:
            # A TCP stream does not lose one message: the connection resets instead and
            # the broker hands the unacked delivery out again.
            self._drop("loss")
            self._submit(self._disconnect)
            return
        self.stats["delivered"] += 1
        copies = 2 if (s.duplicate and self._rng.random() < s.duplicate) else 1
        delay = s.delay_ms + (self._rng.uniform(0, s.jitter_ms) if s.jitter_ms else 0.0)
        for _ in range(copies):
            if delay > 0 and self._loop is not None:
                self._loop.call_later(delay / 1000.0, self._deliver_late, d)
            else:
                self._hand(d)

    def _deliver_late(self, d: Deliver) -> None:
        if not self._closed and not self.cut():
            self._hand(d)

    def _drop(self, reason: str) -> None:
        self.stats["dropped"] += 1
        if self._on_drop is not None:
            self._on_drop(reason)
