"""Log replication, the commit rule (Figure 8), truncation, durability and restart."""

from __future__ import annotations

from collections.abc import Iterable

from cluster.core.kv import Command
from cluster.core.raft import HARD_STATE, LOG, RaftConfig, RaftFlaws
from cluster.core.raft_messages import (
    AppendEntries,
    AppendEntriesResponse,
    Entry,
    RequestVote,
    RequestVoteResponse,
)
from cluster.core.types import ClientReply, ClientRequest, Message, Splice
from tests.core.test_raft_harness import IDS3, IDS5, Cluster, image, of

NOOP1 = Entry(1, None)


def _aes(msgs: Iterable[Message]) -> list[AppendEntries]:
    return [m for m in msgs if isinstance(m, AppendEntries)]


def _responses(msgs: Iterable[Message]) -> list[AppendEntriesResponse]:
    return [m for m in msgs if isinstance(m, AppendEntriesResponse)]


def test_put_is_replicated_committed_applied_and_acknowledged() -> None:
    c = Cluster()
    c.elect("n1")
    req = c.request("n1", "put", "x", 1)
    cmd = Command("c1", 1, "put", "x", 1)
    ready = c.readies["n1"][-1]
    assert ready.persist == (Splice(LOG, 1, (Entry(1, cmd),)),)
    assert {m.dst for m in ready.messages} == {"n2", "n3"} and ready.replies == ()
    # n2 persists the entry in the same Ready that acknowledges it
    c.deliver(of(AppendEntries, dst="n2"))
    follower = c.readies["n2"][-1]
    assert follower.persist == (Splice(LOG, 1, (Entry(1, cmd),)),)
    assert follower.messages == (AppendEntriesResponse("n2", "n1", 1, True, 2, round=2),)
    c.deliver(of(AppendEntriesResponse, src="n2"))  # a majority (n1, n2) has it
    assert c.nodes["n1"].commit_index == 2
    assert c.reply_to(req) == ClientReply("n1", "c1", "c1", 1, "ok")
    assert c.events_of("ack", "n1") == [{"client_id": "c1", "seq": 1, "op": "put"}]
    assert c.events_of("apply", "n1")[-1] == {
        "index": 2,
        "term": 1,
        "command": {"client_id": "c1", "seq": 1, "op": "put", "key": "x", "value": 1},
    }
    # followers learn the commit index from the next AppendEntries
    assert c.nodes["n2"].last_applied == 1
    c.deliver()
    c.heartbeat("n1")
    for i in IDS3:
        assert c.nodes[i].commit_index == 2 and c.nodes[i].kv.snapshot() == {"x": 1}


def test_batches_respect_max_batch_and_lost_entries_are_resent_on_heartbeat() -> None:
    c = Cluster(config=RaftConfig(max_batch=2))
    c.elect("n1")
    for v in range(5):
        c.request("n1", "put", "k", v)
    c.drop()  # every AppendEntries carrying these entries is lost
    beat = c.advance("n1", 50)  # the heartbeat resends from match+1, two at a time
    assert [(m.prev_log_index, len(m.entries)) for m in _aes(beat.messages)] == [(1, 2), (1, 2)]
    c.deliver()  # each ack pulls the next batch until the followers have caught up
    c.heartbeat("n1")
    for i in IDS3:
        assert c.nodes[i].commit_index == 6 and c.nodes[i].kv.snapshot() == {"k": 4}


def test_requests_stepped_before_one_ready_share_one_append_per_follower() -> None:
    """A driver that steps everything that arrived and then drains once (the real node's
    loop) gets one AppendEntries per follower carrying every new entry, one log write and
    one sync for all of them: etcd's many proposals per Ready, and group commit."""
    c = Cluster()
    c.elect("n1")
    leader = c.nodes["n1"]
    for v in range(3):
        leader.step(ClientRequest(f"c{v}", "n1", f"c{v}", 1, "put", "x", v))
    ready = c.drain("n1")
    assert [(m.dst, m.prev_log_index, len(m.entries)) for m in _aes(ready.messages)] == [("n2", 1, 3), ("n3", 1, 3)]
    assert len(ready.persist) == 3 and ready.sync
    c.deliver()
    assert sorted(r.client_id for r in c.replies if r.status == "ok") == ["c0", "c1", "c2"]


