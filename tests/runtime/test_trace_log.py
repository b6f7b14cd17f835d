"""A node's trace records are as durable as its state (issue 11, section 1).

The crash test runs a one-node Raft cluster in a child process, has a client write
through it, and SIGKILLs the process the moment the client holds the reply -- before any
driver ever read the node's event stream (none is opened).  The write's ``ack`` record
must be in the node's trace file all the same, with the failpoint it tripped: a crash
between a batch's persist and its events reaching the driver keeps the record.
"""

from __future__ import annotations

import signal
from pathlib import Path

import grpc

from cluster.runtime.disk import WAL_NAME, load_image
from cluster.runtime.trace_log import TRACE_NAME, NodeTraceLog, read_trace_log
from protos import node_pb2_grpc
from tests.runtime.single_node import node_script, put_until_ok, start_node

ROOT = Path(__file__).resolve().parents[2]

_CHILD = node_script('FailpointSpec("fp-ack", "ack")')


def test_trace_log_appends_and_skips_a_torn_line(tmp_path: Path) -> None:
    log = NodeTraceLog(tmp_path)
    log.append([{"kind": "a", "t": 1}, {"kind": "b", "t": 2, "x": (1, 2)}])
    log.sync()
    log.close()
    with (tmp_path / TRACE_NAME).open("ab") as fh:
        fh.write(b'{"kind": "c", "t"')  # a write torn by a crash
    records, torn = read_trace_log(tmp_path / TRACE_NAME)
    assert [r["kind"] for r in records] == ["a", "b"]
    assert records[1]["x"] == [1, 2]
    assert torn == 1


def test_a_crash_right_after_the_reply_keeps_the_record(tmp_path: Path) -> None:
    data = tmp_path / "n1"
    child, _port = start_node(_CHILD, data)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{_port}") as ch:
            reply = put_until_ok(node_pb2_grpc.ClientStub(ch), within_s=20, rpc_timeout_s=5)
        child.send_signal(signal.SIGKILL)  # nobody ever read the node's event stream
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert reply is not None and reply.status == "ok"  # type: ignore[attr-defined]
    image = load_image(data / WAL_NAME)
    assert image, "the write was persisted"
    records, _ = read_trace_log(data / TRACE_NAME)
    acks = [r for r in records if r["kind"] == "ack" and r["client_id"] == "c1"]
    assert acks, f"the ack record died with the process: {[r['kind'] for r in records]}"
    assert acks[0]["failpoint"] == "fp-ack" and acks[0]["node"] == "n1" and acks[0]["inc"] == 0
    roles = [r for r in records if r["kind"] == "role" and r.get("role") == "leader"]
    assert roles and roles[0]["t"] <= acks[0]["t"]


def test_a_crash_that_landed_late_is_named_in_its_fault_window() -> None:
    from analysis.faultwindows import fault_windows

    trace = [
        {"t": 100, "kind": "publish", "node": "n2"},
        {"t": 180, "kind": "crash", "node": "n2", "landed": "running", "after_event": "publish", "event_t": 100,
         "late_ms": 80},
        {"t": 180, "kind": "fault-start", "id": 1, "fault": "crash", "targets": ["n2"],
         "description": "crashed n2 (the node of the 'publish' event)"},
        {"t": 900, "kind": "crash", "node": "n3", "landed": "failpoint", "failpoint": "fp-1"},
        {"t": 900, "kind": "fault-start", "id": 2, "fault": "crash", "targets": ["n3"], "description": "crashed n3"},
    ]
    late, frozen = fault_windows(trace)
    assert late["landed"] == "running"
    assert "landing 80 ms after n2's 'publish' event at 100 ms" in late["description"]
    assert frozen["description"] == "crashed n3" and "landed" not in frozen
