"""bench/pipeline.py runs end to end against the session's brokers, and exits 3 with the
install hint where RabbitMQ is missing."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cluster.runtime.brokers import RabbitMQNode, TansuBroker
from cluster.runtime.brokers.rabbitmq import SERVER_ENV

pytestmark = pytest.mark.broker
ROOT = Path(__file__).resolve().parents[2]


def _bench_main() -> Any:
    """bench/ is scripts, not a package: load the file itself."""
    spec = importlib.util.spec_from_file_location("bench_pipeline", ROOT / "bench" / "pipeline.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module.main


def test_bench_pipeline_small_run(rabbit: RabbitMQNode, tansu: TansuBroker, tmp_path: Path) -> None:
    main = _bench_main()
    out = tmp_path / "pipeline.json"
    rc = main(
        [
            "--messages", "300", "--crash-every", "100", "--publish", "batch", "--session-timeout-ms", "2000",
            "--amqp-url", rabbit.url, "--kafka-bootstrap", tansu.bootstrap,
            "--out", str(out),
        ]
    )  # fmt: skip
    assert rc == 0
    rows = json.loads(out.read_text())["results"]
    assert len(rows) == 4
    for row in rows:
        assert row["effects"] == 300  # every message took effect, crashes or not
        if row["crash_every"]:
            assert row["crashes"] >= 1


def test_bench_exits_3_when_rabbitmq_is_missing(tmp_path: Path) -> None:
    env = dict(os.environ, **{SERVER_ENV: "/nonexistent/rabbitmq-server"})
    done = subprocess.run(
        [sys.executable, "bench/pipeline.py", "--brokers", "rabbitmq", "--out", str(tmp_path / "x")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 3
    assert "apt-get install rabbitmq-server" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_bench_exits_3_with_one_line_when_the_broker_is_unreachable(tmp_path: Path) -> None:
    from cluster.runtime.brokers import process

    port = process.free_port()
    for args in (
        ["--brokers", "rabbitmq", "--amqp-url", f"amqp://guest:guest@127.0.0.1:{port}/%2F"],
        ["--brokers", "kafka", "--kafka-bootstrap", f"127.0.0.1:{port}"],
    ):
        done = subprocess.run(
            [sys.executable, "bench/pipeline.py", *args, "--out", str(tmp_path / "x")],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 3, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0], done.stderr