def test_a_leader_lets_its_appends_travel_while_its_own_copy_syncs() -> None:
    """Ready.send_first: the leader's replication batch may send first; a batch that
    answers for an entry written in that same batch, a follower's ack, and a candidate's
    vote request may not (each depends on the batch's write being durable)."""
    c = Cluster()
    c.elect("n1")
    c.request("n1", "put", "x", 1)
    assert c.readies["n1"][-1].send_first
    c.deliver(of(AppendEntries, dst="n2"))
    assert c.readies["n2"][-1].persist and not c.readies["n2"][-1].send_first
    c.nodes["n1"].step(ClientRequest("c2", "n1", "c2", 1, "put", "y", 2))
    c.deliver_one(of(AppendEntriesResponse, src="n2"))  # commits x = 1 and answers it ...
    answered = c.readies["n1"][-1]
    assert answered.replies and answered.persist and answered.send_first  # ... while y syncs
    solo = Cluster(ids=("n1",))
    solo.advance("n1", 1000)
    assert solo.readies["n1"][-1].persist and not solo.readies["n1"][-1].send_first  # its term
    solo.request("n1", "put", "x", 1)
    committed_now = solo.readies["n1"][-1]
    assert committed_now.replies and not committed_now.send_first


def test_reads_stepped_before_one_ready_share_one_readindex_round() -> None:
    c = Cluster()
    c.elect("n1")
    leader = c.nodes["n1"]
    for client in ("c1", "c2", "c3"):
        leader.step(ClientRequest(client, "n1", client, 1, "get", "x", None))
    ready = c.drain("n1")
    rounds = {m.round for m in _aes(ready.messages)}
    assert len(_aes(ready.messages)) == 2 and len(rounds) == 1 and ready.replies == ()
    c.deliver()
    assert sorted(r.client_id for r in c.replies if r.status == "ok") == ["c1", "c2", "c3"]
    assert [e["mode"] for e in c.events_of("read", "n1")] == ["read_index"] * 3


def test_a_single_node_cluster_answers_a_read_in_the_batch_that_starts_its_round() -> None:
    c = Cluster(ids=("n1",))
    c.advance("n1", 1000)
    leader = c.nodes["n1"]
    assert leader.role == "leader"
    leader.step(ClientRequest("c1", "n1", "c1", 1, "get", "x", None))
    assert [r.status for r in c.drain("n1").replies] == ["ok"]


def test_consistency_check_rejects_with_a_hint() -> None:
    c = Cluster(durable={"n2": image(2, None, [NOOP1, NOOP1, NOOP1])})
    n2 = c.nodes["n2"]
    c.step(AppendEntries("n1", "n2", 2, 5, 2, (), 0))  # n2 is too short
    c.step(AppendEntries("n1", "n2", 2, 3, 2, (), 0))  # n2's entry 3 has term 1
    c.step(AppendEntries("n1", "n2", 1, 3, 1, (), 0))  # a stale leader
    assert [(m.success, m.reject_hint, m.term) for m in _responses(c.inflight)] == [
        (False, 3, 2),
        (False, 0, 2),
        (False, 0, 2),
    ]
    assert n2.log == (NOOP1,) * 3 and c.readies["n2"][-1].persist == ()


