"""Transactions on the Raft KV, as transcripts: in the log, optimistic, and each flaw's
anomaly on a small hand-driven schedule, judged by the isolation and bank checkers."""

from __future__ import annotations

from typing import Any

from analysis.bank import check as check_bank
from analysis.history import Event, History
from analysis.isolation import check as check_isolation
from analysis.isolation.txn import from_history
from cluster.core.raft import RaftConfig, RaftFlaws
from cluster.core.types import ClientRequest
from tests.core.test_raft_harness import Cluster

OPTIMISTIC = RaftConfig(txn_mode="optimistic")


def _txn(c: Cluster, node: str, mops: list[list[Any]], client: str) -> ClientRequest:
    return c.request(node, "txn", None, mops, client=client)  # type: ignore[arg-type]


def _status(c: Cluster, req: ClientRequest) -> tuple[str, Any] | None:
    r = c.reply_to(req)
    return None if r is None else (r.status, r.value)


def _history(c: Cluster, reqs: list[ClientRequest], *, one_by_one: bool = False) -> History:
    """The client history of ``reqs``: all invoked first (they overlapped), then each
    completion in the order its reply came; or, ``one_by_one``, each completed before the
    next was invoked."""
    order: list[tuple[str, int]] = []
    outcome: dict[tuple[str, int], tuple[str, Any]] = {}
    for reply in c.replies:
        ident = (reply.client_id, reply.seq)
        if ident not in outcome and reply.status in ("ok", "fail"):
            outcome[ident] = (reply.status, reply.value)
            order.append(ident)

    def invoke(r: ClientRequest) -> Event:
        return Event(r.client_id, "invoke", r.op, _lists(r.value))

    def complete(r: ClientRequest) -> Event:
        status, value = outcome[(r.client_id, r.seq)]
        return Event(r.client_id, status, r.op, _lists(value if status == "ok" else r.value))

    if one_by_one:
        events = [e for r in reqs for e in (invoke(r), complete(r))]
    else:
        done = sorted(reqs, key=lambda r: order.index((r.client_id, r.seq)))
        events = [invoke(r) for r in reqs] + [complete(r) for r in done]
    return History.from_events(events)


def _lists(v: Any) -> Any:
    if isinstance(v, list | tuple):
        return [_lists(x) for x in v]
    return v


def _isolation(c: Cluster, reqs: list[ClientRequest], model: str = "strict-serializable",
               one_by_one: bool = False) -> dict[str, Any]:
    history = _history(c, reqs, one_by_one=one_by_one)
    return check_isolation(from_history(history, "list-append"), consistency_model=model)


# --- in the log ----------------------------------------------------------------------------------


def test_a_txn_is_one_log_entry_applied_whole_on_every_replica() -> None:
    c = Cluster()
    c.elect("n1")
    t = _txn(c, "n1", [["append", "x", 1], ["r", "x", None], ["append", "y", 2], ["r", "z", None]], "c1")
    assert len(c.nodes["n1"].log) == 2  # the election no-op and the transaction
    assert c.reply_to(t) is None  # nothing is answered before the entry commits
    c.deliver()
    c.heartbeat("n1")
    assert _status(c, t) == ("ok", (("append", "x", 1), ("r", "x", (1,)), ("append", "y", 2), ("r", "z", None)))
    for n in c.nodes.values():
        assert n.kv.snapshot() == {"x": (1,), "y": (2,)}
    assert c.events_of("ack", "n1")[-1] == {"client_id": "c1", "seq": 1, "op": "txn"}


def test_followers_redirect_txns_and_bad_txns_fail_definitely() -> None:
    c = Cluster()
    c.elect("n1")
    t = _txn(c, "n2", [["r", "x", None]], "c1")
    assert c.reply_to(t).status == "redirect"  # type: ignore[union-attr]
    for bad in ([], [["r", "x"]], [["delete", "x", 1]], [["append", 3, 1]], [["w", "x", [1]]]):
        req = _txn(c, "n1", bad, "c2")
        status, why = _status(c, req)  # type: ignore[misc]
        assert status == "fail" and why.startswith("bad request"), (bad, why)
    assert c.request("n1", "transfer", None, {"from": "a", "to": "a", "amount": 1}).seq  # type: ignore[arg-type]
    assert c.replies[-1].status == "fail"
    assert len(c.nodes["n1"].log) == 1  # nothing malformed reached the log


