"""Real-engine verdicts on a busy machine (issue 11, section 2): the CI slice of the load
table (``bench/verdicts.py --load N`` runs all of it).  Marked ``ray``, ``broker``.

While the runs go, busy-loop processes (``bench.loadgen.BusyLoad``, as many as the machine
has CPUs) keep every CPU taken, so node processes, the driver and the broker get a fraction
of a core each: restarts, event streams and broker round trips take many times longer
than on an idle machine.  A correct twin must still be judged ``valid``, for the reason
that it is correct (its faults happened and its mechanism did the work), and its flawed
twin still ``invalid``.  One saga pair (relay crashes right after publishing, on
RabbitMQ) and one Raft pair (a voter crashed right after it votes) keep it to a few
minutes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from bench.loadgen import BusyLoad
from scenarios.spec import load

pytestmark = [pytest.mark.ray, pytest.mark.broker, pytest.mark.usefixtures("ray_local")]


@pytest.fixture
def busy() -> Iterator[BusyLoad]:
    with BusyLoad(os.cpu_count() or 2) as b:
        yield b


FLAW_TRIES = 3
"""Under load a flaw bites when the timing lets it, so a flawed twin is run at up to this
many seeds and one run must catch it.  A correct twin gets no such slack: under load its
run must still be valid (a false alarm is the bug these tests are here for)."""


def _run(name: str, seed: int | None = None, **options: Any) -> Any:
    from cluster.runtime.launch import RayLauncher, RayOptions
    from scenarios.runner import run_scenario

    sc = load(name) if seed is None else load(name).with_overrides(seed=seed)
    return run_scenario(sc, RayLauncher(RayOptions(**options)))


def _caught(name: str, **options: Any) -> Any:
    """The first of up to :data:`FLAW_TRIES` runs (the catalog seed, then the next ones) that
    is invalid, or the last."""
    first = load(name).seed
    for k in range(FLAW_TRIES):
        out = _run(name, first + k, **options)
        if out.verdict == "invalid":
            break
    return out


def _explain(out: Any) -> list[Any]:
    return [(r["checker"], r["verdict"], r["explanation"][:3]) for r in out.results]


def test_outbox_relay_crash_pair_under_load(rabbit: Any, busy: BusyLoad) -> None:
    correct = _run("outbox-relay-crash-correct", amqp_url=rabbit.url)
    assert correct.verdict == "valid", _explain(correct)
    assert any(r.get("kind") == "crash" for r in correct.trace), "the relay crash never happened"
    assert correct.stats["settle_calm"], correct.stats
    flawed = _caught("outbox-relay-crash", amqp_url=rabbit.url)
    assert flawed.verdict == "invalid", _explain(flawed)


def test_raft_lost_vote_correct_twin_under_load(busy: BusyLoad) -> None:
    correct = _run("raft-lost-vote-real-correct")
    assert correct.verdict == "valid", _explain(correct)


@pytest.mark.xfail(strict=False, reason=(
    "known gap (issue 11): the lost vote needs a second candidate timed against the voter's "
    "restart, and with every CPU busy that window is often missed at all three seeds; a miss "
    "is a lesson that does not bite, never a false alarm (the correct twin's test is strict)"))
def test_raft_lost_vote_flaw_is_caught_under_load(busy: BusyLoad) -> None:
    flawed = _caught("raft-lost-vote-real")
    assert flawed.verdict == "invalid", _explain(flawed)
