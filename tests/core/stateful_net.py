"""A hand-driven network of cores for the hypothesis state machines (not the simulator).

:class:`Net` holds a set of cores, each with its own :class:`MemoryStorage` and clock, and
the messages in flight between them.  Nothing moves unless a rule says so: a message is
delivered, dropped, duplicated or moved to the back of the queue; a node's clock is
advanced; a node crashes (losing a random prefix of its unsynced writes, as the simulator
does) and restarts from what its storage kept.  Every batch a core produces goes through
:func:`cluster.driver.drain`, the same persist -> send -> reply -> record loop every engine
uses, so a property that fails here fails for a reason a real driver would also meet.

Time: one real clock (``now``, ms) runs for the whole network; each node's clock advances
by ``rate`` local ms per real ms (:meth:`Net.set_rate` changes a rate from then on), so
clock drift is part of the setup.  Time passes only
by :meth:`Net.wait`, which ticks every live node in small steps until one of them acts
(the next timer, as an event-driven simulator would jump to it), so randomized election
timeouts stagger candidates as they do in a real cluster.  A node also reads its clock
whenever it handles an input: before a delivery or a client request it is ticked to the
present, as a real process whose clock never stops.

A partition (:meth:`Net.partition`) cuts one node off until :meth:`Net.heal`: what it
sends or is sent is lost on the way.

Each action is written to :attr:`Net.transcript` in words (and handed to ``note`` by the
machines), so a shrunk failure reads top to bottom like a transcript.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Mapping
from typing import Any

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from cluster.core.storage import MemoryStorage
from cluster.core.types import ClientReply, Core, CoreEvent, Message, PersistOp
from cluster.driver import drain

MakeCore = Callable[[str, Mapping[str, Any] | None, random.Random], Core]
"""``(node_id, durable image or None, rng) -> core``."""


def describe(m: Message) -> str:
    """``src->dst Kind(field=value, ...)`` with long tuples shortened to their length."""
    parts = []
    if dataclasses.is_dataclass(m):
        for f in dataclasses.fields(m):
            if f.name in ("src", "dst"):
                continue
            v = getattr(m, f.name)
            if isinstance(v, tuple) and len(v) > 2:
                v = f"<{len(v)}>"
            parts.append(f"{f.name}={v!r}" if not isinstance(v, str) else f"{f.name}={v}")
    return f"{m.src}->{m.dst} {type(m).__name__}({', '.join(parts)})"


class _Sink:
    """Where one node's batches go (a :class:`cluster.driver.ReadySink`)."""

    def __init__(self, net: Net, node: str) -> None:
        self.net = net
        self.node = node

    def persist(self, ops: tuple[PersistOp, ...], sync: bool) -> None:
        self.net.disks[self.node].write(ops, sync)

    def send(self, msg: Message) -> None:
        if self.net.cut & {msg.src, msg.dst}:
            self.net.lost += 1
            return
        self.net.inflight.append(msg)

    def reply(self, msg: ClientReply) -> None:
        self.net.replies.append((self.net.clock, msg))

    def record(self, events: tuple[CoreEvent, ...]) -> None:
        self.net.events.extend((self.net.clock, e) for e in events)


