"""The lock-and-fencing lesson: the storage's rule, the worker's recipe, the checker's verdicts."""

from __future__ import annotations

import random
from typing import Any

from analysis import fencing
from cluster.core.fenced_storage import FencedStorage, FencingFlaws, StorageAck, StorageWrite
from cluster.core.lock_worker import LockConfig, LockWorker
from cluster.core.types import ClientReply, ClientRequest
from scenarios.runner import run_scenario
from scenarios.spec import catalog


def write(storage: FencedStorage, holder: str, token: int) -> StorageAck:
    storage.step(StorageWrite(holder, "n6", 1, holder, token, f"v{token}"))
    acks = [m for m in storage.ready().messages if isinstance(m, StorageAck)]
    return acks[0]


def test_storage_rejects_a_token_below_the_highest_it_accepted_unless_the_flaw_is_on() -> None:
    s = FencedStorage("n6", random.Random(1))
    assert write(s, "n5", 3).accepted and write(s, "n5", 3).accepted  # one holder, several writes
    stale = write(s, "n4", 2)
    assert not stale.accepted and stale.max_token == 3
    loose = FencedStorage("n6", random.Random(1), flaws=FencingFlaws(storage_ignores_tokens=True))
    write(loose, "n5", 3)
    assert write(loose, "n4", 2).accepted


def kv_reply(worker: LockWorker, status: str, value: Any = None) -> None:
    req = [m for m in worker.ready().messages if isinstance(m, ClientRequest)][-1]
    assert req.src == "n4"  # the KV client's requests leave as the node's own
    worker.step(ClientReply("n1", "n4", req.client_id, req.seq, status, value))


def test_worker_takes_the_next_token_checks_its_lease_then_writes_on_the_next_tick() -> None:
    w = LockWorker("n4", ("n1", "n2", "n3"), "n6", LockConfig(ttl_ms=1000), random.Random(1))
    w.tick(0, 0)
    w.step(ClientRequest("c0", "n4", "c0", 1, "job", None, 7))
    kv_reply(w, "ok", (None, 4, 0))  # the lock is free; its last grant was token 4
    cas = [m for m in w.ready().messages if isinstance(m, ClientRequest)]
    w.step(ClientReply("n1", "n4", cas[-1].client_id, cas[-1].seq, "ok", None))
    assert [e.data["token"] for e in w.ready().events if e.kind == "lock-granted"] == [5]
    assert cas[-1].value == [(None, 4, 0), ("n4", 5, 1000)]
    w.tick(10, 10)
    r = w.ready()
    assert [e.kind for e in r.events] == ["lease-checked"] and not r.messages
    w.tick(20, 20)  # a pause here is what the lesson is about: the write was already decided
    writes = [m for m in w.ready().messages if isinstance(m, StorageWrite)]
    assert [(m.token, m.value) for m in writes] == [(5, 7)]
    w.step(StorageAck("n6", "n4", writes[0].req, False, 6))
    release = [m for m in w.ready().messages if isinstance(m, ClientRequest)][-1]
    assert release.op == "cas" and release.value == [("n4", 5, 1000), (None, 5, 0)]
    w.step(ClientReply("n1", "n4", release.client_id, release.seq, "ok", None))
    replies = [m for m in w.ready().replies if m.client_id == "c0"]
    assert [m.status for m in replies] == ["fail"] and "below 6" in str(replies[0].value)


def test_a_held_unexpired_lock_is_waited_for() -> None:
    w = LockWorker("n4", ("n1", "n2", "n3"), "n6", LockConfig(poll_ms=100), random.Random(1))
    w.tick(0, 0)
    w.step(ClientRequest("c0", "n4", "c0", 1, "job", None, 7))
    kv_reply(w, "ok", ("n5", 2, 500))
    assert [e.kind for e in w.ready().events] == ["lock-busy"]
    w.tick(50, 50)
    assert not [m for m in w.ready().messages if isinstance(m, ClientRequest)]
    w.tick(100, 100)
    assert [m.op for m in w.ready().messages if isinstance(m, ClientRequest)] == ["get"]


def granted(t: int, node: str, token: int) -> dict[str, Any]:
    return {"t": t, "kind": "lock-granted", "node": node, "token": token, "ttl_ms": 1000}


def stored(t: int, holder: str, token: int, accepted: bool = True) -> dict[str, Any]:
    return {"t": t, "kind": "storage-write", "node": "n6", "holder": holder, "token": token, "accepted": accepted}


def test_checker_flags_interleaved_holders_and_names_the_pause() -> None:
    trace = [granted(100, "n4", 1), {"t": 110, "kind": "pause", "node": "n4"}, granted(1300, "n5", 2),
             stored(1320, "n5", 2), {"t": 1610, "kind": "resume", "node": "n4"}, stored(1620, "n4", 1)]
    r = fencing.check_trace(trace)
    assert r["violation_counts"] == {"grant-order": 1}
    text = r["explanation"][1]
    assert "paused from 110 ms to 1610 ms" in text and "lease ended at 1100 ms" in text


def test_checker_accepts_grant_order_and_rejections_and_flags_a_borrowed_token() -> None:
    ok = [granted(100, "n4", 1), stored(120, "n4", 1), granted(1300, "n5", 2), stored(1320, "n5", 2),
          stored(1620, "n4", 1, accepted=False)]
    assert fencing.check_trace(ok)["verdict"] == "valid"
    borrowed = [granted(100, "n4", 1), stored(120, "n5", 1)]
    assert fencing.check_trace(borrowed)["violation_counts"] == {"holder-owns-token": 1}


def test_the_pair_end_to_end() -> None:
    bad = run_scenario(catalog()["lock-lease-without-fencing"], trace_messages=False)
    assert bad.verdict == "invalid" and "(a GC pause)" in bad.results[0]["explanation"][1]
    good = run_scenario(catalog()["lock-lease-without-fencing-correct"], trace_messages=False)
    assert good.verdict == "valid" and good.results[0]["stats"]["rejected"] >= 1
