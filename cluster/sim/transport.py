"""Messages in flight: who is at each address, and what happens to a message on the way.

:class:`~cluster.sim.network.SimNetwork` decides each message's fate (drop, or one or two
arrival times) from the link settings and its seeded draws.  The transport carries that
out: it numbers every message (``mid``, shared by its send, deliveries, duplicate and
drop records), puts each arrival on the scheduler's heap, and at arrival hands the message
to whoever is attached at its destination -- a node process or a client slot -- unless the
link was cut while it was in flight (partitions act at once, as a firewall rule does).
"""

from __future__ import annotations

from collections.abc import Callable

from cluster.core.types import Message
from cluster.sim.network import DROP_CUT, SimNetwork
from cluster.sim.recorder import Recorder
from cluster.sim.scheduler import Scheduler

__all__ = ["DROP_NO_RECEIVER", "Receiver", "Transport"]

Receiver = Callable[[Message, int], None]
"""Takes an arriving message and its id; records its own ``deliver`` (or ``drop``)."""

DROP_NO_RECEIVER = "no-client"
"""Drop reason for a message to an address nobody is attached at (a retired client)."""


def _nowhere(msg: Message, mid: int) -> None:
    """A closed transport's arrival handler (its scheduler is cleared too, so never called)."""


class Transport:
    """Sends through the network and delivers to attached receivers."""

    __slots__ = ("network", "_scheduler", "_recorder", "_receivers", "_cuts", "_mid", "_plan", "_at", "_wire_on",
                 "_arrival")

    def __init__(self, network: SimNetwork, scheduler: Scheduler, recorder: Recorder) -> None:
        self.network = network
        self._scheduler = scheduler
        self._recorder = recorder
        self._receivers: dict[str, Receiver] = {}
        self._cuts = network.cuts
        self._mid = 0
        # Bound once: send runs for every message of a run.
        self._plan = network.plan
        self._at = scheduler.at
        self._wire_on = recorder.wire_on
        self._arrival = self._arrive

    def attach(self, address: str, receiver: Receiver) -> None:
        self._receivers[address] = receiver

    def detach(self, address: str) -> None:
        del self._receivers[address]

    def close(self) -> None:
        """Detach everyone and forget the bound arrival handler (a reference from this
        transport to itself): the run is over, and nothing here may keep its parts alive."""
        self._receivers.clear()
        self._arrival = _nowhere

    def attached(self, address: str) -> bool:
        return address in self._receivers

    def send(self, msg: Message) -> None:
        """Send ``msg`` now: record it, and either drop it or schedule its arrival(s)."""
        mid = self._mid
        self._mid = mid + 1
        if self._wire_on:
            self._recorder.wire("send", msg, mid)
        plan = self._plan(self._scheduler.now, msg.src, msg.dst)
        if isinstance(plan, str):
            self._recorder.drop(msg, mid, plan)
            return
        self._at(plan[0], self._arrival, msg, mid)
        if len(plan) > 1:
            if self._wire_on:
                self._recorder.wire("dup", msg, mid)["at"] = plan[1]
            self._at(plan[1], self._arrival, msg, mid)

    def _arrive(self, msg: Message, mid: int) -> None:
        receiver = self._receivers.get(msg.dst)
        if receiver is None:
            self._recorder.drop(msg, mid, DROP_NO_RECEIVER)
        elif self._cuts and (msg.src, msg.dst) in self._cuts:
            self._recorder.drop(msg, mid, DROP_CUT)
        else:
            receiver(msg, mid)
