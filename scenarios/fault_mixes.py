"""Named fault mixes added on top of a scenario's own schedule (``sweep --extra-faults NAME``).

A correct design must stay correct whatever else goes wrong, not only under the faults its
scenario scripts.  A *fault mix* is one random schedule item, named, so that the catalog
test that sweeps every correct scenario under random faults and a user's 10,000-seed
campaign (``splitbrain sweep NAME --no-flaws --extra-faults random``) mean the same thing
by "random faults".

``random``: on average one fault every two seconds, each lasting 600 ms on average, at most
two at once, from 200 ms until the run's calm tail: partitions
(halves, an isolated node, a ring of overlapping majorities), crashes, pauses and lossy
links.  Clock faults are left out on purpose: a clock stepped backwards stretches a lease
by design (``raft-lease-skew-correct`` teaches that), so a lease-reading correct design
would "fail" for a reason that is not a bug.

The calm tail is 500 ms, plus the system's ``settle_ms`` when its checkers judge liveness
(the event log, sagas, the pipeline).  Such a checker calls an unfinished item stuck or lost
only after ``settle_ms`` with every fault healed, and the simulator's clock stops at the
scenario's duration (:meth:`cluster.sim.session.SimSession.settle` adds no tail), so faults
that ran into the last ``settle_ms`` would leave every liveness question "not judged": a
partition stuck forever behind a poison event, or a saga that never ends, would pass.  A
correct design, in turn, must finish its work once the mix has healed, as it must after its
own faults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from scenarios.spec import Scenario, ScenarioError
from scenarios.systems import get_system

__all__ = ["FAULT_MIXES", "FaultMix", "mix_names", "with_fault_mix"]

_CALM_TAIL_MS = 500


@dataclass(frozen=True)
class FaultMix:
    """A random schedule item (see :mod:`faults.schedule`) without its ``stop``, which
    depends on the scenario's duration."""

    name: str
    summary: str
    item: Mapping[str, Any]

    def for_duration(self, duration_ms: int, settle_ms: int = 0) -> dict[str, Any]:
        """The item for a run of ``duration_ms``: faults stop before the calm tail, which
        is ``settle_ms`` longer for a system whose checkers judge liveness."""
        start = int(self.item.get("start", 0))
        stop = max(start + 1, duration_ms - _CALM_TAIL_MS - settle_ms)
        return {**dict(self.item), "stop": stop}


FAULT_MIXES: Mapping[str, FaultMix] = MappingProxyType({
    "random": FaultMix(
        "random",
        "random partitions, crashes, pauses and lossy links (no clock faults), at most 2 at once",
        MappingProxyType({"random": 0.5, "mean_duration": 600, "max_concurrent": 2, "start": 200,
                          "kinds": ["partition:halves", "partition:isolate", "partition:majorities-ring",
                                    "crash", "pause", "link"]}),
    ),
})


def mix_names() -> list[str]:
    return sorted(FAULT_MIXES)


def with_fault_mix(sc: Scenario, name: str) -> Scenario:
    """``sc`` with the named mix added after its own faults."""
    mix = FAULT_MIXES.get(name)
    if mix is None:
        raise ScenarioError(f"--extra-faults {name!r}: unknown fault mix; known: {', '.join(mix_names())}")
    item = mix.for_duration(sc.duration_ms, get_system(sc.system).settle_ms)
    item["kinds"] = list(item["kinds"])
    return sc.with_overrides(faults=(*sc.faults, item))
