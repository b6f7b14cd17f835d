"""The client protocol: redirects, dedup, the three read paths, and the client flaws."""

from __future__ import annotations

from cluster.core.raft import RaftConfig, RaftFlaws
from cluster.core.raft_messages import AppendEntries, AppendEntriesResponse, RequestVote
from cluster.core.types import ClientReply, ClientRequest
from tests.core.test_raft_harness import Cluster, frm, of


def _status(c: Cluster, req: ClientRequest) -> tuple[str, object] | None:
    r = c.reply_to(req)
    return None if r is None else (r.status, r.value)


def _committed_x(config: RaftConfig | None = None, flaws: RaftFlaws | None = None) -> Cluster:
    """n1 leads; x = 1 is committed and applied on every node."""
    c = Cluster(config=config, flaws=flaws)
    c.elect("n1")
    c.request("n1", "put", "x", 1)
    c.deliver()
    c.heartbeat("n1")
    return c


def test_follower_redirects_to_the_leader_and_a_candidate_has_no_hint() -> None:
    c = Cluster()
    c.elect("n1")
    req = c.request("n2", "put", "x", 1)
    assert c.reply_to(req) == ClientReply("n2", "c1", "c1", 1, "redirect", None, "n1")
    c.advance("n3", 1000)  # n3 becomes a candidate
    req = c.request("n3", "get", "x")
    assert c.reply_to(req) == ClientReply("n3", "c1", "c1", 2, "redirect", None, None)


def test_bad_requests_fail_definitely() -> None:
    c = Cluster()
    c.elect("n1")
    assert _status(c, c.request("n1", "delete", "x"))[0] == "fail"  # type: ignore[index]
    assert _status(c, c.request("n1", "cas", "x", 5))[0] == "fail"  # type: ignore[index]
    assert c.nodes["n1"].last_applied == 1


def test_cas_swaps_on_match_and_fails_definitely_otherwise() -> None:
    c = _committed_x()
    ok = c.request("n1", "cas", "x", (1, 2))
    bad = c.request("n1", "cas", "x", [1, 3])  # a list from a JSON client works too
    c.deliver()
    assert (_status(c, ok), _status(c, bad)) == (("ok", None), ("fail", None))
    assert c.nodes["n1"].kv.snapshot() == {"x": 2}
    assert c.events_of("ack", "n1")[-1] == {"client_id": "c1", "seq": 2, "op": "cas"}


def test_a_retried_request_is_applied_once() -> None:
    c = _committed_x()
    cas = c.request("n1", "cas", "x", (1, 2), client="c2")
    c.deliver()
    # c2's reply was lost, it retries the same seq; then c3 writes x = 9
    retry = c.request("n1", "cas", "x", (1, 2), client="c2", seq=cas.seq)
    c.deliver()
    assert _status(c, retry) == ("ok", None)  # the cached outcome, not a cas mismatch
    c.request("n1", "put", "x", 9, client="c3")
    c.deliver()
    # a very late copy of the first attempt does not overwrite c3's write
    c.request("n1", "cas", "x", (1, 2), client="c2", seq=cas.seq)
    c.deliver()
    c.heartbeat("n1")
    for n in c.nodes.values():
        assert n.kv.snapshot() == {"x": 9}
    assert len([e for e in c.events_of("apply", "n2") if e["command"]]) == 5


def test_a_retry_of_a_pending_request_shares_its_log_entry() -> None:
    c = Cluster()
    c.elect("n1")
    first = c.request("n1", "put", "x", 1)
    c.request("n1", "put", "x", 1, seq=first.seq)
    assert len(c.nodes["n1"].log) == 2
    c.deliver()
    assert [r.status for r in c.replies] == ["ok", "ok"]


def test_a_deposed_leader_answers_unknown_for_pending_writes() -> None:
    c = _committed_x()
    put = c.request("n1", "put", "x", 2)
    get = c.request("n1", "get", "x")
    c.drop()  # n1 is cut off; its entry may or may not survive
    c.advance("n2", 1000)
    c.deliver(lambda m: "n1" not in (m.src, m.dst))
    assert c.leaders() == ["n1", "n2"]  # n1 has not noticed yet
    c.heartbeat("n2")  # now it has
    assert (_status(c, put), _status(c, get)) == (("unknown", None), ("unavailable", None))
    assert c.leaders() == ["n2"]


def test_read_index_waits_for_a_heartbeat_quorum() -> None:
    c = _committed_x()
    get = c.request("n1", "get", "x")
    ready = c.readies["n1"][-1]
    assert ready.replies == () and {type(m) for m in ready.messages} == {AppendEntries}
    c.deliver_one(of(AppendEntries, dst="n2"))
    assert c.reply_to(get) is None
    c.deliver_one(of(AppendEntriesResponse, src="n2"))  # n1 + n2 is a majority
    assert _status(c, get) == ("ok", 1)
    assert c.events_of("read", "n1") == [{"mode": "read_index", "key": "x", "read_index": 2}]


