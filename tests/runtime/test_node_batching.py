"""A node's driver loop batches inputs and never hands its core an input while a synced
write is in flight (one NodeHost, no Ray, a disk whose fsync the test holds)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cluster.core.raft import RaftConfig, RaftNode
from cluster.core.types import ClientReply, ClientRequest, PersistOp
from cluster.runtime.disk import DiskStorage
from cluster.runtime.node import NodeHost, NodeSpec

CONFIG = RaftConfig(election_timeout_ms=(50, 80), heartbeat_ms=20)


def make_core(node_id: str, durable: Any, rng: Any) -> RaftNode:
    return RaftNode(node_id, ("n1",), CONFIG, rng, durable=durable)


class HeldDisk(DiskStorage):
    """A WAL whose synced writes wait until the test lets them through."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.gate = threading.Event()
        self.gate.set()
        self.synced_batches: list[int] = []

    def write(self, ops: Sequence[PersistOp], sync: bool) -> None:
        if sync:
            self.gate.wait(5.0)
            self.synced_batches.append(len(ops))
        super().write(ops, sync)


def _put(client: str, value: int) -> ClientRequest:
    return ClientRequest(client, "n1", client, 1, "put", "x", value)


def test_inputs_during_a_sync_wait_for_it_and_then_share_one_batch(tmp_path: Path) -> None:
    async def main() -> None:
        host = NodeHost(NodeSpec("n1", make_core, 1, str(tmp_path / "n1"), time.monotonic_ns(), metrics=False))
        disk = HeldDisk(tmp_path / "held")
        host.storage = disk
        await host.start()
        replies: asyncio.Queue[ClientReply] = asyncio.Queue()
        host.sessions.opened(replies)
        try:
            for _ in range(100):
                if getattr(host.core, "role", "") == "leader":
                    break
                await asyncio.sleep(0.02)
            core = host.core
            assert isinstance(core, RaftNode) and core.role == "leader"
            before = len(core.log)
            disk.gate.clear()  # the next synced write hangs in fsync
            host.deliver(_put("c1", 1))
            await asyncio.sleep(0.05)
            assert len(core.log) == before + 1 and replies.empty()  # written, not yet synced
            host.deliver(_put("c2", 2))
            host.deliver(_put("c3", 3))
            await asyncio.sleep(0.05)
            assert len(core.log) == before + 1  # held: the core has not seen them
            disk.gate.set()
            got = [await asyncio.wait_for(replies.get(), 2.0) for _ in range(3)]
            assert sorted(r.client_id for r in got) == ["c1", "c2", "c3"]
            assert all(r.status == "ok" for r in got)
            assert len(core.log) == before + 3
            assert disk.synced_batches[-2:] == [1, 2]  # c2 and c3 were written together
        finally:
            disk.gate.set()
            await host.stop()

    asyncio.run(main())