class Net:
    """Cores, their disks and clocks, and the messages in flight, driven by hand."""

    def __init__(
        self,
        ids: tuple[str, ...],
        make_core: MakeCore,
        rates: Mapping[str, float] | None = None,
        seed: int = 0,
    ) -> None:
        self.ids = ids
        self.make_core = make_core
        self.rates = {i: (rates or {}).get(i, 1.0) for i in ids}
        self._local = dict.fromkeys(ids, 0.0)
        self.seed = seed
        self.now = 0
        self.clock = 0
        """Logical time: bumped once per action, so "A completed before B was invoked"
        is a comparison of two numbers."""
        self.disks = {i: MemoryStorage() for i in ids}
        self.nodes: dict[str, Core | None] = dict.fromkeys(ids)
        self.boots = dict.fromkeys(ids, 0)
        self.inflight: list[Message] = []
        self.cut: set[str] = set()
        self.lost = 0
        """Messages lost to a partition since the last look."""
        self.replies: list[tuple[int, ClientReply]] = []
        self.events: list[tuple[int, CoreEvent]] = []
        self.transcript: list[str] = []
        for i in ids:
            self._boot(i)

    # --- looking ----------------------------------------------------------------------------

    def local(self, nid: str) -> int:
        """What ``nid``'s clock reads now (its local ms)."""
        return int(self._local[nid])

    def up(self) -> list[str]:
        return [i for i in self.ids if self.nodes[i] is not None]

    def core(self, nid: str) -> Any:
        """The live core of ``nid`` (typed loosely: tests read each core's own inspection API)."""
        core = self.nodes[nid]
        assert core is not None, f"{nid} is down"
        return core

    def say(self, line: str) -> None:
        self.transcript.append(f"t={self.now:>5} {line}")

    # --- driving ----------------------------------------------------------------------------

    def _boot(self, nid: str) -> None:
        image = self.disks[nid].load() if self.boots[nid] else None
        rng = random.Random(f"{self.seed}/{nid}/{self.boots[nid]}")
        self.boots[nid] += 1
        self.nodes[nid] = self.make_core(nid, image, rng)
        self._drain(nid)
        self._tick(nid)

    def _drain(self, nid: str) -> None:
        core = self.nodes[nid]
        assert core is not None
        drain(core, _Sink(self, nid))

    def _tick(self, nid: str) -> None:
        core = self.nodes[nid]
        assert core is not None
        core.tick(self.local(nid))
        self._drain(nid)

    def wait(self, at_least_ms: int = 0, step_ms: int = 10, limit_ms: int = 1000) -> int:
        """Let time pass, ticking every live node each ``step_ms``: for ``at_least_ms``,
        then until some node puts a message on the wire or replies (a partitioned node's
        lost sends do not count), or ``limit_ms`` passed.  Returns the time waited."""
        self.clock += 1
        start, waited = len(self.inflight), 0
        replies = len(self.replies)
        while waited < limit_ms:
            self.now += step_ms
            waited += step_ms
            for nid in self.ids:
                self._local[nid] += step_ms * self.rates[nid]
            for nid in self.up():
                self._tick(nid)
            if waited >= at_least_ms and (len(self.inflight) > start or len(self.replies) > replies):
                break
        acted = sorted({m.src for m in self.inflight[start:]})
        self.say(f"{waited} ms pass; then {', '.join(acted) or 'nobody'} acts")
        return waited

    def set_rate(self, nid: str, rate: float) -> None:
        """From now on ``nid``'s clock gains ``rate`` local ms per real ms."""
        self.clock += 1
        self.rates[nid] = rate
        self.say(f"{nid}'s clock now runs at {rate:.2f}x")

    def partition(self, nid: str) -> None:
        """Cut ``nid`` off: what is in flight to or from it is lost, and so is what
        it sends or is sent until :meth:`heal`."""
        self.clock += 1
        self.cut.add(nid)
        before = len(self.inflight)
        self.inflight = [m for m in self.inflight if not self.cut & {m.src, m.dst}]
        self.say(f"cut {nid} off ({before - len(self.inflight)} messages in flight lost)")

    def heal(self) -> None:
        self.clock += 1
        self.say(f"heal the partition of {', '.join(sorted(self.cut))}")
        self.cut.clear()

    def pick(self, index: int) -> int:
        return index % len(self.inflight)

    def deliver(self, index: int) -> Message:
        self.clock += 1
        msg = self.inflight.pop(self.pick(index))
        if self.nodes.get(msg.dst) is None:
            self.say(f"deliver {describe(msg)}: {msg.dst} is down, lost")
            return msg
        self.say(f"deliver {describe(msg)}")
        self._tick(msg.dst)
        self.core(msg.dst).step(msg)
        self._drain(msg.dst)
        return msg

    def drop(self, index: int) -> None:
        self.clock += 1
        msg = self.inflight.pop(self.pick(index))
        self.say(f"drop {describe(msg)}")

    def duplicate(self, index: int) -> None:
        self.clock += 1
        msg = self.inflight[self.pick(index)]
        self.inflight.append(msg)
        self.say(f"duplicate {describe(msg)}")

    def reorder(self, index: int) -> None:
        """Move one message behind every other one in flight."""
        self.clock += 1
        msg = self.inflight.pop(self.pick(index))
        self.inflight.append(msg)
        self.say(f"delay {describe(msg)} behind the rest")

    def settle(self, limit: int = 300) -> int:
        """Deliver in order everything in flight, and what that causes, up to ``limit``."""
        n = 0
        while self.inflight and n < limit:
            self.deliver(0)
            n += 1
        return n

    def crash(self, nid: str, keep_seed: int) -> int:
        """Kill ``nid``; a seeded prefix of its unsynced writes reaches the disk."""
        self.clock += 1
        self.nodes[nid] = None
        lost = self.disks[nid].crash(random.Random(keep_seed))
        self.say(f"crash {nid} ({lost} unsynced writes lost)")
        return lost

    def restart(self, nid: str) -> None:
        self.clock += 1
        self.say(f"restart {nid} from its disk")
        self._boot(nid)

    def submit(self, nid: str, msg: Message) -> None:
        """A client's request reaches ``nid`` directly (clients are not simulated)."""
        self.clock += 1
        self.say(f"client {describe(msg)}")
        self._tick(nid)
        self.core(nid).step(msg)
        self._drain(nid)