def test_read_index_on_an_isolated_leader_never_answers_stale() -> None:
    c = _committed_x()
    c.drop()
    c.advance("n2", 1000)
    c.deliver(lambda m: "n1" not in (m.src, m.dst))
    c.request("n2", "put", "x", 2)
    c.deliver(lambda m: "n1" not in (m.src, m.dst))
    get = c.request("n1", "get", "x")  # n1 still believes it leads
    c.drop(frm("n1"))
    assert c.reply_to(get) is None


def test_a_new_leader_defers_reads_until_its_noop_commits() -> None:
    c = Cluster()
    c.advance("n1", 1000)
    c.deliver(lambda m: isinstance(m, RequestVote) or m.dst == "n1" and m.src != "c1")
    c.drop(lambda m: m.dst == "n1")
    assert c.nodes["n1"].role == "leader" and c.nodes["n1"].commit_index == 0
    get = c.request("n1", "get", "x")
    assert c.readies["n1"][-1].messages == ()  # nothing to confirm yet
    c.deliver()  # the no-op commits, then the read's heartbeat round completes
    assert _status(c, get) == ("ok", None)
    assert c.events_of("read", "n1") == [{"mode": "read_index", "key": "x", "read_index": 1}]


def test_log_reads_go_through_the_log() -> None:
    c = _committed_x(RaftConfig(read_mode="log"))
    get = c.request("n1", "get", "x")
    assert len(c.nodes["n1"].log) == 3 and c.reply_to(get) is None
    c.deliver()
    assert _status(c, get) == ("ok", 1)
    assert c.events_of("read", "n1") == [{"mode": "log", "key": "x", "read_index": 3}]


def test_lease_read_is_served_locally_while_the_lease_holds() -> None:
    # lease = 150 * 0.9 / 1.1 - 50 = 72.7 ms from the send time of the last acked round
    c = _committed_x(RaftConfig(read_mode="lease"))
    sent = c.clock["n1"]  # the settling heartbeat was sent (and acked) at this time
    get = c.request("n1", "get", "x")
    ready = c.readies["n1"][-1]
    assert ready.messages == () and ready.replies == (
        ClientReply("n1", "c1", "c1", get.seq, "ok", 1),
    )
    assert c.events_of("read", "n1") == [{"mode": "lease", "key": "x", "read_index": 2}]
    c.drop()
    c.tick("n1", sent + 72)
    assert c.nodes["n1"].lease_valid()
    c.tick("n1", sent + 73)
    assert not c.nodes["n1"].lease_valid()
    late = c.request("n1", "get", "x")  # falls back to a ReadIndex round
    assert c.reply_to(late) is None and c.readies["n1"][-1].messages != ()
    c.deliver()
    assert _status(c, late) == ("ok", 1) and c.nodes["n1"].lease_valid()


def test_lease_ignoring_clock_skew_lasts_a_whole_election_timeout() -> None:
    c = _committed_x(RaftConfig(read_mode="lease"), RaftFlaws(lease_ignores_clock_skew=True))
    sent = c.clock["n1"]
    c.drop()
    c.tick("n1", sent + 149)
    assert c.nodes["n1"].lease_valid()
    c.tick("n1", sent + 150)
    assert not c.nodes["n1"].lease_valid()


def test_ack_before_commit_replies_before_a_majority_has_the_entry() -> None:
    c = _committed_x(flaws=RaftFlaws(ack_before_commit=True))
    put = c.request("n1", "put", "x", 2)
    assert _status(c, put) == ("ok", None) and c.nodes["n1"].commit_index == 2
    assert c.events_of("ack", "n1")[-1] == {"client_id": "c1", "seq": 2, "op": "put"}
    # the leader is cut off; the new leader never saw the acknowledged write
    c.drop()
    c.advance("n2", 1000)
    c.deliver(lambda m: "n1" not in (m.src, m.dst))
    c.heartbeat("n2")
    assert c.nodes["n2"].kv.snapshot() == {"x": 1} and c.nodes["n1"].role == "follower"
    assert len(c.replies) == 2  # no second (unknown) reply to the acknowledged put


def test_read_from_any_node_flaw_serves_a_stale_follower_read() -> None:
    c = _committed_x(flaws=RaftFlaws(read_from_any_node=True))
    c.request("n1", "put", "x", 2)
    c.deliver()  # committed on n1; n3 learns the new commit index only later
    get = c.request("n3", "get", "x")
    assert _status(c, get) == ("ok", 1)
    assert c.events_of("read", "n3") == [{"mode": "any_node", "key": "x", "read_index": 2}]


def test_leader_reads_without_quorum_flaw_lets_a_deposed_leader_read_stale() -> None:
    c = _committed_x(flaws=RaftFlaws(leader_reads_without_quorum=True))
    c.drop()
    c.advance("n2", 1000)
    c.deliver(lambda m: "n1" not in (m.src, m.dst))
    c.request("n2", "put", "x", 2)
    c.deliver(lambda m: "n1" not in (m.src, m.dst))
    get = c.request("n1", "get", "x")
    assert _status(c, get) == ("ok", 1)  # x = 2 was already acknowledged by n2
    assert c.events_of("read", "n1")[-1]["mode"] == "leader_local"
