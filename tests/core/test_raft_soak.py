"""A seeded random schedule (delays, loss, duplication, reordering, crashes) over five
nodes, checking Raft's safety properties on the emitted events.  Not a simulator: just
enough chaos to catch a core bug with every flaw off."""

from __future__ import annotations

import random
from typing import Any

import pytest

from cluster.core.raft import RaftConfig
from tests.core.test_raft_harness import IDS5, Cluster

CONFIGS = {
    "plain": RaftConfig(),
    "prevote+check_quorum": RaftConfig(prevote=True, check_quorum=True, max_batch=3),
    "lease": RaftConfig(read_mode="lease", prevote=True),
    "log_reads": RaftConfig(read_mode="log", max_batch=1),
}


def _soak(config: RaftConfig, seed: int, steps: int = 2500) -> Cluster:
    rng = random.Random(seed)
    c = Cluster(ids=IDS5, config=config, seed=seed)
    down: list[str] = []
    for _ in range(steps):
        roll = rng.random()
        if roll < 0.30:
            nid = rng.choice([i for i in IDS5 if i not in down])
            c.advance(nid, rng.randint(1, 40))
        elif roll < 0.75 and c.inflight:
            msg = c.inflight.pop(rng.randrange(len(c.inflight)))  # any order
            fate = rng.random()
            if fate < 0.05:
                continue  # lost
            if fate < 0.10:
                c.inflight.append(msg)  # duplicated
            c.step(msg)
        elif roll < 0.93:
            nid = rng.choice([i for i in IDS5 if i not in down])
            op = rng.choice(["get", "put", "cas"])
            value: Any = {"get": None, "put": rng.randint(0, 3)}.get(op)
            if op == "cas":
                value = (rng.randint(0, 3), rng.randint(0, 3))
            c.request(nid, op, rng.choice("xy"), value, client=f"c{rng.randint(1, 3)}")
        elif roll < 0.96 and len(down) < 2:
            nid = rng.choice([i for i in IDS5 if i not in down])
            c.crash(nid)
            down.append(nid)
        elif down:
            c.restart(down.pop(0))
    return c


def _check_safety(c: Cluster) -> None:
    leaders: dict[int, str] = {}
    applied: dict[int, tuple[int, Any]] = {}
    for e in c.events:
        if e.kind == "role" and e.data["role"] == "leader":
            term = e.data["term"]
            assert leaders.setdefault(term, e.node) == e.node, f"two leaders in term {term}"
        if e.kind == "apply":
            got = (e.data["term"], e.data["command"])
            assert applied.setdefault(e.data["index"], got) == got, f"divergent apply {e}"
    assert all(t["index"] > t["commit_index"] for t in c.events_of("truncate"))
    # every acknowledged write was committed somewhere (and so, by the above, everywhere)
    committed = {
        (cmd["client_id"], cmd["seq"])
        for cmd in (a["command"] for a in c.events_of("apply"))
        if cmd is not None
    }
    for ack in c.events_of("ack"):
        assert (ack["client_id"], ack["seq"]) in committed, f"acked but not committed: {ack}"


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_schedules_keep_raft_safe(name: str, seed: int) -> None:
    c = _soak(CONFIGS[name], seed)
    _check_safety(c)
    assert len([e for e in c.events if e.kind == "commit"]) > 10  # it made progress
