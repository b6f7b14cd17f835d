"""Catalog saga and pipeline scenarios on the real engine (marked ``ray`` and ``broker``).

``splitbrain run NAME --engine ray`` for these systems runs every node as a Ray actor
process, the broker as a real RabbitMQ node or Tansu broker, and the pipeline's workers
with the real all-MiniLM-L6-v2 model.  Each flawed scenario must be judged invalid for the
reason its lesson names, and its correct twin valid, under the same faults.  Real
processes are not deterministic; these pairs were measured to give the same verdicts in
every run (see the issue notes for the rates).

Runs whose faults do not touch the broker share the session's RabbitMQ / Tansu (a cold
RabbitMQ boot costs ~5 s); the broker-restart pair starts its own, since it kills it.  The
outbox-relay-crash pair runs under CPU load in test_under_load.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from scenarios.spec import load

pytestmark = [pytest.mark.ray, pytest.mark.broker, pytest.mark.usefixtures("ray_local")]


def _run(name: str, **kw: Any) -> Any:
    from cluster.runtime.launch import RayLauncher, RayOptions
    from scenarios.runner import run_scenario

    duration = kw.pop("duration_ms", None)
    sc = load(name)
    if duration is not None:
        sc = sc.with_overrides(duration_ms=duration)
    return run_scenario(sc, RayLauncher(RayOptions(**kw)))


def _verdicts(out: Any) -> dict[str, str]:
    return {r["checker"]: r["verdict"] for r in out.results}


def _explain(out: Any) -> list[Any]:
    return [(r["checker"], r["explanation"][:3]) for r in out.results]


def test_consumer_crash_before_ack_on_rabbitmq(rabbit: Any) -> None:
    flawed = _run("consumer-crash-before-ack", amqp_url=rabbit.url, duration_ms=10_000)
    assert _verdicts(flawed)["delivery"] == "invalid", _explain(flawed)
    delivery = next(r for r in flawed.results if r["checker"] == "delivery")
    assert any("acknowledged" in line and "never processed" in line for line in delivery["explanation"])
    correct = _run("consumer-crash-before-ack-correct", amqp_url=rabbit.url, duration_ms=10_000)
    assert correct.verdict == "valid", _explain(correct)


def test_duplicate_charge_on_retry_on_rabbitmq(rabbit: Any) -> None:
    """A paused payment service makes the orchestrator retry; without a key it bills twice."""
    flawed = _run("duplicate-charge-on-retry", amqp_url=rabbit.url, duration_ms=10_000)
    assert _verdicts(flawed)["idempotency"] == "invalid", _explain(flawed)
    correct = _run("duplicate-charge-on-retry-correct", amqp_url=rabbit.url, duration_ms=10_000)
    assert correct.verdict == "valid", _explain(correct)


def test_pipeline_worker_crash_mid_batch_with_the_real_model_on_rabbitmq(rabbit: Any) -> None:
    """Workers are killed right after embedding a batch; unstable chunk ids duplicate chunks."""
    flawed = _run("pipeline-worker-crash-mid-batch", amqp_url=rabbit.url)
    assert _verdicts(flawed)["pipeline"] == "invalid", _explain(flawed)
    pipe = next(r for r in flawed.results if r["checker"] == "pipeline")
    assert any("with different chunk ids" in line for line in pipe["explanation"]), pipe["explanation"]
    correct = _run("pipeline-worker-crash-mid-batch-correct", amqp_url=rabbit.url)
    assert correct.verdict == "valid", _explain(correct)
    pipe = next(r for r in correct.results if r["checker"] == "pipeline")
    assert "complete" in pipe["explanation"][0] and "0 complete" not in pipe["explanation"][0]
    assert any(r.get("kind") == "crash" for r in correct.trace)


def test_kafka_rebalance_redelivery_on_tansu(tansu: Any) -> None:
    """A paused consumer's uncommitted offsets come back; without an inbox it applies twice."""
    flawed = _run("kafka-rebalance-redelivery", kafka_bootstrap=tansu.bootstrap, duration_ms=10_000)
    assert _verdicts(flawed)["idempotency"] == "invalid", _explain(flawed)
    assert flawed.stats["broker"]["kind"] == "kafka"
    correct = _run("kafka-rebalance-redelivery-correct", kafka_bootstrap=tansu.bootstrap, duration_ms=10_000)
    assert correct.verdict == "valid", _explain(correct)
