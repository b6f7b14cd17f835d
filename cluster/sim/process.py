"""One simulated server: its core, disk, clock and life (up, paused, crashed).

A :class:`NodeProcess` owns everything that belongs to one machine: the core while the
process runs, the disk (kept across crashes), the clock (kept across crashes too: the
machine's clock outlives the process), the inbox that fills while the process is paused,
and the incarnation count.  The lifecycle faults (crash, restart, pause, resume) and the
clock faults of the :class:`~faults.engine.Engine` interface act here.

Every input to the core (a tick or a message) is followed by the shared driver
(:func:`cluster.driver.drain_ready` of ``core.ready()``)
with the process as the :class:`~cluster.driver.ReadySink`: persist (and sync) to the
disk, then send, then reply, then record -- the order crash safety rests on, shared with
the real runtime.  A crash can therefore only lose what the core chose not to sync.

Each tick hands the core both of the machine's clocks (``tick(monotonic, wall)``, see
:mod:`cluster.clock`): timers run on the first, timestamps read the second.

Ticks land on a per-node grid, ``phase + k * tick_ms``, so nodes are not in lockstep.  A
crash or pause bumps ``gen``; pending ticks of the old life see a stale ``gen`` and stop.

Idle ticks are not handed to the core.  A core that offers ``next_wakeup()`` (see
:mod:`cluster.core.types`) promises that a tick below that reading only notes the reading,
so at such a grid tick the process keeps the two readings and hands the core only the
latest, just before its next input (or when someone looks at the core).  The core sees
the same readings before every input as if each tick had been handed to it, so runs are
byte for byte the same; what is saved is the core's tick, its empty ``Ready`` and the
drain, at most grid ticks of a busy cluster and all of them of an idle one.  The grid
tick itself stays on the scheduler, as a cheap check: when it is due it must run at the
same place among the entries of its millisecond as it always did, and that place is set
by when the grid tick before it ran.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from cluster.clock import ClockModel
from cluster.core.storage import MemoryStorage
from cluster.core.types import EMPTY_READY, ClientReply, Core, CoreEvent, Message, PersistOp
from cluster.driver import TwoClockTick, drain_ready, two_clock_tick
from cluster.sim.recorder import Recorder
from cluster.sim.scheduler import Scheduler
from cluster.sim.transport import Transport

__all__ = ["CRASHED", "PAUSED", "UP", "MakeCore", "NodeProcess"]

UP = "up"
PAUSED = "paused"
CRASHED = "crashed"

MakeCore = Callable[[str, Mapping[str, Any] | None, random.Random], Core]
"""``make_core(node_id, durable state or None, rng)``: a fresh core for one incarnation."""


def _no_core(_mono_ms: int, _wall_ms: int) -> None:
    """The tick of a process that has not started: nothing to tick."""


class NodeProcess:
    """One server.  Is the :class:`~cluster.driver.ReadySink` for its own core."""

    __slots__ = (
        "id",
        "core",
        "storage",
        "clock",
        "state",
        "gen",
        "inbox",
        "incarnation",
        "phase",
        "send",
        "reply",
        "record",
        "_make_core",
        "_stream",
        "_crash_rng",
        "_scheduler",
        "_recorder",
        "_tick_ms",
        "_tick",
        "_wakeup",
        "_idle",
        "_skip_idle",
        "_wire_on",
    )

    def __init__(
        self,
        node_id: str,
        *,
        phase: int,
        tick_ms: int,
        make_core: MakeCore,
        stream: Callable[[str], random.Random],
        crash_rng: random.Random | None,
        scheduler: Scheduler,
        transport: Transport,
        recorder: Recorder,
        skip_idle: bool = True,
    ) -> None:
        self.id = node_id
        self.core: Core | None = None
        self.storage = MemoryStorage()
        self.clock = ClockModel()
        self.state = CRASHED
        self.gen = 0
        self.inbox: deque[tuple[Message, int]] = deque()  # arrivals while paused
        self.incarnation = 0
        self.phase = phase
        self._make_core = make_core
        self._stream = stream
        self._crash_rng = crash_rng  # None: a crash loses every unsynced write
        self._scheduler = scheduler
        self._recorder = recorder
        self._wire_on = recorder.wire_on  # fixed for the recorder's life
        self._tick_ms = tick_ms
        self._tick: TwoClockTick = _no_core
        # The core's next_wakeup (None: tick it every time) and the readings of the idle
        # grid ticks it has not been handed yet (the latest only).
        self._skip_idle = skip_idle
        self._wakeup: Callable[[], int | None] | None = None
        self._idle: tuple[int, int] | None = None
        # ReadySink: messages and replies both go to the network, events to the recorder.
        self.send: Callable[[Message], None] = transport.send
        self.reply: Callable[[ClientReply], None] = transport.send
        self.record: Callable[[tuple[CoreEvent, ...]], None] = recorder.events
        transport.attach(node_id, self.receive)

    # --- ReadySink ------------------------------------------------------------------------------

    def persist(self, ops: tuple[PersistOp, ...], sync: bool) -> None:
        self.storage.write(ops, sync)
        if self._wire_on:
            self._recorder.store(self.id, len(ops), sync)

    # --- inputs ---------------------------------------------------------------------------------

    def receive(self, msg: Message, mid: int) -> None:
        """A message arrives: step it now, queue it while paused, drop it while crashed."""
        state = self.state
        if state is UP:
            if self._wire_on:
                self._recorder.wire("deliver", msg, mid)
            core = self.core
            assert core is not None  # UP implies a core
            idle = self._idle
            if idle is not None:
                self._idle = None
                self._tick(idle[0], idle[1])
            core.step(msg)
            r = core.ready()
            if r is not EMPTY_READY:  # the shared empty batch: nothing to drain
                drain_ready(r, self)
        elif state is PAUSED:
            self.inbox.append((msg, mid))
        else:
            self._recorder.drop(msg, mid, "down")

    def _on_tick(self, gen: int, _: object) -> None:
        if gen != self.gen or self.state is not UP:
            return
        core = self.core
        assert core is not None
        now = self._scheduler.now
        clock = self.clock
        if clock.identity:  # no clock fault: both clocks read true time
            mono = wall = now
        else:
            mono, wall = clock.read_mono_ms(now), clock.read_ms(now)
        wakeup = self._wakeup
        if wakeup is not None:
            due = wakeup()
            if due is None or mono < due:
                self._idle = (mono, wall)
                self._scheduler.at(now + self._tick_ms, self._on_tick, gen, None)
                return
            self._idle = None
        self._tick(mono, wall)
        r = core.ready()
        if r is not EMPTY_READY:
            drain_ready(r, self)
        if gen == self.gen and self.state is UP:
            self._scheduler.at(now + self._tick_ms, self._on_tick, gen, None)

    def settle(self) -> None:
        """Hand the core the idle reading it has not been given yet, so that what it shows
        (a lease, a clock) is what it would show had it been ticked every time."""
        idle = self._idle
        if idle is not None and self.core is not None:
            self._idle = None
            self._tick(idle[0], idle[1])

    def _schedule_tick(self) -> None:
        """Next tick at this node's phase on the tick grid, strictly after now."""
        now = self._scheduler.now
        tick = self._tick_ms
        at = now + (self.phase - now) % tick
        if at <= now:
            at += tick
        self._scheduler.at(at, self._on_tick, self.gen, None)

    # --- life -----------------------------------------------------------------------------------

    def start(self, durable: Mapping[str, Any] | None) -> None:
        """Build a core (from ``durable`` after a restart), take its first batch, tick."""
        name = f"node:{self.id}" if self.incarnation == 0 else f"node:{self.id}:{self.incarnation}"
        core = self._make_core(self.id, durable, self._stream(name))
        self.core = core
        self._tick = two_clock_tick(core)
        self._wakeup = getattr(core, "next_wakeup", None) if self._skip_idle else None
        self._idle = None
        self.state = UP
        self.gen += 1
        drain_ready(core.ready(), self)
        if self.core is core and self.state is UP:
            self._schedule_tick()

    def crash(self) -> None:
        """Drop the core and its inbox; unsynced writes are lost (all, or all but a seeded
        prefix).  Messages arriving while down are dropped."""
        if self.state is CRASHED:
            return
        self.core = None
        self._wakeup = None
        self._idle = None
        self.state = CRASHED
        self.gen += 1
        dropped = len(self.inbox)
        self.inbox.clear()
        lost = self.storage.crash(self._crash_rng)
        self._recorder.emit("crash", {"node": self.id, "lost_writes": lost, "dropped_queued": dropped})

    def restart(self) -> None:
        """Rebuild the core from durable storage with a fresh rng stream; ticks resume."""
        if self.state is not CRASHED:
            return
        self.incarnation += 1
        self._recorder.emit("restart", {"node": self.id, "incarnation": self.incarnation})
        self.start(self.storage.load())

    def pause(self) -> None:
        """Freeze: no ticks, no processing; arrivals queue until :meth:`resume`."""
        if self.state is not UP:
            return
        self.state = PAUSED
        self.gen += 1
        self._recorder.emit("pause", {"node": self.id})

    def resume(self) -> None:
        """Wake up: tick the core at the current time, then process what queued up, in
        arrival order, then tick again on the node's grid.

        The tick comes first because a real process that wakes from SIGSTOP or a GC pause
        reads the clock before it acts on anything: its timers fire and its notion of "now"
        jumps by the length of the pause.  Handing it the backlog first would let it judge
        every queued message by the time at which it was frozen -- a lease that expired
        during the pause would still look valid and a correct lease design would serve
        stale reads.  The extra tick is off the grid but at a time fixed by the schedule,
        so runs stay deterministic.
        """
        if self.state is not PAUSED:
            return
        self.state = UP
        self.gen += 1
        self._recorder.emit("resume", {"node": self.id, "queued": len(self.inbox)})
        gen = self.gen
        core = self.core
        assert core is not None  # PAUSED keeps the core
        now = self._scheduler.now
        self._idle = None  # the tick now supersedes any idle reading
        self._tick(self.clock.read_mono_ms(now), self.clock.read_ms(now))
        drain_ready(core.ready(), self)
        inbox = self.inbox
        while inbox and self.state is UP and self.gen == gen:
            msg, mid = inbox.popleft()
            self.receive(msg, mid)
        if self.state is UP and self.gen == gen:
            self._schedule_tick()

    # --- clock ----------------------------------------------------------------------------------

    def set_clock(self, offset_ms: float, rate: float) -> None:
        self.clock.set(self._scheduler.now, offset_ms, rate)
        self._emit_clock()

    def jump_clock(self, delta_ms: float) -> None:
        self.clock.jump(delta_ms)
        self._emit_clock(delta_ms=delta_ms)

    def _emit_clock(self, **extra: Any) -> None:
        now = self._scheduler.now
        self._recorder.emit(
            "clock", {"node": self.id, **self.clock.describe(), "local_ms": self.clock.read_ms(now),
                      "mono_ms": self.clock.read_mono_ms(now), **extra}
        )

    # --- observation ----------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """State, and role/term/commit_index/log_len where the core has them."""
        self.settle()
        core = self.core
        log = getattr(core, "log", None) if core is not None else None
        return {
            "state": self.state,
            "role": getattr(core, "role", None) if core is not None else None,
            "term": getattr(core, "term", None) if core is not None else None,
            "commit_index": getattr(core, "commit_index", None) if core is not None else None,
            "log_len": len(log) if log is not None else None,
            "incarnation": self.incarnation,
            "clock": self.clock.describe(),
            "pending_writes": self.storage.pending,
        }