def test_conflicting_uncommitted_entries_of_an_old_term_are_truncated() -> None:
    a, b = Entry(1, Command("c1", 1, "put", "x", "a")), Entry(1, Command("c1", 2, "put", "x", "b"))
    cc = Entry(2, Command("c2", 1, "put", "x", "c"))
    c = Cluster(
        durable={
            "n1": image(2, None, [NOOP1, cc]),
            "n2": image(1, None, [NOOP1, a, b]),  # extra entries from term 1, never committed
            "n3": image(2, None, [NOOP1, cc]),
        }
    )
    c.advance("n1", 1000)
    c.deliver(of(RequestVote))
    # n2's log is longer but ends in term 1, so n1's (ending in term 2) is more up to date
    assert {m.src: m.granted for m in c.inflight if isinstance(m, RequestVoteResponse)} == {
        "n2": True,
        "n3": True,
    }
    c.deliver()
    n2 = c.nodes["n2"]
    assert n2.log == (NOOP1, cc, Entry(3, None))
    assert c.events_of("truncate", "n2") == [{"index": 2, "removed": 2, "commit_index": 0}]
    assert c.durable("n2")[LOG] == n2.log
    c.heartbeat("n1")
    assert n2.kv.snapshot() == {"x": "c"}


# --- Figure 8 of the Raft paper ------------------------------------------------------

A = Command("c1", 1, "put", "x", "A")
B = Command("c2", 1, "put", "x", "B")


def _figure8(flaws: RaftFlaws, s1_reaches_s3_in_term4: bool = False) -> Cluster:
    """Replays Figure 8 (a)-(d) with five nodes; see the paper for the pictures.

    (a)/(b) are the starting images: s1 led term 2 and put A at index 2 on s1, s2; s5 led
    term 3 and put B at index 2 on itself only.  (c) s1 is elected in term 4, appends its
    no-op at index 3 and copies A to s3, so A is on a majority (s1, s2, s3).  Then s1
    crashes before the term-4 entry reaches s3.  (d) s5 is elected in term 5 (s3, s4 and
    s5 vote: B's term 3 beats A's term 2) and overwrites index 2 with B everywhere.
    """
    c = Cluster(
        ids=IDS5,
        config=RaftConfig(max_batch=1),
        flaws=flaws,
        durable={
            "s1": image(3, None, [NOOP1, Entry(2, A)]),
            "s2": image(2, "s1", [NOOP1, Entry(2, A)]),
            "s3": image(3, "s5", [NOOP1]),
            "s4": image(3, "s5", [NOOP1]),
            "s5": image(3, "s5", [NOOP1, Entry(3, B)]),
        },
    )
    # (c) s1 campaigns in term 4; s2 and s3 vote for it.
    c.advance("s1", 1000)
    c.deliver(
        lambda m: (
            isinstance(m, RequestVote | RequestVoteResponse)
            and "s1" in (m.src, m.dst)
            and {m.src, m.dst} & {"s2", "s3"} != set()
        )
    )
    c.drop(of(RequestVote))
    assert c.nodes["s1"].role == "leader" and c.nodes["s1"].term == 4
    c.deliver(lambda m: {m.src, m.dst} == {"s1", "s2"})  # s2 takes the no-op
    c.deliver_one(of(AppendEntries, dst="s3"))  # the no-op: s3 lacks index 2, rejects
    c.deliver_one(of(AppendEntriesResponse, src="s3"))  # s1 backs up and sends A
    c.deliver_one(of(AppendEntries, dst="s3"))
    c.deliver_one(of(AppendEntriesResponse, src="s3"))  # A is on s1, s2, s3
    if s1_reaches_s3_in_term4:
        c.deliver(lambda m: {m.src, m.dst} == {"s1", "s3"})
    assert c.nodes["s3"].log == (NOOP1, Entry(2, A)) + (
        (Entry(4, None),) if s1_reaches_s3_in_term4 else ()
    )
    return c


def _figure8_continue(c: Cluster) -> None:
    """(d) s1 crashes; s5 campaigns twice (term 4 is taken) and wins term 5."""
    c.crash("s1")
    c.drop()
    for _ in range(2):
        c.advance("s5", 1000)
        c.deliver()


