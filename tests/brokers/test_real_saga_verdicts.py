"""Sagas through real brokers: the correct design passes, each flaw is caught by the checkers.

The same pure cores as the simulator's saga scenarios run against a private RabbitMQ node
or a Tansu broker; consumer connections are dropped with deliveries unacked (the broker
redelivers), and the idempotency, delivery and saga checkers judge the trace.
"""

from __future__ import annotations

import dataclasses

import pytest

from cluster.core.saga import PLANS
from cluster.core.saga_config import SagaFlaws
from cluster.runtime.brokers import RabbitMQNode, TansuBroker
from cluster.runtime.brokers.pipeline import check, real_broker_config, run_sagas

pytestmark = pytest.mark.broker

SAGAS = [(f"s{i}", PLANS[i % len(PLANS)]) for i in range(40)]


def verdicts(run: object) -> dict[str, str]:
    return {r["checker"]: r["verdict"] for r in check(run)}  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "flaws,expect",
    [
        ((), "valid"),
        (("consumer_without_dedup",), "invalid"),
        (("dedup_window_ttl",), "invalid"),
        (("non_idempotent_compensation",), "invalid"),
    ],
)
def test_rabbitmq_correct_passes_and_flaws_are_caught(rabbit: RabbitMQNode, flaws: tuple[str, ...], expect: str) -> None:
    cfg = dataclasses.replace(real_broker_config("rabbitmq"), dedup_ttl_ms=1)
    run = run_sagas("rabbitmq", rabbit.url, SAGAS, crash_consumer_every=9, config=cfg,
                    flaws=SagaFlaws.from_names(flaws), timeout=90)
    assert run.consumer_crashes >= 5
    assert "missing" not in run.outcomes.values()
    v = verdicts(run)
    if expect == "valid":
        assert set(v.values()) == {"valid"}, v
    else:
        assert "invalid" in v.values(), v
        bad = [r for r in check(run) if r["verdict"] == "invalid"]
        assert all(r["explanation"] for r in bad)


def test_tansu_redelivery_without_dedup_is_caught(tansu: TansuBroker) -> None:
    sagas = SAGAS[:8]
    # a low session timeout keeps each consumer-group rejoin after a crash short
    cfg = dataclasses.replace(real_broker_config("kafka"), session_timeout_ms=2000)
    ok = run_sagas("kafka", tansu.bootstrap, sagas, crash_consumer_every=12, timeout=120, config=cfg)
    assert set(verdicts(ok).values()) == {"valid"}
    bad = run_sagas("kafka", tansu.bootstrap, sagas, crash_consumer_every=12, timeout=120, config=cfg,
                    flaws=SagaFlaws.from_names(["consumer_without_dedup"]))
    assert "invalid" in verdicts(bad).values()
