"""Named fault mixes added on top of a scenario's own schedule (``sweep --extra-faults NAME``).

A correct design must stay correct whatever else goes wrong, not only under the faults its
scenario scripts.  A *fault mix* is one random schedule item, named, so that the catalog
test that sweeps every correct scenario under random faults and a user's 10,000-seed
campaign (``splitbrain sweep NAME --no-flaws --extra-faults random``) mean the same thing
by "random faults".

``random``: on average one fault every two seconds, each lasting 600 ms on average, at most
two at once, from 200 ms until 500 ms before the end (so the run ends calm): partitions
(halves, an isolated node, a ring of overlapping majorities), crashes, pauses and lossy
links.  Clock faults are left out on purpose: a clock stepped backwards stretches a lease
by design (``raft-lease-skew-correct`` teaches that), so a lease-reading correct design
would "fail" for a reason that is not a bug.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from scenarios.spec import Scenario, ScenarioError

__all__ = ["FAULT_MIXES", "FaultMix", "mix_names", "with_fault_mix"]

_CALM_TAIL_MS = 500


@dataclass(frozen=True)
class FaultMix:
    """A random schedule item (see :mod:`faults.schedule`) without its ``stop``, which
    depends on the scenario's duration."""

    name: str
    summary: str
    item: Mapping[str, Any]

    def for_duration(self, duration_ms: int) -> dict[str, Any]:
        """The item for a run of ``duration_ms``: faults stop before the calm tail."""
        start = int(self.item.get("start", 0))
        stop = max(start + 1, duration_ms - _CALM_TAIL_MS)
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
    item = mix.for_duration(sc.duration_ms)
    item["kinds"] = list(item["kinds"])
    return sc.with_overrides(faults=(*sc.faults, item))
