"""One change to a scenario, and where two runs first part (the library under ``diff``)."""

from __future__ import annotations

import pytest

from scenarios.changes import Change, apply_change, describe_fault_item, parse_change
from scenarios.counterfactual import compare, describe_record, first_divergence
from scenarios.runner import run_scenario
from scenarios.spec import ScenarioError, catalog

CATALOG = catalog()
FOLLOWER = CATALOG["raft-follower-reads"]  # three timed faults, flaw read_from_any_node, seed 3


@pytest.mark.parametrize(("text", "want"), [
    ("--without-fault 2", Change("without-fault", fault=2)),
    ("--move-fault 1 --at 2500", Change("move-fault", fault=1, at_ms=2500)),
    ("--flip-flaw read_from_any_node", Change("flip-flaw", flaw="read_from_any_node")),
    ("--set config.read_mode=lease", Change("set", key="config.read_mode", value="lease")),
    ("--set workload.read_ratio=0.9", Change("set", key="workload.read_ratio", value=0.9)),
    ("--set 'config.election_timeout_ms=[150, 300]'", Change("set", key="config.election_timeout_ms", value=[150, 300])),
    ("--set nodes=3", Change("set", key="nodes", value=3)),
    ("--set client.sticky_home=false", Change("set", key="client.sticky_home", value=False)),
    ("--seed 4", Change("seed", seed=4)),
])
def test_parse_change_round_trips(text: str, want: Change) -> None:
    got = parse_change(text)
    assert got == want
    assert parse_change(got.flag()) == want