def test_a_retried_txn_runs_once() -> None:
    c = Cluster()
    c.elect("n1")
    t = _txn(c, "n1", [["append", "x", 1]], "c1")
    c.deliver()
    retry = c.request("n1", "txn", None, [["append", "x", 1]], client="c1", seq=t.seq)  # type: ignore[arg-type]
    c.deliver()
    c.heartbeat("n1")
    assert _status(c, retry) == ("ok", (("append", "x", 1),))
    assert c.nodes["n2"].kv.snapshot() == {"x": (1,)}  # appended once


def test_the_bank_opens_once_refuses_overdrafts_and_reads_every_balance() -> None:
    c = Cluster()
    c.elect("n1")
    first = c.request("n1", "open", None, {"a": 10, "b": 5})  # type: ignore[arg-type]
    again = c.request("n1", "open", None, {"a": 99, "b": 99}, client="c2")  # type: ignore[arg-type]
    move = c.request("n1", "transfer", None, {"from": "a", "to": "b", "amount": 4})  # type: ignore[arg-type]
    over = c.request("n1", "transfer", None, {"from": "b", "to": "a", "amount": 10})  # type: ignore[arg-type]
    ghost = c.request("n1", "transfer", None, {"from": "a", "to": "z", "amount": 1})  # type: ignore[arg-type]
    read = c.request("n1", "read", None, None)  # type: ignore[arg-type]
    c.deliver()
    assert _status(c, first) == ("ok", {"a": 10, "b": 5})
    assert _status(c, again)[0] == "ok"  # type: ignore[index]
    assert _status(c, move) == ("ok", {"from": "a", "to": "b", "amount": 4})
    assert _status(c, over) == ("fail", "insufficient funds: b holds 9, the transfer needs 10")
    assert _status(c, ghost) == ("fail", "no such account: z")
    assert _status(c, read) == ("ok", {"a": 6, "b": 9})


# --- txn_reads_outside_log -------------------------------------------------------------------------


def _read_skew_schedule(flaws: RaftFlaws) -> tuple[Cluster, list[ClientRequest]]:
    """T1 transfers (appends to x and y); while it is in the log, T2 reads x and appends
    to y: it reaches the leader after T1, so its append lands after T1's."""
    c = Cluster(flaws=flaws)
    c.elect("n1")
    t1 = _txn(c, "n1", [["append", "x", 1], ["append", "y", 1]], "c1")
    t2 = _txn(c, "n1", [["r", "x", None], ["append", "y", 2]], "c2")
    c.deliver()
    c.heartbeat("n1")
    audit = _txn(c, "n1", [["r", "x", None], ["r", "y", None]], "c3")
    c.deliver()
    c.heartbeat("n1")
    return c, [t1, t2, audit]


def test_in_the_log_a_txn_reads_and_writes_at_one_point() -> None:
    c, (t1, t2, _) = _read_skew_schedule(RaftFlaws())
    assert _status(c, t2) == ("ok", (("r", "x", (1,)), ("append", "y", 2)))  # it comes after T1, and saw it
    r = _isolation(c, [t1, t2])
    assert r["verdict"] == "valid", r["explanation"]


def test_reads_outside_the_log_act_on_a_state_before_a_txn_they_follow() -> None:
    c, (t1, t2, audit) = _read_skew_schedule(RaftFlaws(txn_reads_outside_log=True))
    assert _status(c, t2) == ("ok", (("r", "x", None), ("append", "y", 2)))  # did not see T1's x...
    assert _status(c, audit) == ("ok", (("r", "x", (1,)), ("r", "y", (1, 2))))  # ...yet follows it in y
    r = _isolation(c, [t1, t2, audit])
    assert r["verdict"] == "invalid"
    assert "G-single" in r["anomaly_types"]
    assert "snapshot-isolation" in r["not"]


