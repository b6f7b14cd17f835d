"""Raft safety invariants on hand-made traces: each violation found, stale-term leaders allowed."""

from __future__ import annotations

from typing import Any

from analysis.raft_safety import check_trace


def role(t: int, node: str, term: int) -> dict[str, Any]:
    return {"t": t, "kind": "role", "node": node, "role": "leader", "term": term}


def test_clean_trace_is_valid() -> None:
    tr = [
        role(10, "n1", 1),
        {"t": 20, "kind": "commit", "node": "n1", "index": 1, "term": 1},
        {"t": 20, "kind": "apply", "node": "n1", "index": 1, "term": 1, "command": {"k": 1}},
        {"t": 25, "kind": "apply", "node": "n2", "index": 1, "term": 1, "command": {"k": 1}},
        {"t": 90, "kind": "leader-log", "node": "n2", "term": 2, "terms": [1]},
        role(90, "n2", 2),
        {"t": 100, "kind": "final-log", "node": "n1", "terms": [1]},
        {"t": 100, "kind": "final-log", "node": "n2", "terms": [1, 2]},
    ]
    r = check_trace(tr)
    assert r["verdict"] == "valid", r


def test_two_leaders_in_one_term() -> None:
    tr = [role(10, "n1", 3), {"t": 12, "kind": "fault-start", "id": 1, "description": "isolated n1"}, role(15, "n2", 3)]
    r = check_trace(tr)
    assert r["verdict"] == "invalid"
    v = r["violations"][0]
    assert v["invariant"] == "election-safety" and v["nodes"] == ["n1", "n2"]
    assert v["faults_active"] == ["isolated n1"]


def test_two_leaders_names_the_node_that_voted_twice() -> None:
    tr = [
        {"t": 5, "kind": "vote", "node": "n3", "term": 4, "candidate": "n1"},
        {"t": 6, "kind": "crash", "node": "n3"},
        {"t": 9, "kind": "vote", "node": "n3", "term": 4, "candidate": "n2"},
        role(10, "n1", 4),
        role(11, "n2", 4),
    ]
    text = check_trace(tr)["violations"][0]["text"]
    assert "n3 voted for n1 at 5 ms and for n2 at 9 ms, crashing at 6 ms in between" in text


def test_different_entries_applied_at_one_index() -> None:
    tr = [
        {"t": 1, "kind": "apply", "node": "n1", "index": 4, "term": 2, "command": {"k": 1}},
        {"t": 2, "kind": "apply", "node": "n3", "index": 4, "term": 3, "command": {"k": 2}},
    ]
    assert check_trace(tr)["violations"][0]["invariant"] == "state-machine-safety"


def test_applied_commands_compare_as_canonical_json() -> None:
    """Same term, and commands that differ only in key order (or list vs tuple) are the same
    entry; a value of another JSON type (1 vs true vs 1.0) is a different entry."""

    def apply(t: int, node: str, command: Any) -> dict[str, Any]:
        return {"t": t, "kind": "apply", "node": node, "index": 1, "term": 1, "command": command}

    same = [apply(1, "n1", {"k": "x", "v": [1, 2]}), apply(2, "n2", {"v": (1, 2), "k": "x"})]
    assert check_trace(same)["verdict"] == "valid"
    for other in (True, 1.0):
        tr = [apply(1, "n1", {"k": "x", "v": 1}), apply(2, "n2", {"k": "x", "v": other})]
        v = check_trace(tr)["violations"][0]
        assert v["invariant"] == "state-machine-safety"
        assert '{"k": "x", "v": 1}' in v["text"]


def test_later_leader_missing_committed_entry() -> None:
    tr = [
        {"t": 1, "kind": "commit", "node": "n1", "index": 2, "term": 2},
        {"t": 1, "kind": "apply", "node": "n1", "index": 1, "term": 2, "command": None},
        {"t": 1, "kind": "apply", "node": "n1", "index": 2, "term": 2, "command": {"k": 1}},
        {"t": 5, "kind": "leader-log", "node": "n4", "term": 3, "terms": [2]},
    ]
    v = check_trace(tr)["violations"][0]
    assert v["invariant"] == "leader-completeness" and v["index"] == 2


def test_stale_older_term_leader_is_not_a_violation() -> None:
    # n5 was paused as a candidate of term 1 and wins term 1 late, after term 2 committed
    tr = [
        {"t": 1, "kind": "commit", "node": "n1", "index": 1, "term": 2},
        {"t": 1, "kind": "apply", "node": "n1", "index": 1, "term": 2, "command": None},
        {"t": 9, "kind": "leader-log", "node": "n5", "term": 1, "terms": []},
        role(9, "n5", 1),
    ]
    assert check_trace(tr)["verdict"] == "valid"


def test_logs_that_disagree_before_a_matching_entry() -> None:
    tr = [
        {"t": 1, "kind": "final-log", "node": "n1", "terms": [1, 1, 2]},
        {"t": 1, "kind": "final-log", "node": "n2", "terms": [1, 2, 2]},
    ]
    assert check_trace(tr)["violations"][0]["invariant"] == "log-matching"
