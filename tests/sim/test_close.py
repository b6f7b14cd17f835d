"""A finished simulated run is freed by reference counting alone.

A long ``explore`` runs thousands of simulations in one process, and nearly all of its time
is inside a run, where full garbage collections wait (:mod:`cluster.sim.gcpolicy`).  A run
whose world stayed one big reference cycle -- trace, history and every node's log -- waited
for the next full collection, and the process grew by tens of MB a second.  These tests
run with the cycle collector switched off: whatever is freed here is freed by reference
counting, the moment the last user lets go.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from analysis.log_history import gc_paused
from cluster.sim.session import SimLauncher
from scenarios.runner import execute
from scenarios.spec import for_engine, load


@pytest.fixture
def no_cycle_collector() -> Iterator[None]:
    gc.collect()
    with gc_paused():
        yield


@pytest.mark.parametrize("name", ["raft-healthy-random", "raft-leader-partition", "quorum-healthy-random"])
def test_a_finished_run_is_freed_without_the_cycle_collector(name: str, no_cycle_collector: None) -> None:
    sc = for_engine(load(name).with_overrides(duration_ms=3000), "sim")
    done = execute(sc, SimLauncher(trace_messages=True))
    sim = done.session.sim  # type: ignore[attr-defined]
    assert len(sim.trace) > 100 and sim.history  # it ran, and what it produced stays readable
    world = weakref.ref(sim)
    del sim, done
    assert world() is None


def test_a_closed_simulation_cannot_run_on(no_cycle_collector: None) -> None:
    sc = for_engine(load("raft-healthy-random").with_overrides(duration_ms=500), "sim")
    done = execute(sc, SimLauncher(trace_messages=False))
    sim = done.session.sim  # type: ignore[attr-defined]
    assert sim.nodes and sim.now_ms() == 500
    with pytest.raises(RuntimeError, match="closed"):
        sim.run(100)


def test_fault_schedules_hold_the_simulation_weakly(no_cycle_collector: None) -> None:
    """A schedule's self-rescheduling callback holds the engine it was given; that engine
    is a weak proxy, so the callback's own cycle keeps only itself alive."""
    sc = for_engine(load("raft-healthy-random").with_overrides(duration_ms=1000), "sim")
    done = execute(sc, SimLauncher(trace_messages=False))
    engine = done.session.engine
    assert engine.node_ids() == done.session.sim.node_ids()  # type: ignore[attr-defined]
    del done
    with pytest.raises(ReferenceError):
        engine.node_ids()


def test_a_fault_ledger_lives_and_dies_with_its_simulation(no_cycle_collector: None) -> None:
    """The ledger that lets overlapping faults share a link is the engine's own, reached
    through the proxy or not.  Kept in a table under the proxy's ``id``, it outlived its run,
    and the next run's proxy, given the same ``id``, inherited a partition still counted as
    held: its trace changed with the tests that ran before it."""
    from faults.base import ledger_for

    sc = for_engine(load("raft-leader-partition").with_overrides(duration_ms=1000), "sim")
    done = execute(sc, SimLauncher(trace_messages=False))
    ledger = ledger_for(done.session.engine)
    assert ledger_for(done.session.sim) is ledger  # type: ignore[attr-defined]
    ledger.acquire(("cut", "n1", "n2"))
    held = weakref.ref(ledger)
    del ledger, done
    assert held() is None
