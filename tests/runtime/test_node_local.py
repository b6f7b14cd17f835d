"""Three NodeHosts in one asyncio loop (no Ray): the real transport, codec, disk and clock."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import grpc
import grpc.aio

from cluster.core.raft import RaftConfig, RaftNode
from cluster.runtime.node import NodeHost, NodeSpec
from faults.engine import LinkSettings
from protos import control_pb2, control_pb2_grpc, messages_pb2, node_pb2_grpc

NODES = ("n1", "n2", "n3")
CONFIG = RaftConfig(election_timeout_ms=(150, 300), heartbeat_ms=30)


def make_core(node_id: str, durable: object, rng: object) -> RaftNode:
    return RaftNode(node_id, NODES, CONFIG, rng, durable=durable)  # type: ignore[arg-type]


async def _cluster(tmp: Path) -> list[NodeHost]:
    t0 = time.monotonic_ns()
    hosts = [NodeHost(NodeSpec(n, make_core, 1, str(tmp / n), t0, metrics=False)) for n in NODES]
    infos = [await h.start() for h in hosts]
    addrs = {i["node"]: f"127.0.0.1:{i['port']}" for i in infos}
    for h in hosts:
        h.set_peers(addrs)
    return hosts


async def _leader(hosts: list[NodeHost], timeout: float = 5.0) -> NodeHost:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        leaders = [h for h in hosts if getattr(h.core, "role", "") == "leader"]
        if leaders:
            return max(leaders, key=lambda h: h.core.term)  # type: ignore[union-attr]
        await asyncio.sleep(0.05)
    raise AssertionError("no leader")


def test_elect_write_cut_and_status(tmp_path: Path) -> None:
    async def main() -> None:
        hosts = await _cluster(tmp_path)
        try:
            leader = await _leader(hosts)
            ch = grpc.aio.insecure_channel(f"127.0.0.1:{leader.port}")
            stub = node_pb2_grpc.ClientStub(ch)
            req = messages_pb2.ClientRequest(src="c1", dst=leader.node_id, client_id="c1", seq=1,
                                             op="put", key="k", value_json=b"7")
            reply = await stub.Execute(req, timeout=3)
            assert reply.status == "ok"
            ctl = control_pb2_grpc.ControlStub(ch)
            st = await ctl.Status(control_pb2.StatusRequest(), timeout=2)
            assert st.role == "leader" and st.commit_index >= 2 and st.has_log
            # isolate the leader at the link layer, both directions and both halves
            others = [h for h in hosts if h is not leader]
            for h in others:
                leader.set_link(h.node_id, LinkSettings(cut=True))
                h.set_link(leader.node_id, LinkSettings(cut=True))
                h.block_inbound(leader.node_id, True)
                leader.block_inbound(h.node_id, True)
            commit_before = leader.core.commit_index  # type: ignore[union-attr]
            new = await _leader(others, timeout=5.0)
            assert new is not leader
            # the old leader cannot commit a write on its own
            req2 = messages_pb2.ClientRequest(src="c2", dst=leader.node_id, client_id="c2", seq=1,
                                              op="put", key="k", value_json=b"8")
            try:
                r2 = await stub.Execute(req2, timeout=0.5)
                assert r2.status != "ok"
            except grpc.aio.AioRpcError as e:
                assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert leader.core.commit_index == commit_before  # type: ignore[union-attr]
            # the clock is skewable at run time and visible in status
            await ctl.SetClock(control_pb2.ClockSettings(offset_ms=5000, rate=1.0), timeout=2)
            st = await ctl.Status(control_pb2.StatusRequest(), timeout=2)
            assert 4900 <= st.local_ms - st.true_ms <= 5100
            await ch.close()
        finally:
            for h in hosts:
                await h.stop()

    asyncio.run(main())


def test_restart_recovers_log_from_disk(tmp_path: Path) -> None:
    async def main() -> None:
        hosts = await _cluster(tmp_path)
        try:
            leader = await _leader(hosts)
            ch = grpc.aio.insecure_channel(f"127.0.0.1:{leader.port}")
            stub = node_pb2_grpc.ClientStub(ch)
            for i in range(5):
                req = messages_pb2.ClientRequest(src="c1", dst=leader.node_id, client_id="c1",
                                                 seq=i + 1, op="put", key="k", value_json=b"1")
                assert (await stub.Execute(req, timeout=3)).status == "ok"
            await ch.close()
            log = leader.core.log  # type: ignore[union-attr]
            term = leader.core.term  # type: ignore[union-attr]
        finally:
            for h in hosts:
                await h.stop()
        again = NodeHost(NodeSpec(leader.node_id, make_core, 1, str(tmp_path / leader.node_id),
                                  time.monotonic_ns(), incarnation=1, metrics=False))
        await again.start()
        try:
            assert again.core.log == log  # type: ignore[union-attr]
            assert again.core.term == term  # type: ignore[union-attr]
        finally:
            await again.stop()

    asyncio.run(main())
