"""A failpoint's delay counts from the end of the batch that hit it, not from the event.

"Crash 1 ms after the vote" means, as in the simulator, 1 ms after the vote's batch: its
synced write, its reply and its events are out.  A real node waits for its disk, which on
a busy machine takes longer than such a delay.  Timed from the event, the freeze came in
the middle of the write: the reply stayed behind it, and ``failpoint-frozen`` reached the
driver ahead of the event it was armed for, so the trigger never saw that event and the
crash never came (the lost-vote lesson missed its race on a loaded machine).

The test runs a one-node Raft cluster in a child process whose disk takes 200 ms per
synced write, arms a failpoint on ``ack`` with a 1 ms delay, writes through it, and
checks that the client got its reply and that the event stream holds the ``ack`` before
``failpoint-frozen``.  No driver thaws or kills the node: what the node did before its
freeze is all there is.
"""

from __future__ import annotations

from pathlib import Path

import grpc

from protos import control_pb2, node_pb2_grpc
from protos import control_pb2_grpc as control_grpc
from tests.runtime.single_node import node_script, put_until_ok, start_node

ROOT = Path(__file__).resolve().parents[2]

_CHILD = node_script('FailpointSpec("fp-ack", "ack", {}, 1)', prelude="""
    from cluster.runtime.disk import DiskStorage

    write = DiskStorage.write

    def slow_write(self, ops, sync):  # a busy machine's disk: every synced write takes 200 ms
        if sync:
            time.sleep(0.2)
        write(self, ops, sync)

    DiskStorage.write = slow_write
""")


def test_a_delayed_failpoint_freezes_after_the_batch_it_hit(tmp_path: Path) -> None:
    child, port = start_node(_CHILD, tmp_path / "n1")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            # a reply held behind a freeze would end in DEADLINE_EXCEEDED
            reply = put_until_ok(node_pb2_grpc.ClientStub(ch), within_s=30, rpc_timeout_s=10)
            assert reply is not None and reply.status == "ok", reply  # type: ignore[attr-defined]
            kinds: list[tuple[str, bool]] = []
            for batch in control_grpc.ControlStub(ch).Events(control_pb2.EventsRequest(), timeout=20):
                for ev in batch.events:
                    kinds.append((ev.kind, b"fp-ack" in ev.data_json))
                if ("failpoint-frozen", True) in kinds:
                    break
    finally:
        child.kill()
        child.wait()
    assert ("ack", True) in kinds, kinds
    assert kinds.index(("ack", True)) < kinds.index(("failpoint-frozen", True)), kinds
