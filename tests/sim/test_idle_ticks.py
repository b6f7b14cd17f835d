"""Skipping idle ticks changes nothing a run produces.

A core's ``next_wakeup`` promises that a tick below it only notes the reading; the
simulator then hands the core (a node's, or a client's) only the latest such reading,
before its next input.  These
runs are compared byte for byte with the same runs handing every core every grid tick
(``skip_idle_ticks=False``), under the faults that move a node's clock or stop its ticks
(skew, rate, pause, crash) and with the timers a leader adds (check-quorum, leases).
"""

from __future__ import annotations

import functools
import random
from typing import Any

import pytest

import cluster.sim.session as session
from cluster.core.raft import RaftConfig, RaftNode
from cluster.sim.world import Simulation
from scenarios.runner import simulate
from scenarios.spec import load


def _run(sc: Any, monkeypatch: pytest.MonkeyPatch, skip: bool) -> tuple[str, str, int]:
    with monkeypatch.context() as m:
        m.setattr(session, "Simulation", functools.partial(Simulation, skip_idle_ticks=skip))
        sim, _ = simulate(sc, trace_messages=True)
    return sim.trace_jsonl(), sim.history_jsonl(), len(sim.history)


@pytest.mark.parametrize(
    ("name", "config"),
    [
        ("raft-healthy-random", {}),
        ("raft-healthy-random", {"check_quorum": True, "prevote": True}),
        ("raft-lease-skew-correct", {}),
        ("raft-leader-pause", {"read_mode": "lease", "check_quorum": True}),
        ("quorum-healthy-random", {}),
    ],
)
def test_skipping_idle_ticks_gives_the_same_run(name: str, config: dict[str, Any],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    sc = load(name)
    sc = sc.with_overrides(duration_ms=min(sc.duration_ms, 5000), config={**sc.config, **config})
    skipped = _run(sc, monkeypatch, skip=True)
    every = _run(sc, monkeypatch, skip=False)
    assert skipped[2] > 0  # the run did something
    assert skipped[0] == every[0]
    assert skipped[1] == every[1]




def test_raft_next_wakeup_is_the_reading_at_which_its_timer_fires() -> None:
    node = RaftNode("n1", ("n1", "n2", "n3"), RaftConfig(election_timeout_ms=(150, 150)), random.Random(1))
    assert node.next_wakeup() < 0  # before the first tick any reading starts the clocks
    node.tick(1000)
    assert node.next_wakeup() == 1150
    node.tick(1149)
    assert node.role == "follower" and node.ready().messages == ()
    assert node.next_wakeup() == 1150
    node.tick(1150)
    assert node.role == "candidate"