# --- the rules every machine shares --------------------------------------------------------------

_CONDITIONS: dict[str, Callable[[Any], Any]] = {}


def when(name: str, cond: Callable[[Any], Any] | None = None) -> Callable[[Any], Any]:
    """Rule ``name`` may run if the machine allows it (:attr:`NetMachine.allowed`) and
    ``cond`` holds.  The condition is kept so a replayed schedule (:func:`run_schedule`)
    skips exactly what hypothesis would not run."""
    _CONDITIONS[name] = cond or (lambda self: True)
    return precondition(lambda self: self.can(name))


def say(line: str) -> None:
    """``note`` a transcript line inside a hypothesis run; outside one (a replayed schedule)
    the transcript stays on the harness."""
    try:
        note(line)
    except InvalidArgument:
        pass


class NetMachine(RuleBasedStateMachine):
    """The network, clock and process rules shared by every core's state machine.

    A subclass boots :attr:`net` in an ``@initialize`` rule, adds its client rules, folds
    what happened into its records in :meth:`observe` and checks them in an invariant.
    ``node`` arguments are indexes taken modulo the cluster size; ``None`` means the node
    :meth:`leader` names (the first live node when there is no leader).
    """

    allowed: frozenset[str] | None = None
    """The rules the search may use (``None``: all of them)."""

    def __init__(self) -> None:
        super().__init__()
        self.net: Net
        self._noted = 0

    def can(self, rule_name: str) -> bool:
        """Whether rule ``rule_name`` may run now."""
        allowed = self.allowed is None or rule_name in self.allowed
        return allowed and bool(_CONDITIONS[rule_name](self))

    def leader(self) -> str | None:
        """The node a ``None`` target means; the first live node unless a subclass knows better."""
        return None

    def observe(self) -> None:
        """Fold the events and replies of the last action into the invariants' records."""

    def node(self, i: int | None) -> str:
        if i is not None:
            return self.net.ids[i % len(self.net.ids)]
        return self.leader() or (self.net.up() or list(self.net.ids))[0]

    def done(self) -> None:
        """Note what the last action did (the transcript of a failure) and observe it."""
        while len(self.net.transcript) > self._noted:
            say(self.net.transcript[self._noted])
            self._noted += 1
        self.observe()

    # --- the network --------------------------------------------------------------------------

    @when("deliver", lambda self: self.net.inflight)
    @rule(i=st.integers(0, 64))
    def deliver(self, i: int) -> None:
        """Deliver the ``i``-th message in flight (modulo how many there are)."""
        self.net.deliver(i)
        self.done()

    @when("disturb", lambda self: self.net.inflight)
    @rule(i=st.integers(0, 64), how=st.sampled_from(["drop", "duplicate", "delay"]))
    def disturb(self, i: int, how: str) -> None:
        """Lose a message, send it twice, or hold it back behind every other one."""
        if how == "drop":
            self.net.drop(i)
        elif how == "duplicate":
            self.net.duplicate(i)
        else:
            self.net.reorder(i)
        self.done()

    @when("settle", lambda self: self.net.inflight)
    @rule()
    def settle(self) -> None:
        """Deliver everything in flight, in order, and what it causes (a calm moment)."""
        for _ in range(300):
            if not self.net.inflight:
                break
            self.net.deliver(0)
            self.done()

    @when("partition", lambda self: not self.net.cut)
    @rule(node=st.none() | st.integers(0, 4))
    def partition(self, node: int | None) -> None:
        """Cut one node off until ``heal``."""
        self.net.partition(self.node(node))
        self.done()

    @when("heal", lambda self: self.net.cut)
    @rule()
    def heal(self) -> None:
        self.net.heal()
        self.done()

    # --- time and processes -------------------------------------------------------------------

    @when("wait", lambda self: self.net.up())
    @rule()
    def wait(self) -> None:
        """Time passes: every clock advances (at its node's rate) until a timer fires."""
        self.net.wait()
        self.done()

    @when("calm", lambda self: self.net.up())
    @rule(ms=st.sampled_from([100, 500, 2000]))
    def calm(self, ms: int) -> None:
        """The system runs undisturbed for ``ms``: time passes, and whatever is sent is
        delivered in order, until ``ms`` have passed."""
        until = self.net.now + ms
        while self.net.now < until and self.net.up():
            self.net.wait(limit_ms=until - self.net.now)
            self.settle()
        self.done()

    @when("crash", lambda self: len(self.net.up()) > 1)
    @rule(node=st.none() | st.integers(0, 4), keep=st.integers(0, 3))
    def crash(self, node: int | None, keep: int) -> None:
        """Kill a node; ``keep`` seeds how many of its unsynced writes reached the disk."""
        nid = self.node(node)
        if self.net.nodes[nid] is not None:
            self.net.crash(nid, keep)
        self.done()

    @when("restart", lambda self: len(self.net.up()) < len(self.net.ids))
    @rule(node=st.integers(0, 4))
    def restart(self, node: int) -> None:
        nid = self.node(node)
        if self.net.nodes[nid] is None:
            self.net.restart(nid)
        self.done()

    @when("bounce", lambda self: len(self.net.up()) > 1)
    @rule(node=st.none() | st.integers(0, 4), keep=st.integers(0, 3))
    def bounce(self, node: int | None, keep: int) -> None:
        """Crash a node and restart it at once (a quick process restart)."""
        nid = self.node(node)
        if self.net.nodes[nid] is not None:
            self.net.crash(nid, keep)
            self.net.restart(nid)
        self.done()


def run_schedule(machine: NetMachine, boot: Callable[[], None],
                 steps: list[tuple[str, dict[str, Any]]], check: Callable[[], None]) -> None:
    """Run ``steps`` (rule name, arguments) as hypothesis would: ``boot``, then each step
    whose precondition holds, calling ``check`` (the machine's invariant) after each."""
    boot()
    check()
    for name, kwargs in steps:
        if machine.can(name):
            getattr(machine, name)(**kwargs)
            check()
