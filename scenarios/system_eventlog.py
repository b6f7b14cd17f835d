"""The event-log system: producers, a Kafka-like log, a consumer group and a dead-letter queue.

Four nodes, by position: ``n1`` broker (a partitioned log), ``n2`` producer service, ``n3``
consumer service (group ``n3``), ``n4`` dead-letter store (see
:mod:`cluster.core.eventlog_config`).  Client slot 0 is the consumer's client: it
subscribes, then polls what the group processed; every other slot is a producer that sends
unique values to a partition.  The history is the log checker's native format, so the
``kafka`` checker judges what producers and the consumer group saw, while ``idempotency``,
``delivery`` and ``liveness`` judge the effects, the outbox and progress from the trace.

Workload fields: ``kind = "log"``, ``ops_per_client`` (sends per producer), ``think_ms``,
``keys`` (partitions the producers write to; at most the config's ``partitions``),
``poison_every`` (every n-th event is a poison event whose processing always fails; 0 = none).
"""

from __future__ import annotations

import functools
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from analysis import trace_kinds as K
from analysis.idempotency import SETTLE_MS
from cluster.core.broker_model import LogBroker
from cluster.core.eventlog_config import (
    BROKER,
    CONSUMER,
    PRODUCER,
    EventLogConfig,
    EventLogFlaws,
    role_map,
)
from cluster.core.eventlog_consumer import ConsumerService, DeadLetterStore
from cluster.core.eventlog_producer import ProducerService
from cluster.core.log_client import LogClient
from cluster.core.types import Core
from cluster.session import FinalView
from cluster.spec import BrokerPlan, ClientFactory
from faults.schedule import EventTrigger, register_triggers
from scenarios.system_saga import BROKER_REAL_TIME
from scenarios.systems import (
    CoreFactory,
    RoutedClients,
    System,
    client_timeout_ms,
    node_role,
    register_system,
)

EVENTLOG_TRIGGERS: dict[str, EventTrigger] = {
    "offset-committed": EventTrigger(K.MSG_ACK, {"topic": "events"}, bind_leader="node"),
    "event-produced": EventTrigger(K.PRODUCED, {}, bind_leader="node"),
    "event-processed": EventTrigger(K.EFFECT, {"action": "process"}, bind_leader="node"),
}
register_triggers(EVENTLOG_TRIGGERS)

EVENTLOG_FAULTS: tuple[dict[str, Any], ...] = (
    {"fault": "crash", "node": "n3"},  # the consumer
    {"fault": "crash", "node": "n2"},  # the producer
    {"fault": "crash", "node": "n1"},  # the broker
    {"fault": "crash", "node": "leader"},  # with a trigger: the node that emitted the event
    {"fault": "pause", "node": "n3"},
    {"fault": "partition", "kind": "isolate", "target": "n1"},
    {"fault": "link", "src": "n1", "dst": "n2", "loss": 0.3},  # lost acknowledgements
    {"fault": "link", "src": "*", "dst": "*", "loss": 0.1, "delay_ms": 50, "jitter_ms": 100, "reorder": 0.3},
    {"fault": "clock-skew", "node": "random", "offset_ms": 10000},
)

REAL_TIME_CONFIG: dict[str, Any] = {
    **BROKER_REAL_TIME,
    "retry_base_ms": 300,
    "retry_max_ms": 2000,
}
"""A real Kafka consumer's group join takes seconds and a session timeout of several
seconds; the retry backoff grows with it so a poison event is still dead-lettered quickly."""

_WL_ALLOWED = {"kind", "ops_per_client", "think_ms", "keys", "poison_every"}


def check_workload(spec: dict[str, Any]) -> None:
    bad = sorted(set(spec) - _WL_ALLOWED)
    if bad:
        raise ValueError(f"workload: unknown field {bad[0]!r}; allowed: {', '.join(sorted(_WL_ALLOWED))}")
    if spec.get("kind", "log") != "log":
        raise ValueError(f"workload: the event-log system's only kind is 'log', got {spec.get('kind')!r}")
    for name, low in (("ops_per_client", 1), ("keys", 1), ("poison_every", 0)):
        v = spec.get(name)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < low):
            raise ValueError(f"workload: {name} must be an integer >= {low}, got {v!r}")
    think = spec.get("think_ms", [0, 20])
    if (not isinstance(think, (list, tuple)) or len(think) != 2
            or not all(isinstance(x, int) and x >= 0 for x in think) or think[0] > think[1]):
        raise ValueError(f"workload: think_ms must be [min, max] milliseconds, got {think!r}")