def test_reads_outside_the_log_let_a_lagging_follower_answer_from_the_past() -> None:
    c = Cluster(flaws=RaftFlaws(txn_reads_outside_log=True))
    c.elect("n1")
    c.isolate("n3")
    put = _txn(c, "n1", [["append", "x", 1]], "c1")
    c.deliver(lambda m: "n3" not in (m.src, m.dst))
    assert _status(c, put)[0] == "ok"  # type: ignore[index]
    stale = _txn(c, "n3", [["r", "x", None]], "c1")  # the same client, after its append completed
    assert _status(c, stale) == ("ok", (("r", "x", None),))
    writes = _txn(c, "n3", [["r", "x", None], ["append", "x", 2]], "c2")
    assert _status(c, writes)[0] == "redirect"  # type: ignore[index]
    assert "G-single-process" in _isolation(c, [put, stale], one_by_one=True)["anomaly_types"]


# --- optimistic --------------------------------------------------------------------------------------


def test_an_optimistic_read_only_txn_is_answered_at_a_confirmed_snapshot_without_a_log_entry() -> None:
    c = Cluster(config=OPTIMISTIC)
    c.elect("n1")
    w = _txn(c, "n1", [["append", "x", 1]], "c1")
    c.deliver()
    before = len(c.nodes["n1"].log)
    r = _txn(c, "n1", [["r", "x", None]], "c2")
    assert c.reply_to(r) is None  # waiting for a heartbeat quorum, as a ReadIndex get does
    c.deliver()
    assert _status(c, r) == ("ok", (("r", "x", (1,)),))
    assert len(c.nodes["n1"].log) == before
    assert _status(c, w) == ("ok", (("append", "x", 1),))


def test_an_isolated_optimistic_leader_never_answers_from_its_stale_snapshot() -> None:
    c = Cluster(config=OPTIMISTIC)
    c.elect("n1")
    c.isolate("n1")
    c.advance("n2", 1000)
    c.deliver(lambda m: "n1" not in (m.src, m.dst))
    w = _txn(c, "n2", [["append", "x", 1]], "c1")
    c.deliver(lambda m: "n1" not in (m.src, m.dst))
    assert _status(c, w)[0] == "ok"  # type: ignore[index]
    r = _txn(c, "n1", [["r", "x", None]], "c2")  # n1 still believes it leads
    c.drop(lambda m: "n1" in (m.src, m.dst))
    assert c.reply_to(r) is None


def _doctors(flaws: RaftFlaws) -> tuple[Cluster, list[ClientRequest]]:
    """Alice and Bob each read both on-call records at one snapshot, then write their own."""
    c = Cluster(config=OPTIMISTIC, flaws=flaws)
    c.elect("n1")
    alice = _txn(c, "n1", [["r", "alice", None], ["r", "bob", None], ["append", "alice", 1]], "c1")
    bob = _txn(c, "n1", [["r", "alice", None], ["r", "bob", None], ["append", "bob", 1]], "c2")
    c.deliver()
    c.heartbeat("n1")
    return c, [alice, bob]


def test_validating_the_read_set_aborts_the_second_doctor() -> None:
    c, (alice, bob) = _doctors(RaftFlaws())
    assert _status(c, alice)[0] == "ok"  # type: ignore[index]
    assert _status(c, bob) == ("fail", "conflict: alice was written after the snapshot")
    assert c.nodes["n3"].kv.snapshot() == {"alice": (1,)}
    roster = _txn(c, "n1", [["r", "alice", None], ["r", "bob", None]], "c3")
    c.deliver()
    assert _isolation(c, [alice, bob, roster])["verdict"] == "valid"


def test_without_read_validation_both_doctors_go_off_call_write_skew() -> None:
    c, (alice, bob) = _doctors(RaftFlaws(txn_no_read_validation=True))
    assert [_status(c, t)[0] for t in (alice, bob)] == ["ok", "ok"]  # type: ignore[index]
    assert c.nodes["n3"].kv.snapshot() == {"alice": (1,), "bob": (1,)}
    r = _isolation(c, [alice, bob])
    assert r["anomaly_types"] == ["G2-item"]
    # It is snapshot isolation: no G-single, valid under SI, invalid under serializable.
    assert _isolation(c, [alice, bob], "snapshot-isolation")["verdict"] == "valid"
    assert _isolation(c, [alice, bob], "serializable")["verdict"] == "invalid"


