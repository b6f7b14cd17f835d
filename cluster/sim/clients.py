"""Simulated clients: Jepsen processes, their operations, and the history they write.

Each client slot runs one operation at a time: think, draw an operation from the
workload, invoke it on its client core, tick the core while it is busy, and record the
completion in the history.  An indeterminate (``info``) completion retires the process,
as Jepsen does: the slot continues as a new process with a new client id, so server-side
``(client_id, seq)`` deduplication never confuses the two and a late reply to the old
process finds no one at its address.

A timed workload (:class:`cluster.spec.TimedWorkload`, an explicit script) sets the pace
instead of the think time: a slot invokes its next operation at the operation's due time,
or right after its previous one completes if that is later.

Client cores are driven through :func:`cluster.driver.drain_ready` like server cores, with
:class:`ClientSlots` as their sink: requests go to the network, events to the trace.

A busy client's idle ticks are skipped as a node's are (see :mod:`cluster.sim.process`):
a client core that offers ``next_wakeup()`` is handed a tick only from that time on, and
otherwise the latest idle reading just before its next reply, so it sees the same times
before every input and the run is the same byte for byte.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

from analysis.history import Event
from cluster.core.frozen import fast_constructor
from cluster.core.types import EMPTY_READY, ClientReply, CoreEvent, Message, PersistOp, Ready
from cluster.driver import drain_ready
from cluster.sim.recorder import Recorder
from cluster.sim.scheduler import Scheduler
from cluster.sim.transport import Transport
from cluster.sim.workload import Workload
from cluster.spec import due_fn, event_extra

__all__ = ["ClientSlots", "MakeClient", "SimClient"]

_NS_PER_MS = 1_000_000

_event = fast_constructor(Event)
"""``Event(...)``, built faster: two history events per operation."""


class SimClient(Protocol):
    """What the simulator needs of a client core (``cluster.core.client.ClientCore`` fits).

    Two optional attributes let a client add fields to its history events (Jepsen's extra
    keys, such as a consumer's ``group`` or a poll's ``rebalance_log``): ``invoke_extra``
    on the core, read right after :meth:`invoke`, and ``extra`` on a completion; each is a
    tuple of ``(name, value)`` pairs (see :func:`cluster.spec.event_extra`).
    """

    busy: bool

    def invoke(self, op: str, key: str | None, value: Any, now_ms: int) -> None: ...

    def step(self, reply: Message) -> None: ...

    def tick(self, now_ms: int) -> None: ...

    def ready(self) -> Ready: ...

    def take_completion(self) -> Any: ...


MakeClient = Callable[[str, random.Random], SimClient]
"""``make_client(client_id, rng)``: a client core for one Jepsen process."""


class _Slot:
    """One client slot: a sequence of Jepsen processes, one operation at a time."""

    __slots__ = ("index", "process", "client_id", "client", "gen", "f", "key", "value", "think_rng", "think_below", "done",
                 "wakeup", "idle")

    def __init__(self, index: int, think_rng: random.Random) -> None:
        self.index = index
        self.process = index
        self.client_id = ""
        self.client: SimClient | None = None
        self.gen = 0  # bumped at each completion, so the finished operation's ticks stop
        self.f = ""
        self.key: str | None = None
        self.value: Any = None
        self.think_rng = think_rng
        # randint(lo, hi) is lo + _randbelow(hi - lo + 1) for a random.Random (randrange's
        # fast path): the same draw without randint's two Python layers, once per operation.
        self.think_below: Callable[[int], int] = getattr(think_rng, "_randbelow", None) or think_rng.randrange
        self.done = False
        self.wakeup: Callable[[], int | None] | None = None  # the client's next_wakeup, if skipped
        self.idle: int | None = None  # the latest idle tick's time, not yet handed to the client


class ClientSlots:
    """All client slots, the workload they draw from, and the history they write."""

    __slots__ = (
        "history",
        "send",
        "reply",
        "record",
        "_slots",
        "_workload",
        "_workload_rng",
        "_due",
        "_think",
        "_make_client",
        "_stream",
        "_scheduler",
        "_transport",
        "_recorder",
        "_tick_ms",
        "_skip_idle",
    )

    def __init__(
        self,
        count: int,
        *,
        workload: Workload,
        workload_rng: random.Random,
        think_ms: tuple[int, int],
        tick_ms: int,
        make_client: MakeClient,
        stream: Callable[[str], random.Random],
        scheduler: Scheduler,
        transport: Transport,
        recorder: Recorder,
        skip_idle: bool = True,
    ) -> None:
        self.history: list[Event] = []
        self._skip_idle = skip_idle
        self._workload = workload
        self._workload_rng = workload_rng
        self._due = due_fn(workload)
        self._think = think_ms
        self._tick_ms = tick_ms
        self._make_client = make_client
        self._stream = stream
        self._scheduler = scheduler
        self._transport = transport
        self._recorder = recorder
        # ReadySink for client cores: requests travel the network, events go to the trace.
        self.send: Callable[[Message], None] = transport.send
        self.reply: Callable[[ClientReply], None] = transport.send
        self.record: Callable[[tuple[CoreEvent, ...]], None] = recorder.events
        self._slots = [_Slot(i, stream(f"think:{i}")) for i in range(count)]

    def start(self) -> None:
        """Give every slot its first client and schedule its first operation."""
        now = self._scheduler.now
        for slot in self._slots:
            self._new_client(slot)
            self._next_op_at(slot, now)

    def persist(self, ops: tuple[PersistOp, ...], sync: bool) -> None:
        raise ValueError("a client core asked to persist; clients have no disk in the simulator")

    # --- one slot -------------------------------------------------------------------------------

    def _next_op_at(self, slot: _Slot, now: int) -> None:
        """Schedule the slot's next operation: after a think time, or at its due time."""
        if self._due is None:
            lo, hi = self._think
            self._scheduler.at(now + (lo if lo == hi else lo + slot.think_below(hi - lo + 1)), self._on_op, slot, slot.gen)
            return
        due = self._due(slot.process)
        if due is None:
            slot.done = True
            return
        self._scheduler.at(max(now, due), self._on_op, slot, slot.gen)

    def _new_client(self, slot: _Slot) -> None:
        cid = f"c{slot.process}"
        if self._transport.attached(cid):
            raise ValueError(f"client id {cid!r} clashes with a node id; rename the node")
        slot.client_id = cid
        client = self._make_client(cid, self._stream(f"client:{slot.process}"))
        slot.client = client
        slot.wakeup = getattr(client, "next_wakeup", None) if self._skip_idle else None
        slot.idle = None
        self._transport.attach(cid, partial(self._receive, slot))

    def _receive(self, slot: _Slot, msg: Message, mid: int) -> None:
        if self._recorder.wire_on:
            self._recorder.wire("deliver", msg, mid)
        client = slot.client
        assert client is not None
        idle = slot.idle
        if idle is not None:
            slot.idle = None
            client.tick(idle)
        client.step(msg)
        self._drain(slot, client)

    def _drain(self, slot: _Slot, client: SimClient) -> None:
        r = client.ready()
        if r is not EMPTY_READY:  # the shared empty batch: nothing to drain
            drain_ready(r, self)
        done = client.take_completion()
        if done is not None:
            self._complete(slot, done)

    def _on_op(self, slot: _Slot, gen: int) -> None:
        if gen != slot.gen or slot.done:
            return
        op = self._workload.next_op(slot.process, self._workload_rng)
        if op is None:
            slot.done = True
            return
        f, key, value = op
        slot.f, slot.key, slot.value = f, key, value
        now = self._scheduler.now
        client = slot.client
        assert client is not None
        idle = slot.idle
        if idle is not None:
            slot.idle = None
            client.tick(idle)
        client.invoke(f, key, value, now)
        history = self.history
        history.append(_event(slot.process, "invoke", f, value, key, now * _NS_PER_MS, len(history),
                             extra=event_extra(client, "invoke_extra")))
        self._recorder.append(
            {
                "t": now,
                "kind": "client-invoke",
                "process": slot.process,
                "client": slot.client_id,
                "f": f,
                "key": key,
                "value": value,
            }
        )
        self._drain(slot, client)
        if client.busy:
            self._scheduler.at(now + self._tick_ms, self._on_tick, slot, slot.gen)

    def _on_tick(self, slot: _Slot, gen: int) -> None:
        if gen != slot.gen:
            return
        client = slot.client
        assert client is not None
        now = self._scheduler.now
        wakeup = slot.wakeup
        if wakeup is not None:
            due = wakeup()
            if due is not None and now < due:
                slot.idle = now
                self._scheduler.at(now + self._tick_ms, self._on_tick, slot, gen)
                return
            slot.idle = None
        client.tick(now)
        self._drain(slot, client)
        if gen == slot.gen and client.busy:
            self._scheduler.at(now + self._tick_ms, self._on_tick, slot, gen)

    def _complete(self, slot: _Slot, done: Any) -> None:
        status = str(done.status)
        value = done.value if status == "ok" else slot.value
        now = self._scheduler.now
        history = self.history
        history.append(_event(slot.process, status, slot.f, value, slot.key, now * _NS_PER_MS, len(history),
                             extra=event_extra(done, "extra")))
        self._recorder.emit(
            "client-complete",
            {
                "process": slot.process,
                "client": slot.client_id,
                "f": slot.f,
                "key": slot.key,
                "type": status,
                "value": value,
                "attempts": getattr(done, "attempts", None),
                "node": getattr(done, "node", None),
            },
        )
        slot.gen += 1
        if status == "info":
            self._transport.detach(slot.client_id)
            slot.process += len(self._slots)
            self._new_client(slot)
        self._next_op_at(slot, now)

    # --- observation ----------------------------------------------------------------------------

    def describe(self) -> list[dict[str, Any]]:
        """Per slot: current process id, client id, busy, done."""
        return [
            {
                "slot": s.index,
                "process": s.process,
                "client": s.client_id,
                "busy": bool(s.client is not None and s.client.busy),
                "done": s.done,
            }
            for s in self._slots
        ]
