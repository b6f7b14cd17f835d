"""Metric names and types follow Prometheus conventions; a crashed node shows as down."""

from __future__ import annotations

import socket
import urllib.request

from cluster.runtime.metrics import NodeMetrics
from cluster.runtime.scrape import _parse, serve_aggregate


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_fsyncs_are_a_counter_and_the_clock_offset_is_in_seconds() -> None:
    m = NodeMetrics("n1")
    m.count_fsyncs(3)
    m.count_fsyncs(3)
    m.count_fsyncs(5)
    m.clock_offset.set(-0.25)
    series = _parse(m.text().decode())
    assert series['splitbrain_fsyncs_total{node="n1"}'] == 5.0
    assert series['splitbrain_clock_offset_seconds{node="n1"}'] == -0.25
    text = m.text().decode()
    assert "# TYPE splitbrain_fsyncs_total counter" in text and "splitbrain_clock_offset_ms" not in text


def test_the_aggregate_endpoint_says_which_nodes_are_up() -> None:
    port = _free_port()
    up = {"n1": True, "n2": False}
    server = serve_aggregate(port, lambda: {}, None, lambda: up)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            series = _parse(r.read().decode())
    finally:
        server.shutdown()
        server.server_close()
    assert series['splitbrain_node_up{node="n1"}'] == 1.0
    assert series['splitbrain_node_up{node="n2"}'] == 0.0
