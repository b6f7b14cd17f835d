"""What an engine runs: the cluster as factories and plain data, never a system's name.

The runner (``scenarios/runner.py``) turns a scenario and its system into a
:class:`ClusterSpec`; an engine builds everything from it and looks nothing up.  That is
what lets a core, client or workload defined in a user's module run on either engine with
no edit in splitbrain: the simulator calls the factories in-process, the real engine ships
them to its node and client processes (Ray pickles them with cloudpickle).

Everything here must therefore be picklable when the real engine runs it: module-level
functions and classes, :func:`functools.partial` of them, closures over picklable values.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from cluster.core.types import Core, CoreEvent, Message, Ready
from faults.engine import LinkSettings

__all__ = [
    "BrokerPlan",
    "ClientCore",
    "ClientFactory",
    "ClusterSpec",
    "CoreFactory",
    "EventRecords",
    "RecordsOn",
    "Op",
    "TimedWorkload",
    "Workload",
    "due_fn",
    "event_extra",
]

CoreFactory = Callable[[str, Mapping[str, Any] | None, random.Random], Core]
"""``(node id, durable image or None, rng) -> core``: how a node (re)starts."""

Op = tuple[str, str | None, Any]
"""``(f, key, value)``, e.g. ``("put", "k1", 7)`` or ``("get", "k1", None)``."""


class ClientCore(Protocol):
    """A client's sans-IO core (``cluster.core.client.ClientCore`` is the usual one)."""

    busy: bool

    def invoke(self, op: str, key: str | None, value: Any, now_ms: int) -> None: ...

    def step(self, reply: Message) -> None: ...

    def tick(self, now_ms: int) -> None: ...

    def ready(self) -> Ready: ...

    def take_completion(self) -> Any: ...


ClientFactory = Callable[[str, random.Random], ClientCore]


def event_extra(obj: Any, name: str) -> tuple[tuple[str, Any], ...]:
    """``obj.<name>`` as extra fields of a history event, or ``()`` when it has none.

    A client core may set ``invoke_extra`` (read right after ``invoke``) and give its
    completions an ``extra``: ``(name, value)`` pairs that every engine writes into the
    history next to the standard fields, as Jepsen's extra keys (a consumer's ``group``, a
    poll's ``rebalance_log``)."""
    extra = getattr(obj, name, None)
    return tuple(extra) if extra else ()
"""``(client id, rng) -> client core``; a client slot makes a new one after an ``info``."""


class Workload(Protocol):
    def next_op(self, process: int, rng: random.Random) -> Op | None:
        """The next operation for Jepsen process ``process``, or None when it is done."""


class TimedWorkload(Workload, Protocol):
    """A workload that says *when* each operation starts (an explicit script).

    A generated workload leaves the pace to the engine: a client thinks for a seeded
    ``think_ms`` between operations.  A timed one sets it: its clients do not think, and
    each operation is invoked at its due time, or as soon as the client's previous
    operation completes if that is later (one operation at a time per client, as in
    Jepsen).  Both engines read it the same way: the simulator in virtual ms, the real
    engine in ms of the run's clock, so a script means the same thing on either.
    """

    def due_ms(self, process: int) -> int | None:
        """When ``process``'s next operation is due (ms since the run started), or None
        when it has none left (its client is then done)."""


def due_fn(workload: Workload) -> Callable[[int], int | None] | None:
    """``workload.due_ms`` when the workload is timed, else None (its clients think)."""
    fn = getattr(workload, "due_ms", None)
    return fn if callable(fn) else None


EventRecords = Callable[[Core, CoreEvent], Iterable[tuple[str, dict[str, Any]]]]
"""Records a node adds to the trace when its core emits an event, read from the core at
that moment (the Raft system records a new leader's log terms for leader completeness).
Each is ``(kind, data)``; the engine adds ``t`` and ``node``.  One that reads only some
event kinds should say which (:class:`RecordsOn`), so an engine asks it about those alone."""


@dataclass(frozen=True)
class RecordsOn:
    """:data:`EventRecords` that reads only events whose kind is in ``kinds``.

    Called on any event it gives ``fn``'s records for those kinds and none for the rest,
    so it is an :data:`EventRecords` like any other; an engine that sees ``kinds`` calls it
    only for those, which spares a call and a generator for each of the many core events
    (commits, applies, acks) that a record of role changes never reads."""

    kinds: frozenset[str]
    fn: EventRecords

    def __call__(self, core: Core, event: CoreEvent) -> Iterable[tuple[str, dict[str, Any]]]:
        return self.fn(core, event) if event.kind in self.kinds else ()


@dataclass(frozen=True)
class BrokerPlan:
    """A node that is a message broker: the simulator runs its modelled core like any
    node; the real engine may replace it with a real RabbitMQ (``rabbitmq``) or Kafka-
    protocol (``kafka``) broker, which the other nodes reach through client connections."""

    node: str
    kind: str
    partitions: int = 2
    consumer_options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ClusterSpec:
    """One run's cluster: nodes, clients, workload and start-up settings.

    ``prepare`` is slow one-time setup for a node (loading a model) that must happen before
    the run's clock starts; ``resources`` says what a node asks of the machine given what
    it has (``{"GPU": 1.0}`` -> ``{"num_gpus": 0.5}``), for engines that place processes.
    ``network`` sets every link at the start (None: leave them healthy and unrecorded).
    ``by_value`` names modules (in ``sys.modules``) whose code must travel with the
    factories, because other processes cannot import them: plugins loaded from a file.
    An engine that runs everything in this process ignores it.
    """

    nodes: tuple[str, ...]
    make_core: CoreFactory
    make_client: ClientFactory
    make_workload: Callable[[], Workload]
    clients: int
    seed: int
    tick_ms: int = 10
    think_ms: tuple[int, int] = (0, 20)
    network: LinkSettings | None = None
    on_event: EventRecords | None = None
    prepare: Callable[[str], None] | None = None
    resources: Callable[[str, Mapping[str, float]], Mapping[str, float]] | None = None
    broker: BrokerPlan | None = None
    by_value: tuple[str, ...] = ()
    may_crash: bool = False
    """The fault schedule can crash nodes: an engine whose restart is slow (a new process)
    keeps a warm spare ready, so a crash lasts the fault's duration, not a process boot."""

    def __post_init__(self) -> None:
        if not self.nodes:
            raise ValueError("a cluster needs at least one node")
        if len(set(self.nodes)) != len(self.nodes):
            raise ValueError(f"node ids must be unique, got {self.nodes!r}")
        if self.broker is not None and self.broker.node not in self.nodes:
            raise ValueError(f"broker node {self.broker.node!r} is not one of {', '.join(self.nodes)}")
