"""Run the saga system's pure cores (orchestrator, services, outbox relays, consumers)
against a real broker.

Why: the simulator shows what the saga/outbox/inbox design guarantees under modelled
faults; this driver shows the same cores, unchanged, moving real messages through
RabbitMQ or Tansu, with real publisher confirms, acks, commits and redeliveries.  The
nodes themselves stay in this process (their durable writes are kept in memory), so the
faults here are the broker's and the consumers': ``crash_consumer_every`` drops a node's
broker connection with its deliveries unacked, exactly like a consumer crash.

The loop is the design's driver order: tick each core with the real clock, then for its
``Ready``: (persist: already applied to the node's in-memory store), send (broker
messages go through :class:`BrokerBridge`, whose answers are stepped back into the
sender), deliver client replies, record events.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cluster.core.saga import Orchestrator
from cluster.core.saga_config import (
    BROKER,
    ORCHESTRATOR,
    SERVICES,
    SagaConfig,
    SagaFlaws,
    role_map,
)
from cluster.core.saga_messages import Ack, Publish, Subscribe
from cluster.core.saga_services import ServiceNode
from cluster.core.transactional import TransactionalNode
from cluster.core.types import ClientReply, ClientRequest, CoreEvent, Message

from .adapters import normalize_kind
from .bridge import BrokerBridge

NODES = ("n1", "n2", "n3", "n4", "n5")
CLIENT = "c1"


def real_broker_config(kind: str) -> SagaConfig:
    """Saga timings for real time: generous enough that a Tansu group join (~3 s) or a
    RabbitMQ confirm never looks like a lost message, short enough to finish quickly."""
    log = normalize_kind(kind) == "kafka"
    return SagaConfig(
        broker="log" if log else "queue",
        partitions=2,
        log_storage="memory" if log else "disk",
        heartbeat_ms=500,
        session_timeout_ms=6000,
        ack_timeout_ms=30000,
        confirm_timeout_ms=5000,
        relay_interval_ms=5,
        commit_interval_ms=50,
        step_timeout_ms=15000,
        retry_base_ms=500,
        retry_max_ms=5000,
    )


@dataclass
class SagaRun:
    """What a run produced: each saga's final phase (booked / cancelled / missing), the
    trace events in order, and counters for the report."""

    outcomes: dict[str, str]
    events: list[CoreEvent] = field(default_factory=list)
    trace: list[dict[str, Any]] = field(default_factory=list)  # the simulator's trace schema
    seconds: float = 0.0
    consumer_crashes: int = 0

    def count(self, kind: str) -> int:
        return sum(1 for e in self.events if e.kind == kind)


def build_nodes(config: SagaConfig, seed: int, flaws: SagaFlaws | None = None) -> dict[str, TransactionalNode]:
    roles = role_map(NODES)
    rng = random.Random(seed)
    fl = flaws or SagaFlaws()
    nodes: dict[str, TransactionalNode] = {
        roles[ORCHESTRATOR]: Orchestrator(
            roles[ORCHESTRATOR], NODES, config, random.Random(rng.random()), flaws=fl
        )
    }
    for service in SERVICES:
        nid = roles[service]
        nodes[nid] = ServiceNode(nid, NODES, config, random.Random(rng.random()), service=service, flaws=fl)
    return nodes


def run_sagas(
    kind: str,
    address: str,
    sagas: Sequence[tuple[str, str]],
    *,
    seed: int = 0,
    timeout: float = 120.0,
    crash_consumer_every: int = 0,
    config: SagaConfig | None = None,
    flaws: SagaFlaws | None = None,
) -> SagaRun:
    """Book ``sagas`` (``(saga id, plan)``; plans in ``cluster.core.saga.PLANS``) through a
    real broker and return when every saga ended or ``timeout`` passed.

    ``crash_consumer_every``: after every N deliveries to the services, the receiving
    node's broker connection is dropped with its deliveries unacked (0: never).  Keep N
    well above the prefetch window (``config.prefetch``, 8): each crash hands back up to
    that many deliveries, so a smaller N can redeliver faster than it acks (livelock).
    """
    cfg = config or real_broker_config(kind)
    nodes = build_nodes(cfg, seed, flaws)
    broker = role_map(NODES)[BROKER]
    orchestrator = role_map(NODES)[ORCHESTRATOR]
    bridge = BrokerBridge.connect(
        broker,
        kind,
        address,
        namespace=f"sb-{uuid.uuid4().hex[:6]}.",
        partitions=cfg.partitions,
        consumer_options=(
            {"session_timeout_ms": cfg.session_timeout_ms}
            if cfg.broker == "log"
            else {"prefetch": cfg.prefetch}
        ),
    )
    run = SagaRun(outcomes={sid: "missing" for sid, _ in sagas})
    inbox: list[tuple[str, Message]] = []  # (destination node, message)
    delivered = 0
    t0 = time.monotonic()

    def now_ms() -> int:
        return int((time.monotonic() - t0) * 1000)

    def drain(node: TransactionalNode) -> None:
        ready = node.ready()
        run.events.extend(ready.events)
        t = now_ms()
        for e in ready.events:
            run.trace.append({**e.data, "t": t, "kind": e.kind, "node": e.node})
        for m in ready.messages:
            if m.dst != broker:
                inbox.append((m.dst, m))
            elif isinstance(m, Publish):
                answer = bridge.on_publish(m)
                if answer is not None:
                    inbox.append((m.src, answer))
            elif isinstance(m, Ack):
                failed = bridge.on_ack(m)
                if failed is not None:
                    inbox.append((m.src, failed))
            elif isinstance(m, Subscribe):
                bridge.on_subscribe(m)
        for r in ready.replies:
            # A reply names the request by (client, seq); seq indexes ``sagas``.
            if isinstance(r, ClientReply) and r.status == "ok" and r.value is not None:
                run.outcomes[sagas[r.seq][0]] = str(r.value)

    try:
        for seq, (sid, plan) in enumerate(sagas):
            inbox.append(
                (orchestrator, ClientRequest(CLIENT, orchestrator, CLIENT, seq, "book", sid, plan))
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and "missing" in run.outcomes.values():
            now = now_ms()
            for node in nodes.values():
                node.tick(now)
                drain(node)
            while inbox:
                dst, m = inbox.pop(0)
                target = nodes.get(dst)
                if target is not None:
                    target.step(m)
                    drain(target)
            for nid, node in nodes.items():
                for d in bridge.poll(nid, 0.002, max_messages=50):
                    node.step(d)
                    drain(node)
                    if nid != orchestrator:
                        delivered += 1
                        if crash_consumer_every and delivered % crash_consumer_every == 0:
                            bridge.restart_consumer(nid)
                            run.consumer_crashes += 1
                            t = now_ms()
                            desc = f"dropped {nid}'s broker connection with its deliveries unacked"
                            run.trace.append({"t": t, "kind": "fault-start", "id": f"cc{run.consumer_crashes}",
                                              "fault": "consumer-crash", "description": desc, "targets": [nid]})
                            run.trace.append({"t": t, "kind": "fault-end", "id": f"cc{run.consumer_crashes}"})
                            break
    finally:
        bridge.close()
    run.seconds = time.monotonic() - t0
    return run


def check(run: SagaRun, checkers: Sequence[str] = ("idempotency", "delivery", "saga")) -> list[dict[str, Any]]:
    """Judge a real-broker run with the same checkers the simulator's saga scenarios use."""
    from analysis.history import History
    from scenarios.checkers import get_checker
    from scenarios.spec import Scenario

    sc = Scenario(name="real-broker-sagas", summary="sagas through a real broker", system="saga",
                  checkers=tuple(checkers))
    history = History.from_events([])
    return [get_checker(name)(sc, history, run.trace, 60.0) for name in checkers]


def summary(run: SagaRun) -> dict[str, Any]:
    """Counts a report or test looks at."""
    phases: dict[str, int] = {}
    for phase in run.outcomes.values():
        phases[phase] = phases.get(phase, 0) + 1
    return {
        "outcomes": phases,
        "seconds": round(run.seconds, 2),
        "consumer_crashes": run.consumer_crashes,
        "publishes": run.count("publish"),
        "published": run.count("published"),
        "dedup": run.count("dedup"),
        "effects": run.count("effect"),
    }
