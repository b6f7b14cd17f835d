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

The Raft pair's race is timed from the trace (n2 campaigns once the crashed voter serves
again; n1's messages are held until n2 has asked), so however long a restart takes on the
loaded machine, the second candidate asks the restarted voter before anything else reaches
it: the flaw bites at every seed, and the correct twin is valid because its voter refused.
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
run must still be valid (a false alarm is the bug these tests are here for).  A flaw whose
race is timed from the trace bites at every seed and gets one run (``tries=1``)."""


def _run(name: str, seed: int | None = None, **options: Any) -> Any:
    from cluster.runtime.launch import RayLauncher, RayOptions
    from scenarios.runner import run_scenario

    sc = load(name) if seed is None else load(name).with_overrides(seed=seed)
    return run_scenario(sc, RayLauncher(RayOptions(**options)))


def _caught(name: str, tries: int = FLAW_TRIES, **options: Any) -> Any:
    """The first of up to ``tries`` runs (the catalog seed, then the next ones) that is
    invalid, or the last."""
    first = load(name).seed
    for k in range(tries):
        out = _run(name, first + k, **options)
        if out.verdict == "invalid":
            break
    return out


def _explain(out: Any) -> list[Any]:
    return [(r["checker"], r["verdict"], r["explanation"][:3]) for r in out.results]


def test_outbox_relay_crash_pair_under_load(rabbit: Any, busy: BusyLoad) -> None:
    """The saga pair of the issue's false alarm (a relay crashed right after publishing), on
    RabbitMQ, with every CPU busy: the correct twin is valid because its inbox did the work,
    and the flawed twin is caught for applying an effect twice."""
    correct = _run("outbox-relay-crash-correct", amqp_url=rabbit.url)
    assert correct.verdict == "valid", _explain(correct)
    assert correct.stats["settle_calm"], correct.stats
    # The run did the work its verdict rests on: relays crashed, sagas ran to their end
    # through the crashes, and an inbox threw a republished copy away.  (How many bookings
    # a client sees acknowledged is a speed, not a property.)
    assert any(r.get("kind") == "crash" for r in correct.trace), "the relay crash never happened"
    assert any(r.get("kind") == "saga-end" for r in correct.trace), "no saga ended"
    assert any(r.get("kind") == "dedup" for r in correct.trace), "no republished copy reached an inbox"
    flawed = _caught("outbox-relay-crash", amqp_url=rabbit.url)
    assert flawed.verdict == "invalid", _explain(flawed)
    idem = next(r for r in flawed.results if r["checker"] == "idempotency")
    assert idem["verdict"] == "invalid" and any("applied twice" in line for line in idem["explanation"]), idem


def _of(out: Any, kind: str, **where: Any) -> list[dict[str, Any]]:
    return [r for r in out.trace if r.get("kind") == kind and all(r.get(k) == v for k, v in where.items())]


def test_raft_lost_vote_correct_twin_under_load(busy: BusyLoad) -> None:
    """Valid because n3 refused n2, not because the race never happened: n3 voted for n1,
    crashed, served again, and only then did n2 campaign in term 1."""
    correct = _run("raft-lost-vote-real-correct")
    assert correct.verdict == "valid", _explain(correct)
    back = _of(correct, "restarted", node="n3")
    assert _of(correct, "vote", node="n3", candidate="n1", term=1) and back, "n3 never voted and came back"
    asked = _of(correct, "election", node="n2", term=1)
    assert asked and asked[0]["t"] >= back[0]["t"], (asked, back)
    assert not _of(correct, "vote", node="n3", candidate="n2", term=1)


def test_raft_lost_vote_flaw_is_caught_under_load(busy: BusyLoad) -> None:
    """At its catalog seed, no retry: timed from the trace, the flaw bit at every seed
    measured (seeds 1-5 with two busy loops at load average 23-43, and 5 more without)."""
    flawed = _caught("raft-lost-vote-real", tries=1)
    assert flawed.verdict == "invalid", _explain(flawed)
    safety = next(r for r in flawed.results if r["checker"] == "raft-safety")
    assert safety["verdict"] == "invalid" and "two leaders in term 1" in " ".join(safety["explanation"]), safety
