"""One node process driven over its gRPC port, without Ray, for tests of what a node does
around a crash: the child script builds a single-node :class:`~cluster.runtime.node.NodeHost`
and prints its port; the test writes through the client stream until the node has elected
itself and answers ``ok``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from protos import messages_pb2, node_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]


def node_script(failpoint: str, prelude: str = "") -> str:
    """The child script: a single-node Raft KV (elects itself within ~80 ms) with one
    failpoint (``failpoint`` is a ``FailpointSpec(...)`` expression), after ``prelude`` (e.g.
    a patched disk); it prints its port and serves until killed."""
    return textwrap.dedent("""
        import asyncio, sys, time
        from cluster.core.raft import RaftConfig, RaftNode
        from cluster.runtime.node import NodeHost, NodeSpec
        from cluster.runtime.world import FailpointSpec
    """) + textwrap.dedent(prelude) + textwrap.dedent(f"""
        def make_core(node_id, durable, rng):
            return RaftNode(node_id, ("n1",), RaftConfig(election_timeout_ms=(50, 80), heartbeat_ms=20), rng,
                            durable=durable)

        async def main():
            spec = NodeSpec("n1", make_core, 1, sys.argv[1], time.monotonic_ns(), metrics=False,
                            failpoints=({failpoint},))
            host = NodeHost(spec)
            info = await host.start()
            print(info["port"], flush=True)
            await asyncio.sleep(600)

        asyncio.run(main())
    """)


def start_node(script: str, data: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Run ``script`` with the node's data folder as its argument; its first line is the port."""
    child = subprocess.Popen([sys.executable, "-c", script, str(data)], cwd=ROOT, stdout=subprocess.PIPE,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert child.stdout is not None
    return child, int(child.stdout.readline())


def put_until_ok(stub: node_pb2_grpc.ClientStub, *, within_s: float, rpc_timeout_s: float) -> object:
    """``put k 7`` as client c1, again until the single node (electing itself) answers ``ok``
    or ``within_s`` passes; the last reply (its ``status`` says which)."""
    reply = None
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        req = messages_pb2.ClientRequest(src="c1", dst="n1", client_id="c1", seq=1, op="put", key="k",
                                         value_json=b"7")
        reply = stub.Execute(req, timeout=rpc_timeout_s)
        if reply.status == "ok":
            break
        time.sleep(0.05)
    return reply
