"""The outbox relay and the inbox consumer under hypothesis: at-least-once delivery, made
effectively-once, whatever the network, the clocks and crashes do.

The machine drives the saga system's five cores -- a simulated broker (queue or log, drawn
per example), the orchestrator and the flight, hotel and payment services, each with its
outbox relay, consumer and inbox -- through :class:`~tests.core.stateful_net.Net` with the
shared rules (deliver, drop / duplicate / delay, settle, partition, heal, wait, crash,
restart, bounce) plus ``book``: a client asks the orchestrator for a trip.  Crashes of the
broker lose its unsynced acks and of a consumer its unacked deliveries, so messages come
again; after every step it checks:

* **each effect at most once per idempotency key** -- no service applies two effects for
  one message id, however often the message was delivered;
* **publish after commit** -- a message leaves a node only after the transaction that wrote
  its outbox row committed (so no event announces a change that may never happen).

``consumer_without_dedup`` breaks the first and ``publish_outside_transaction`` the second;
both are switched on in ``test_each_flaw_breaks_an_invariant``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, rule, run_state_machine_as_test

from cluster.core.broker_model import make_broker
from cluster.core.saga import PLANS, Orchestrator
from cluster.core.saga_config import BROKER, ORCHESTRATOR, SERVICES, SagaConfig, SagaFlaws, role_map
from cluster.core.saga_services import ServiceNode
from cluster.core.types import ClientRequest, Core
from tests.core.stateful_net import Net, NetMachine, say, when

NODES = ("n1", "n2", "n3", "n4", "n5")

CI = settings(
    max_examples=50,
    stateful_step_count=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
LONG = settings(CI, max_examples=1000, stateful_step_count=100, derandomize=False)


class SagaMachine(NetMachine):
    """Broker, orchestrator and services under an adversarial schedule."""

    flaws = SagaFlaws()

    def __init__(self) -> None:
        super().__init__()
        self._seen_events = 0
        self._trips = 0
        self.effects: dict[str, list[str]] = {}  # idempotency key -> nodes that applied it
        self.committed: set[str] = set()  # transaction ids
        self.violations: list[str] = []

    @initialize(broker=st.sampled_from(["queue", "log"]), seed=st.integers(0, 255),
                plans=st.lists(st.sampled_from(PLANS), max_size=3))
    def boot(self, broker: str, seed: int, plans: list[str]) -> None:
        """Start the five nodes; ``plans`` are bookings already asked for at the start."""
        config = SagaConfig(broker=broker)
        roles = role_map(NODES)
        by_node = {n: r for r, n in roles.items()}
        flaws = self.flaws

        def make(nid: str, durable: Mapping[str, Any] | None, rng: random.Random) -> Core:
            role = by_node[nid]
            if role == BROKER:
                return make_broker(nid, config, rng, durable)
            if role == ORCHESTRATOR:
                return Orchestrator(nid, NODES, config, rng, durable=durable, flaws=flaws)
            assert role in SERVICES
            return ServiceNode(nid, NODES, config, rng, service=role, durable=durable, flaws=flaws)

        self.net = Net(NODES, make, seed=seed)
        say(f"{broker} broker; roles {roles}; flaws {flaws.enabled() or 'none'}")
        self.observe()
        for plan in plans:
            self.book(plan)

    @when("book")
    @rule(plan=st.sampled_from(PLANS))
    def book(self, plan: str) -> None:
        """A client asks the orchestrator for a new trip (``plan`` decides which step the
        services reject, so some sagas compensate)."""
        orchestrator = "n2"
        if self.net.nodes[orchestrator] is None:
            return
        self._trips += 1
        client, trip = f"c{self._trips}", f"trip-{self._trips}"
        self.net.submit(orchestrator, ClientRequest(client, orchestrator, client, 1, "book", trip, plan))
        self.done()

    # --- what happened -----------------------------------------------------------------------

    def observe(self) -> None:
        for _, e in self.net.events[self._seen_events:]:
            d = e.data
            if e.kind == "txn":
                self.committed.add(d["txn"])
            elif e.kind == "publish" and d["txn"] not in self.committed:
                self.violations.append(
                    f"publish before commit: {e.node} published {d['msg_id']} (row {d['row']}) "
                    f"before transaction {d['txn']} committed")
            elif e.kind == "effect" and d["outcome"] == "applied":
                nodes = self.effects.setdefault(d["key"], [])
                nodes.append(e.node)
                if len(nodes) == 2:
                    self.violations.append(
                        f"effect applied twice: {d['action']} for {d['saga']} (key {d['key']}) "
                        f"on {', '.join(nodes)}; the second delivery was "
                        f"{'a redelivery' if d['redelivered'] else 'a duplicate'}")
        self._seen_events = len(self.net.events)

    @invariant()
    def safe(self) -> None:
        assert not self.violations, self.violations[0]


TestSaga = SagaMachine.TestCase
TestSaga.settings = CI


@pytest.mark.slow
def test_saga_long_profile() -> None:
    run_state_machine_as_test(SagaMachine, settings=LONG)


@pytest.mark.parametrize(("name", "caught"), [
    ("consumer_without_dedup", "effect applied twice"),
    ("publish_outside_transaction", "publish before commit"),
])
def test_each_flaw_breaks_an_invariant(name: str, caught: str) -> None:
    machine = type(f"Saga_{name}", (SagaMachine,), {"flaws": SagaFlaws.from_names([name])})
    with pytest.raises(AssertionError, match=f"^{caught}"):
        run_state_machine_as_test(
            machine, settings=settings(CI, max_examples=300, phases=[Phase.generate]))