def test_without_read_validation_a_write_write_conflict_still_aborts() -> None:
    c = Cluster(config=OPTIMISTIC, flaws=RaftFlaws(txn_no_read_validation=True))
    c.elect("n1")
    a = _txn(c, "n1", [["r", "x", None], ["append", "x", 1]], "c1")
    b = _txn(c, "n1", [["r", "x", None], ["append", "x", 2]], "c2")
    c.deliver()
    assert [_status(c, t)[0] for t in (a, b)] == ["ok", "fail"]  # type: ignore[index]


def _two_transfers(flaws: RaftFlaws) -> tuple[Cluster, History]:
    c = Cluster(config=OPTIMISTIC, flaws=flaws)
    c.elect("n1")
    opened = c.request("n1", "open", None, {"a": 10, "b": 0, "c": 0})  # type: ignore[arg-type]
    c.deliver()
    one = c.request("n1", "transfer", None, {"from": "a", "to": "b", "amount": 3}, client="c2")  # type: ignore[arg-type]
    two = c.request("n1", "transfer", None, {"from": "a", "to": "c", "amount": 4}, client="c3")  # type: ignore[arg-type]
    c.deliver()
    read = c.request("n1", "read", None, None, client="c4")  # type: ignore[arg-type]
    c.deliver()
    return c, _history(c, [opened, one, two, read])


def test_validating_the_written_balances_aborts_a_concurrent_transfer() -> None:
    c, history = _two_transfers(RaftFlaws())
    assert [op.status for op in history.operations if op.f == "transfer"] == ["ok", "fail"]
    assert check_bank(history)["verdict"] == "valid"


def test_without_a_conflict_check_one_transfer_overwrites_the_other_lost_update() -> None:
    c, history = _two_transfers(RaftFlaws(txn_lost_update=True))
    assert [op.status for op in history.operations if op.f == "transfer"] == ["ok", "ok"]
    assert c.nodes["n2"].kv.snapshot()["a"] == 6  # the second debit overwrote the first
    r = check_bank(history)
    assert r["verdict"] == "invalid" and r["anomaly_types"] == ["wrong-total"]
    assert "adding up to 13, 3 more than the bank's total of 10" in r["anomalies"]["wrong-total"][0]["text"]


def test_a_retry_after_an_optimistic_commit_gets_the_first_outcome() -> None:
    c = Cluster(config=OPTIMISTIC)
    c.elect("n1")
    c.request("n1", "open", None, {"a": 5, "b": 0})  # type: ignore[arg-type]
    c.deliver()
    move = c.request("n1", "transfer", None, {"from": "a", "to": "b", "amount": 5}, client="c2")  # type: ignore[arg-type]
    c.deliver()
    # The reply was lost; at a fresh snapshot a holds 0, but the retry must not say "fail".
    retry = c.request("n1", "transfer", None, {"from": "a", "to": "b", "amount": 5},  # type: ignore[arg-type]
                      client="c2", seq=move.seq)
    c.deliver()
    assert _status(c, retry) == ("ok", {"from": "a", "to": "b", "amount": 5})
    assert c.nodes["n2"].kv.snapshot()["b"] == 5


def test_commits_travel_through_the_log_to_every_replica() -> None:
    c = Cluster(config=OPTIMISTIC, flaws=RaftFlaws(txn_no_read_validation=True))
    c.elect("n1")
    _txn(c, "n1", [["r", "x", None], ["append", "y", 7]], "c1")
    c.deliver()
    c.heartbeat("n1")
    commands = [e.command for e in c.nodes["n3"].log if e.command is not None]
    assert [cmd.op for cmd in commands] == ["txn-commit"]
    snapshot, check, status, reply, writes = commands[0].value
    assert (check, status, writes) == (("y",), "ok", (("append", "y", 7),))
    assert c.nodes["n3"].kv.snapshot() == {"y": (7,)}