@dataclass
class LogWorkload:
    """Slot 0 subscribes (once per process) and polls; the others send unique values.

    Values are 1, 2, 3 ... across all producers (unique, as Jepsen's are); with
    ``poison_every = n`` every n-th value is sent as the string ``poison-<n>``, which the
    consumer can never process, so the history shows which events were poison."""

    clients: int = 2
    keys: int = 2
    ops_per_client: int | None = None
    poison_every: int = 0
    _issued: dict[int, int] = field(default_factory=dict)
    _subscribed: set[int] = field(default_factory=set)
    _values: int = 0

    def next_op(self, process: int, rng: random.Random) -> tuple[str, str | None, Any] | None:
        slot = process % max(1, self.clients)
        if slot == 0:
            if process not in self._subscribed:
                self._subscribed.add(process)
                return ("subscribe", None, list(range(self.keys)))
            return ("poll", None, None)
        n = self._issued.get(slot, 0)
        if self.ops_per_client is not None and n >= self.ops_per_client:
            return None
        self._issued[slot] = n + 1
        self._values += 1
        v = self._values
        value: Any = f"poison-{v}" if self.poison_every and v % self.poison_every == 0 else v
        return ("send", None, [rng.randrange(self.keys), value])


def build_workload(spec: dict[str, Any], clients: int) -> LogWorkload:
    check_workload(spec)
    if clients < 2:
        raise ValueError("the event-log system needs at least 2 clients: one consumer's client and a producer")
    return LogWorkload(clients, int(spec.get("keys", 2)), spec.get("ops_per_client"),
                       int(spec.get("poison_every", 0)))


def build_core(nodes: tuple[str, ...], config: Any, flaws: Any) -> CoreFactory:
    roles = role_map(nodes)

    def make(node_id: str, durable: Mapping[str, Any] | None, rng: random.Random) -> Core:
        role = node_role("event-log", roles, node_id)
        if role == BROKER:
            return LogBroker(node_id, config.broker_config(), rng, durable)
        if role == PRODUCER:
            return ProducerService(node_id, nodes, config, rng, durable=durable, flaws=flaws)
        if role == CONSUMER:
            return ConsumerService(node_id, nodes, config, rng, durable=durable, flaws=flaws)
        return DeadLetterStore(node_id, nodes, config, rng, durable=durable)  # DEAD_LETTERS

    return make


def build_client(nodes: tuple[str, ...], spec: Mapping[str, Any]) -> ClientFactory:
    """Log clients: ``send`` to the producer, ``subscribe``/``poll`` to the consumer, which
    is also the consumer group's name."""
    timeout = client_timeout_ms(spec, 3000)
    roles = role_map(nodes)
    routes = {"send": roles[PRODUCER], "subscribe": roles[CONSUMER], "poll": roles[CONSUMER]}
    return RoutedClients(functools.partial(LogClient, group=roles[CONSUMER]), routes, timeout)


def final_state(view: FinalView) -> None:
    """Record outboxes not yet drained and nodes left down at the end."""
    for nid, core in sorted(view.nodes.items()):
        pending = getattr(getattr(core, "relay", None), "pending", None)
        if pending:
            view.record(K.OUTBOX_FINAL, {"node": nid, "rows": list(pending)})
    for nid in view.node_ids():
        if view.node_state(nid) != "up":
            view.record(K.NODE_FINAL, {"node": nid, "state": view.node_state(nid)})


def _broker(nodes: tuple[str, ...], config: Any) -> BrokerPlan:
    return BrokerPlan(role_map(nodes)[BROKER], "kafka", int(config.partitions),
                      {"session_timeout_ms": config.session_timeout_ms})


register_system(
    System(
        name="event-log",
        summary="producers, a Kafka-like partitioned log, a consumer group with an inbox, and a dead-letter queue",
        flaws=EventLogFlaws,
        config=EventLogConfig,
        build_core=build_core,
        build_workload=build_workload,
        check_workload=check_workload,
        checkers=("kafka", "idempotency", "delivery", "liveness"),
        fault_menu=EVENTLOG_FAULTS,
        triggers=tuple(EVENTLOG_TRIGGERS),
        build_client=build_client,
        final_records=final_state,
        realtime_config=REAL_TIME_CONFIG,
        settle_ms=SETTLE_MS,
        broker=_broker,
    )
)
