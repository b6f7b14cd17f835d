"""Elections: who votes for whom, what is persisted first, and the election options."""

from __future__ import annotations

from cluster.core.raft import HARD_STATE, RaftConfig, RaftFlaws
from cluster.core.raft_messages import Entry, RequestVote, RequestVoteResponse
from cluster.core.types import Put
from tests.core.test_raft_harness import IDS3, Cluster, image, of, to


def test_single_node_elects_itself_and_commits_its_noop() -> None:
    c = Cluster(ids=("solo",))
    c.advance("solo", 1000)
    node = c.nodes["solo"]
    assert (node.role, node.term, node.voted_for, node.leader_id) == ("leader", 1, "solo", "solo")
    assert node.log == (Entry(1, None),) and node.commit_index == 1 == node.last_applied
    kinds = [(e.kind, e.data) for e in c.readies["solo"][-1].events]
    assert kinds == [
        ("role", {"role": "candidate", "term": 1}),
        ("election", {"term": 1, "prevote": False}),
        ("role", {"role": "leader", "term": 1}),
        ("commit", {"index": 1, "term": 1}),
        ("apply", {"index": 1, "term": 1, "command": None}),
    ]
    assert c.durable("solo")[HARD_STATE] == (1, "solo")


def test_single_node_with_prevote_still_elects_itself() -> None:
    c = Cluster(ids=("solo",), config=RaftConfig(prevote=True))
    c.advance("solo", 1000)
    assert c.nodes["solo"].role == "leader" and c.nodes["solo"].term == 1
    assert c.events_of("election") == [
        {"term": 1, "prevote": True},
        {"term": 1, "prevote": False},
    ]


def test_three_nodes_elect_one_leader_and_followers_learn_it() -> None:
    c = Cluster()
    c.elect("n1")
    assert c.leaders() == ["n1"]
    for i in IDS3:
        n = c.nodes[i]
        assert (n.term, n.leader_id, n.commit_index, n.last_applied) == (1, "n1", 1, 1)
    assert c.nodes["n2"].voted_for == "n1" and c.nodes["n3"].voted_for == "n1"
    assert c.events_of("vote") == [
        {"term": 1, "candidate": "n1"},
        {"term": 1, "candidate": "n1"},
    ]


def test_vote_is_persisted_in_the_same_ready_as_the_reply() -> None:
    c = Cluster()
    c.advance("n1", 1000)
    (req,) = c.deliver(of(RequestVote, dst="n2"))
    ready = c.readies["n2"][-1]
    assert ready.persist == (Put(HARD_STATE, (1, "n1")),) and ready.sync
    assert ready.messages == (RequestVoteResponse("n2", "n1", 1, True),)
    # the driver persists first, so storage already has it when the reply leaves
    assert c.durable("n2")[HARD_STATE] == (1, "n1")


def _stale_candidate(flaws: RaftFlaws) -> Cluster:
    """n1 holds two entries, n2 (the candidate) only one, n3 none."""
    e = Entry(1, None)
    return Cluster(
        flaws=flaws,
        durable={"n1": image(1, None, [e, e]), "n2": image(1, None, [e]), "n3": image(1, None, [])},
    )


def test_up_to_date_check_rejects_a_stale_candidate() -> None:
    c = _stale_candidate(RaftFlaws())
    c.advance("n2", 1000)
    c.deliver(of(RequestVote))
    answers = {m.src: m.granted for m in c.inflight if isinstance(m, RequestVoteResponse)}
    assert answers == {"n1": False, "n3": True}
    assert c.nodes["n1"].voted_for is None and c.nodes["n1"].term == 2


def test_skip_up_to_date_check_flaw_grants_the_stale_candidate() -> None:
    c = _stale_candidate(RaftFlaws(skip_up_to_date_check=True))
    c.advance("n2", 1000)
    c.deliver(of(RequestVote))
    answers = {m.src: m.granted for m in c.inflight if isinstance(m, RequestVoteResponse)}
    assert answers == {"n1": True, "n3": True}


def _two_candidates(flaws: RaftFlaws) -> Cluster:
    """n2 and n3 both campaign in term 1; only n1 hears them (n2 first)."""
    c = Cluster(flaws=flaws)
    c.advance("n2", 1000)
    c.advance("n3", 1000)
    c.drop(lambda m: {m.src, m.dst} == {"n2", "n3"})
    c.deliver(of(RequestVote, src="n2", dst="n1"))
    c.deliver(of(RequestVote, src="n3", dst="n1"))
    c.deliver(of(RequestVoteResponse))
    return c


def test_one_vote_per_term() -> None:
    c = _two_candidates(RaftFlaws())
    assert c.leaders() == ["n2"]
    assert c.nodes["n1"].voted_for == "n2"


def test_vote_twice_flaw_elects_two_leaders_in_one_term() -> None:
    c = _two_candidates(RaftFlaws(vote_twice_in_term=True))
    assert c.leaders() == ["n2", "n3"]
    assert c.nodes["n2"].term == c.nodes["n3"].term == 1
    assert c.events_of("vote", "n1") == [
        {"term": 1, "candidate": "n2"},
        {"term": 1, "candidate": "n3"},
    ]


def _vote_crash_vote(flaws: RaftFlaws) -> Cluster:
    """n2 votes for n1 in term 1, crashes and restarts, then n3 asks in term 1."""
    c = Cluster(flaws=flaws)
    c.advance("n1", 1000)
    c.deliver(of(RequestVote, src="n1", dst="n2"))
    c.drop()
    c.crash("n2")
    c.restart("n2")
    c.advance("n3", 1000)
    c.deliver(of(RequestVote, src="n3", dst="n2"))
    return c


