"""Config validation and the flaw catalogue."""

from __future__ import annotations

import pytest

from cluster.core.raft import RaftConfig, RaftFlaws, RaftNode
from cluster.core.types import Core, Message


def test_flaw_names_descriptions_and_from_names() -> None:
    names = RaftFlaws.names()
    assert names[0] == "vote_twice_in_term" and "no_fsync_log" in names and len(names) == 12
    for name in names:
        assert RaftFlaws.describe(name) and "\n" not in RaftFlaws.describe(name)
    flaws = RaftFlaws.from_names(["ack_before_commit", "no_persist_vote"])
    assert flaws.enabled() == ("ack_before_commit", "no_persist_vote")
    assert RaftFlaws().enabled() == ()
    with pytest.raises(ValueError, match="unknown flaw 'nope'; known: vote_twice_in_term"):
        RaftFlaws.from_names(["nope"])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"election_timeout_ms": (300, 150)},
        {"heartbeat_ms": 150},
        {"read_mode": "quorum"},
        {"max_clock_drift": 1.0},
        {"max_batch": 0},
        {"txn_mode": "snapshot"},
    ],
)
def test_bad_config_is_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        RaftConfig(**kwargs)  # type: ignore[arg-type]


def test_node_is_a_core_and_needs_itself_in_peers() -> None:
    import random

    node = RaftNode("a", ("a", "b", "c"), RaftConfig(), random.Random(0))
    assert isinstance(node, Core)
    with pytest.raises(ValueError):
        RaftNode("z", ("a", "b"), RaftConfig(), random.Random(0))
    with pytest.raises(TypeError):
        node.step(Message("x", "a"))
