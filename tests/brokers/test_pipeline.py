"""The saga cores, unchanged, run end to end through a real broker (with consumer crashes)."""

from __future__ import annotations

import pytest

from cluster.runtime.brokers import RabbitMQNode, TansuBroker
from cluster.runtime.brokers.pipeline import run_sagas, summary

pytestmark = pytest.mark.broker
PLANS = ["ok", "flight-full", "hotel-full", "card-declined"]
SAGAS = [(f"s{i}", PLANS[i % 4]) for i in range(8)]
EXPECTED = {sid: ("booked" if plan == "ok" else "cancelled") for sid, plan in SAGAS}
# Effects per plan: ok 3 (flight, hotel, charge); flight-full 1 (rejected); hotel-full 3
# (flight, hotel rejected, cancel flight); card-declined 5 (flight, hotel, charge rejected,
# cancel hotel, cancel flight): 12 per 4 sagas.
EFFECTS = 12 * len(SAGAS) // 4


def test_sagas_through_rabbitmq_with_and_without_consumer_crashes(rabbit: RabbitMQNode) -> None:
    calm = run_sagas("rabbitmq", rabbit.url, SAGAS, timeout=60)
    assert calm.outcomes == EXPECTED, summary(calm)
    crashed = run_sagas("rabbitmq", rabbit.url, SAGAS, timeout=60, crash_consumer_every=20)
    assert crashed.outcomes == EXPECTED, summary(crashed)
    assert crashed.consumer_crashes >= 1
    # Redeliveries are absorbed by the inboxes: the same effects, none twice.
    assert crashed.count("effect") == calm.count("effect") == EFFECTS


def test_sagas_through_tansu_with_a_consumer_crash(tansu: TansuBroker) -> None:
    run = run_sagas("kafka", tansu.bootstrap, SAGAS, timeout=60, crash_consumer_every=20)
    assert run.outcomes == EXPECTED, summary(run)
    assert run.consumer_crashes >= 1
    assert run.count("effect") == EFFECTS