def test_persisted_vote_survives_a_crash() -> None:
    c = _vote_crash_vote(RaftFlaws())
    assert c.nodes["n2"].voted_for == "n1"
    assert c.events_of("vote", "n2") == [{"term": 1, "candidate": "n1"}]


def test_no_persist_vote_flaw_forgets_the_vote_and_votes_twice() -> None:
    c = Cluster(flaws=RaftFlaws(no_persist_vote=True))
    c.advance("n1", 1000)
    c.deliver(of(RequestVote, dst="n2"))
    assert c.durable("n2")[HARD_STATE] == (1, None)  # the term is kept, the vote is not
    c = _vote_crash_vote(RaftFlaws(no_persist_vote=True))
    assert c.events_of("vote", "n2") == [
        {"term": 1, "candidate": "n1"},
        {"term": 1, "candidate": "n3"},
    ]


def _partitioned_follower(config: RaftConfig) -> Cluster:
    """n1 leads; n3 is cut off and times out five times."""
    c = Cluster(config=config)
    c.elect("n1")
    for _ in range(5):
        c.advance("n3", 1000)
        c.isolate("n3")
    return c


def test_without_prevote_a_partitioned_node_inflates_its_term_and_disrupts() -> None:
    c = _partitioned_follower(RaftConfig())
    assert c.nodes["n3"].term == 6 and c.nodes["n3"].role == "candidate"
    c.heartbeat("n1")  # heal: n3 answers the old leader with its higher term
    assert c.nodes["n1"].role == "follower" and c.nodes["n1"].term == 6


def test_prevote_keeps_a_partitioned_node_from_inflating_terms() -> None:
    c = _partitioned_follower(RaftConfig(prevote=True))
    n3 = c.nodes["n3"]
    assert (n3.term, n3.role) == (1, "precandidate")
    assert c.events_of("election", "n3") == [{"term": 2, "prevote": True}] * 5
    c.heartbeat("n1")  # heal: n3 rejoins under the same leader and term
    assert (n3.role, n3.leader_id, n3.term) == ("follower", "n1", 1)
    assert c.leaders() == ["n1"] and c.nodes["n1"].term == 1


def test_prevote_is_denied_while_a_leader_is_live_with_check_quorum() -> None:
    c = Cluster(config=RaftConfig(prevote=True, check_quorum=True))
    c.elect("n1")
    c.advance("n3", 1000)  # n3 lost the heartbeats but n2 did not
    c.drop(to("n1"))
    c.deliver(of(RequestVote, dst="n2"))
    (resp,) = [m for m in c.inflight if isinstance(m, RequestVoteResponse)]
    assert (resp.src, resp.granted, resp.prevote) == ("n2", False, True)


def test_check_quorum_makes_an_isolated_leader_step_down() -> None:
    c = Cluster(config=RaftConfig(check_quorum=True))
    c.elect("n1")
    for _ in range(4):  # 4 heartbeats = 200 ms >= election_min, nobody answers
        c.advance("n1", 50)
        c.isolate("n1")
    n1 = c.nodes["n1"]
    assert (n1.role, n1.term) == ("follower", 1)
    assert c.events_of("role", "n1")[-1] == {"role": "follower", "term": 1}


def test_without_check_quorum_an_isolated_leader_stays_leader() -> None:
    c = Cluster()
    c.elect("n1")
    for _ in range(10):
        c.advance("n1", 50)
        c.isolate("n1")
    assert c.nodes["n1"].role == "leader"


def test_lease_mode_followers_ignore_votes_while_the_leader_is_live() -> None:
    c = Cluster(config=RaftConfig(read_mode="lease"))
    c.elect("n1")
    c.advance("n3", 1000)  # n3 times out (its heartbeats were lost), campaigns in term 2
    c.drop(to("n1"))
    c.deliver(of(RequestVote, dst="n2"))
    n2 = c.nodes["n2"]
    assert (n2.term, n2.voted_for) == (1, "n1")  # not even the term moved
    # once n2 has not heard from n1 for election_min, it votes again
    c.advance("n2", 149)
    c.advance("n3", 1000)
    c.drop(to("n1"))
    c.deliver(of(RequestVote, dst="n2"))
    assert (n2.term, n2.voted_for) == (1, "n1")
    c.advance("n2", 1)
    c.advance("n3", 1000)
    c.drop(to("n1"))
    c.deliver(of(RequestVote, dst="n2"))
    assert (n2.term, n2.voted_for) == (4, "n3")


def test_a_restarted_node_in_lease_mode_waits_before_voting() -> None:
    """It may have acked a lease round just before crashing, so it must not vote for a
    rival until election_min after it is back."""
    c = Cluster(config=RaftConfig(read_mode="lease"))
    c.elect("n1")
    c.crash("n2")
    n2 = c.restart("n2")
    c.advance("n3", 1000)
    c.drop(to("n1"))
    c.deliver(of(RequestVote, dst="n2"))
    assert (n2.term, n2.voted_for) == (1, "n1")
    c.advance("n2", 150)
    c.advance("n3", 1000)
    c.drop(to("n1"))
    c.deliver(of(RequestVote, dst="n2"))
    assert (n2.term, n2.voted_for) == (3, "n3")
