"""Sagas through real brokers on the real engine: the correct design passes, each flaw is
caught (marked ``ray`` and ``broker``).

The saga system's cores run as Ray actors against a private RabbitMQ node (the session's)
or a Tansu broker, through the one runner.  Two faults make a broker deliver things twice:
every node's link to the broker duplicates half of its publishes, and (on RabbitMQ) the
hotel service is crashed twice right after it consumed a message (its unacknowledged
deliveries come back).  The correct design absorbs both with its inboxes; each
consumer-side flaw lets a duplicate through, and the idempotency, delivery and saga
checkers say so.

On Tansu the consumer is not crashed: a killed consumer's group member lingers until its
session times out, and Tansu (0.6) wedges a group whose member leaves while a JoinGroup is
pending (docs/pipeline.md), so the restarted hotel service would never be assigned its
partitions again.  A paused Kafka consumer is covered by the kafka-rebalance-redelivery
pair (test_real_engine_scenarios.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from cluster.runtime.brokers import RabbitMQNode, TansuBroker
from scenarios.spec import Scenario

pytestmark = [pytest.mark.ray, pytest.mark.broker, pytest.mark.usefixtures("ray_local")]

DUPLICATE_PUBLISHES = {"at": 0, "fault": {"fault": "link", "src": "*", "dst": "n1", "duplicate": 0.5, "loss": 0.0}}
CRASH_AFTER_CONSUME = {"on": {"kind": "consume", "where": {"node": "n4"}, "bind_leader": "node"}, "delay": 0,
                       "duration": 300, "times": 2, "fault": {"fault": "crash", "node": "leader"}}


def _scenario(flaws: tuple[str, ...] = (), **config: Any) -> Scenario:
    log = config.get("broker") == "log"
    return Scenario(
        name="real-broker-sagas", summary="sagas through a real broker", system="saga", engines=("ray",),
        nodes=5, clients=2, duration_ms=20_000 if log else 14_000, time_limit_s=150.0, seed=1,
        checkers=("idempotency", "delivery", "saga"),
        workload={"ops_per_client": 6, "reject_ratio": 0.6, "think_ms": [20, 100]},
        config=config, flaws=flaws,
        faults=(DUPLICATE_PUBLISHES,) if log else (DUPLICATE_PUBLISHES, CRASH_AFTER_CONSUME),
    )


def _run(sc: Scenario, **options: Any) -> Any:
    from cluster.runtime.launch import RayLauncher, RayOptions
    from scenarios.runner import run_scenario

    return run_scenario(sc, RayLauncher(RayOptions(**options)))


def _verdicts(out: Any) -> dict[str, str]:
    return {r["checker"]: r["verdict"] for r in out.results}


def _check_correct_run(out: Any, *, crashes: bool) -> None:
    """Every saga that ended ended as its plan says, nothing was applied twice, and the
    faults really happened (crashes, and duplicates the inboxes threw away)."""
    assert set(_verdicts(out).values()) == {"valid"}, [(r["checker"], r["explanation"][:3]) for r in out.results]
    plans = {(e.process, e.key): e.value for e in out.events if e.type == "invoke"}
    ended = [e for e in out.events if e.type == "ok"]
    assert len(ended) >= 4, f"only {len(ended)} sagas ended"
    for e in ended:
        assert e.value == ("booked" if plans[(e.process, e.key)] == "ok" else "cancelled"), e
    assert any(r.get("kind") == "crash" for r in out.trace) == crashes
    assert any(r.get("kind") == "dedup" for r in out.trace), "no duplicate reached an inbox"


@pytest.mark.parametrize(
    "flaws,config",
    [
        ((), {}),
        (("consumer_without_dedup",), {}),
        # The same real path as the case above, for two more flaws; each is caught at every
        # seed in the simulator by the catalog tests, and bench/verdicts.py runs their catalog
        # pairs on Ray.  ``pytest -m slow`` runs them here.
        pytest.param(("dedup_window_ttl",), {"dedup_ttl_ms": 1}, marks=pytest.mark.slow),
        pytest.param(("non_idempotent_compensation",), {}, marks=pytest.mark.slow),
    ],
)
def test_rabbitmq_correct_passes_and_flaws_are_caught(rabbit: RabbitMQNode, flaws: tuple[str, ...],
                                                      config: dict[str, Any]) -> None:
    out = _run(_scenario(flaws, **config), amqp_url=rabbit.url)
    if not flaws:
        _check_correct_run(out, crashes=True)
        return
    assert "invalid" in _verdicts(out).values(), [(r["checker"], r["explanation"][:3]) for r in out.results]
    bad = [r for r in out.results if r["verdict"] == "invalid"]
    assert all(r["explanation"] for r in bad)


def test_tansu_correct_passes_and_redelivery_without_dedup_is_caught(tansu: TansuBroker) -> None:
    ok = _run(_scenario(broker="log"), kafka_bootstrap=tansu.bootstrap)
    _check_correct_run(ok, crashes=False)
    assert ok.stats["broker"]["kind"] == "kafka"
    bad = _run(_scenario(("consumer_without_dedup",), broker="log"), kafka_bootstrap=tansu.bootstrap)
    assert "invalid" in _verdicts(bad).values()