def test_figure8_correct_rule_does_not_commit_an_old_term_entry_by_counting() -> None:
    c = _figure8(RaftFlaws())
    s1 = c.nodes["s1"]
    assert s1.match_index["s3"] == 2 and s1.match_index["s2"] == 3
    assert s1.commit_index == 0  # A is on 3 of 5 nodes, but it is from term 2
    _figure8_continue(c)
    assert c.leaders() == ["s5"] and c.nodes["s5"].term == 5
    c.heartbeat("s5")
    # A was never committed, so overwriting it is safe: every applied index 2 is B.
    applied2 = [
        (e.node, e.data["command"]["value"])
        for e in c.events
        if e.kind == "apply" and e.data["index"] == 2
    ]
    assert sorted(applied2) == [(n, "B") for n in ("s2", "s3", "s4", "s5")]


def test_figure8_flaw_commits_by_counting_and_then_loses_the_entry() -> None:
    c = _figure8(RaftFlaws(commit_old_terms_by_count=True))
    s1 = c.nodes["s1"]
    assert s1.commit_index == 2 and s1.kv.snapshot() == {"x": "A"}
    assert c.events_of("commit", "s1") == [{"index": 2, "term": 4}]
    _figure8_continue(c)
    assert c.leaders() == ["s5"]
    c.heartbeat("s5")
    # s3 held the "committed" A and had it overwritten by B
    assert {"index": 2, "removed": 1, "commit_index": 0} in c.events_of("truncate", "s3")
    applied2 = {
        (e.node, e.data["command"]["value"])
        for e in c.events
        if e.kind == "apply" and e.data["index"] == 2
    }
    assert ("s1", "A") in applied2 and ("s5", "B") in applied2  # two values committed at 2
    assert c.nodes["s5"].kv.snapshot() == {"x": "B"}


def test_figure8_e_committing_a_current_term_entry_commits_the_old_one_too() -> None:
    c = _figure8(RaftFlaws(), s1_reaches_s3_in_term4=True)
    s1 = c.nodes["s1"]
    assert s1.commit_index == 3 and s1.kv.snapshot() == {"x": "A"}
    _figure8_continue(c)
    assert c.leaders() == []  # s5 cannot win: s2 and s3 hold a term-4 entry


# --- durability ----------------------------------------------------------------------


def test_restart_rebuilds_from_durable_state_and_reapplies() -> None:
    c = Cluster()
    c.elect("n1")
    c.request("n1", "put", "x", 1)
    c.request("n1", "cas", "x", (1, 2))
    c.deliver()
    c.heartbeat("n1")
    before = c.nodes["n2"].log
    assert c.crash("n2") == 0  # everything was synced
    n2 = c.restart("n2")
    assert (n2.role, n2.term, n2.voted_for, n2.log) == ("follower", 1, "n1", before)
    assert (n2.commit_index, n2.last_applied, n2.kv.snapshot()) == (0, 0, {})
    assert c.readies["n2"][-2].events[0].data == {"role": "follower", "term": 1}
    c.heartbeat("n1")
    assert (n2.commit_index, n2.kv.snapshot()) == (3, {"x": 2})
    # a duplicate of the cas arriving after the restart is still recognised
    assert n2.kv.last_seq("c1") == 2


def test_no_fsync_log_writes_unsynced_and_loses_acknowledged_entries() -> None:
    c = Cluster(flaws=RaftFlaws(no_fsync_log=True))
    c.elect("n1")
    req = c.request("n1", "put", "x", 1)
    assert c.readies["n1"][-1].sync is False
    c.deliver(lambda m: "n3" not in (m.src, m.dst))
    assert c.reply_to(req) is not None and c.reply_to(req).status == "ok"  # type: ignore[union-attr]
    # n1 and n2 crash before the OS flushed anything: the acknowledged put is gone
    c.crash("n1")
    c.crash("n2")
    assert c.durable("n1") == {} and c.durable("n2") == {}
    for i in ("n1", "n2"):
        assert c.restart(i).log == ()


def test_synced_by_default() -> None:
    c = Cluster()
    c.elect("n1")
    c.request("n1", "put", "x", 1)
    assert all(r.sync for rs in c.readies.values() for r in rs)
    assert c.durable("n1")[HARD_STATE] == (1, "n1")
