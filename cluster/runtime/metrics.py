"""Prometheus metrics of one node (or client host), served on 127.0.0.1 (or, in a run
spread over a cluster, on the address of the Ray node the process runs on).

Each process has its own :class:`CollectorRegistry` (not the global default one) so two
hosts in one test process never collide, and every series carries a ``node`` label so the
driver can merge all nodes into one aggregated endpoint (``metrics_port``) without
rewriting anything.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.exposition import generate_latest

__all__ = ["ClientMetrics", "NodeMetrics", "serve"]

ROLES = ("follower", "precandidate", "candidate", "leader")


def serve(registry: CollectorRegistry, host: str = "127.0.0.1") -> tuple[Any, int]:
    """Start an HTTP exporter on an OS-chosen port of ``host``; returns (server, port)."""
    server, _thread = start_http_server(0, addr=host, registry=registry)
    return server, int(server.server_port)


class NodeMetrics:
    def __init__(self, node: str) -> None:
        self.node = node
        r = self.registry = CollectorRegistry()
        lab = ["node"]
        self.term = Gauge("splitbrain_term", "Current Raft term", lab, registry=r).labels(node)
        self.role = Gauge("splitbrain_role", "1 for the node's current role", [*lab, "role"], registry=r)
        self.commit = Gauge("splitbrain_commit_index", "Raft commit index", lab, registry=r).labels(node)
        self.applied = Gauge("splitbrain_applied_index", "Last applied log index", lab, registry=r).labels(node)
        self.leader_changes = Counter(
            "splitbrain_leader_changes", "Times this node became leader", lab, registry=r
        ).labels(node)
        self.elections = Counter(
            "splitbrain_elections_started", "Elections (and prevotes) this node started", lab, registry=r
        ).labels(node)
        self.sent = Counter("splitbrain_messages_sent", "Envelopes written to a peer stream", [*lab, "peer"], registry=r)
        self.dropped = Counter(
            "splitbrain_messages_dropped", "Envelopes dropped by the link layer", [*lab, "peer", "reason"], registry=r
        )
        self.received = Counter("splitbrain_messages_received", "Envelopes received", lab, registry=r).labels(node)
        self.fsyncs = Counter("splitbrain_fsyncs", "fsync calls on the WAL", lab, registry=r).labels(node)
        self._fsyncs_seen = 0
        self.batches = Gauge(
            "splitbrain_input_batches", "Batches of peer and client inputs drained as one Ready", lab, registry=r
        ).labels(node)
        self.batched_inputs = Gauge(
            "splitbrain_batched_inputs", "Peer and client inputs stepped into those batches", lab, registry=r
        ).labels(node)
        self.faults = Gauge(
            "splitbrain_faults_active", "Link faults and clock skew active on this node", [*lab, "kind"], registry=r
        )
        self.clock_offset = Gauge(
            "splitbrain_clock_offset_seconds", "Local clock minus true time", lab, registry=r
        ).labels(node)
        self.client_requests = Counter(
            "splitbrain_client_requests", "Client requests received", lab, registry=r
        ).labels(node)
        for role in ROLES:
            self.role.labels(node, role).set(0)
        for kind in ("link", "clock", "inbound_block"):
            self.faults.labels(node, kind).set(0)

    def count_fsyncs(self, total: int) -> None:
        """Bring ``splitbrain_fsyncs_total`` up to the WAL's own count (a counter only rises)."""
        if total > self._fsyncs_seen:
            self.fsyncs.inc(total - self._fsyncs_seen)
            self._fsyncs_seen = total

    def set_role(self, role: str) -> None:
        for r in ROLES:
            self.role.labels(self.node, r).set(1 if r == role else 0)

    def text(self) -> bytes:
        return generate_latest(self.registry)


class ClientMetrics:
    def __init__(self, host: str) -> None:
        self.node = host
        r = self.registry = CollectorRegistry()
        self.latency = Histogram(
            "splitbrain_client_op_latency_seconds",
            "Client operation latency, invoke to completion",
            ["node", "f", "type"],
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0),
            registry=r,
        )
        self.ops = Counter("splitbrain_client_ops", "Client operations completed", ["node", "f", "type"], registry=r)

    def text(self) -> bytes:
        return generate_latest(self.registry)