@pytest.mark.parametrize(("text", "message"), [
    ("--without-fault x", "--without-fault needs a whole number"),
    ("--move-fault 1", "expected one of"),
    ("--set foo.bar=1", "unknown key 'foo.bar' in --set"),
    ("--set config=1", "unknown key 'config' in --set"),
    ("--set config.read_mode", "--set needs KEY=VALUE"),
    ("--flip-flaw", "expected one of"),
    ("", "expected one of"),
])
def test_parse_change_errors(text: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_change(text)


def test_each_kind_of_change_applies_exactly_one_thing() -> None:
    sc = FOLLOWER
    without = apply_change(sc, Change("without-fault", fault=1))
    assert list(without.faults) == [sc.faults[0], sc.faults[2]]
    moved = apply_change(sc, Change("move-fault", fault=1, at_ms=2500))
    assert moved.faults[1]["at"] == 2500 and moved.faults[0] == sc.faults[0]
    flipped = apply_change(sc, Change("flip-flaw", flaw="read_from_any_node"))
    assert flipped.flaws == ()
    on = apply_change(flipped, Change("flip-flaw", flaw="ack_before_commit"))
    assert on.flaws == ("ack_before_commit",)
    lease = apply_change(sc, Change("set", key="config.read_mode", value="lease"))
    assert lease.config == {**sc.config, "read_mode": "lease"}
    three = apply_change(sc, Change("set", key="nodes", value=3))
    assert three.nodes == 3
    seeded = apply_change(sc, Change("seed", seed=4))
    assert seeded.seed == 4
    for changed in (without, moved, flipped, lease, three, seeded):
        assert changed.name == sc.name and changed.question == {}


@pytest.mark.parametrize(("change", "message"), [
    (Change("without-fault", fault=7), "fault 7: unknown fault index; this run has 3 faults (0-2"),
    (Change("move-fault", fault=0, at_ms=1500), "fault 0 already starts at 1500 ms"),
    (Change("move-fault", fault=0, at_ms=99_000), "must be between 0 and the run's duration"),
    (Change("flip-flaw", flaw="sloppy_quorum"), "unknown flaw 'sloppy_quorum' for system raft-kv"),
    (Change("set", key="config.read_mod", value="lease"), "unknown key 'read_mod' in config for raft-kv"),
    (Change("set", key="config.read_mode", value="psychic"), "read_mode"),
    (Change("set", key="network.delay", value=3), "unknown key 'delay' in network"),
    (Change("set", key="client.stickyhome", value=True), "client: unknown field 'stickyhome'"),
    (Change("set", key="workload.read_ratio", value=2.0), "read_ratio must be between 0 and 1"),
    (Change("set", key="workload.keys", value=2), "already has that value"),
    (Change("set", key="nodes", value=1.5), "must be a whole number"),
    (Change("seed", seed=3), "already used seed 3"),
])
def test_changes_that_do_not_apply_say_why_in_one_line(change: Change, message: str) -> None:
    with pytest.raises(ScenarioError) as e:
        apply_change(FOLLOWER, change)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_only_a_timed_fault_moves() -> None:
    sc = CATALOG["raft-ack-before-commit"]  # both faults are triggered by protocol events
    with pytest.raises(ScenarioError, match="fault 0 is triggered by a protocol event, not timed"):
        apply_change(sc, Change("move-fault", fault=0, at_ms=100))
    with pytest.raises(ScenarioError, match="no faults"):
        apply_change(CATALOG["saga-healthy-queue"], Change("without-fault", fault=0))


def test_fault_items_in_words() -> None:
    assert describe_fault_item(FOLLOWER.faults[0]) == "at 1500 ms, for 2500 ms: partition (kind=halves)"
    assert describe_fault_item(CATALOG["raft-ack-before-commit"].faults[1]).startswith(
        "on write-acked +5 ms, 10 time(s) for 300 ms: crash")
    assert describe_fault_item(CATALOG["raft-healthy-random"].faults[0]).startswith("random faults (partition:halves")


def test_first_divergence() -> None:
    a = [{"t": 1, "kind": "role", "node": "n1", "role": "leader", "term": 1},
         {"t": 5, "kind": "send", "src": "n1", "dst": "n2", "msg": "AppendEntries", "term": 1},
         {"t": 7, "kind": "read", "node": "n1", "key": "k0", "mode": "read_index"}]
    b = [a[0], {"t": 5, "kind": "send", "src": "n1", "dst": "n3", "msg": "AppendEntries", "term": 1},
         {"t": 6, "kind": "read", "node": "n1", "key": "k0", "mode": "lease"}]
    d = first_divergence(a, b)
    assert d is not None and (d.index, d.t) == (1, 5) and d.shared == a[0]
    p = first_divergence(a, b, protocol_only=True)
    assert p is not None and p.index == 1 and p.t == 6
    assert p.to_dict()["second_text"] == "n1 answers a read of k0 from its lease, without a round trip"
    assert first_divergence(a, list(a)) is None
    cut = first_divergence(a, a[:2])
    assert cut is not None and cut.second is None and cut.to_dict()["second_text"] == "(the run had ended)"


@pytest.mark.parametrize(("rec", "text"), [
    ({"kind": "vote", "node": "n3", "candidate": "n1", "term": 2}, "n3 votes for n1 in term 2"),
    ({"kind": "role", "node": "n2", "role": "leader", "term": 4}, "n2 becomes leader of term 4"),
    ({"kind": "send", "src": "c1", "dst": "n2", "msg": "ClientRequest", "op": "get", "seq": 1},
     "c1 sends ClientRequest (get, seq 1) to n2"),
    ({"kind": "drop", "src": "n1", "dst": "n2", "msg": "AppendEntries", "term": 3, "reason": "cut"},
     "AppendEntries (term 3) from n1 to n2 is dropped (cut)"),
    ({"kind": "apply", "node": "n1", "index": 4, "term": 2,
      "command": {"client_id": "c0", "seq": 2, "op": "put", "key": "k0", "value": 7}},
     "n1 applies entry 4 of term 2: put k0 = 7 (client c0 seq 2)"),
    ({"kind": "fault-start", "description": "isolated n1"}, "fault starts: isolated n1"),
    ({"kind": "crash", "node": "n4"}, "n4 crashes"),
    ({"kind": "effect", "node": "n3", "saga": "trip-0-1", "action": "charge"}, "n3: effect (action charge, saga trip-0-1)"),
])
def test_records_in_protocol_terms(rec: dict[str, object], text: str) -> None:
    assert describe_record(rec) == text


def test_compare_names_the_verdict_change_and_the_new_sentences() -> None:
    first = run_scenario(FOLLOWER, trace_messages=False)
    second = run_scenario(apply_change(FOLLOWER, Change("flip-flaw", flaw="read_from_any_node")), trace_messages=False)
    c = compare(first, second)
    assert c.verdict == ("invalid", "valid")
    assert c.anomalies == (["stale-read"], [])
    lin = next(r for r in c.checkers if r["checker"] == "linearizability")
    assert lin["verdict"] == ["invalid", "valid"] and lin["headline"][1].startswith("Linearizable")
    assert first_divergence(first.trace, second.trace) is not None
