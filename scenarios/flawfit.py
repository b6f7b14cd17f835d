"""Does a flaw apply to this scenario?  Flaws that cannot bite must not be silent.

Every system's flaws are switches on its core, but some only matter under some
configurations: ``lease_ignores_clock_skew`` changes how long a lease lasts, so on a
``read_index`` cluster (no leases at all) it does nothing, and the run passes -- a learner
who asked for the flaw would conclude the flaw is harmless.  Each :class:`~scenarios.systems.System`
may declare ``inert_flaw(flaw, config, flaws)``: the reason ``flaw`` has no effect under
``config`` (given every flaw switched on, since one flaw can shadow another), or None.

The command line calls, before running a scenario::

    flaws = flaw_flags(no_flaws=args.no_flaws, flaws=args.flaw)   # ScenarioError -> exit 3
    sc = effective(sc, seed=..., flaws=flaws, ...)
    for notice in inert_flaws(sc):
        sys.stderr.write(notice.line() + "\\n")

Scenarios stay data; the run is not refused (a learner may want to see the flaw do
nothing), it is only announced.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from scenarios.spec import Scenario, ScenarioError
from scenarios.systems import build_config, get_system


@dataclass(frozen=True)
class InertFlaw:
    """A flaw switched on in a scenario whose configuration gives it nothing to change."""

    scenario: str
    flaw: str
    reason: str

    def line(self) -> str:
        """One line for stderr."""
        return f"splitbrain: warning: flaw {self.flaw} has no effect in {self.scenario}: {self.reason}"


def inert_flaws(sc: Scenario) -> list[InertFlaw]:
    """The scenario's flaws that cannot change anything, with the reason for each."""
    system = get_system(sc.system)
    rule = system.inert_flaw
    if rule is None or not sc.flaws:
        return []
    try:
        config = build_config(sc.system, sc.config)
    except (TypeError, ValueError) as e:
        raise ScenarioError(f"{sc.name}: {e}") from None
    out = []
    for flaw in sc.flaws:
        reason = rule(flaw, config, tuple(sc.flaws))
        if reason:
            out.append(InertFlaw(sc.name, flaw, reason))
    return out


def flaw_flags(*, no_flaws: bool, flaws: Sequence[str] | None) -> tuple[str, ...] | None:
    """The flaws a command line asks for: None keeps the scenario's, ``()`` is the correct design.

    ``--no-flaws`` together with ``--flaw X`` contradicts itself; silently dropping X would run
    a design the user did not ask for, so it is a usage error.
    """
    if no_flaws and flaws:
        raise ScenarioError(
            f"--no-flaws runs the correct design, but --flaw {' --flaw '.join(flaws)} asks for a flawed one; "
            "use one or the other"
        )
    if no_flaws:
        return ()
    return tuple(flaws) if flaws else None
