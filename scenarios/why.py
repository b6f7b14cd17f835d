"""Which fault mattered, and which one change fixes it: ``splitbrain why RUN_DIR``.

``diff`` answers one "what if?" at a time; ``why`` asks all of the obvious ones for a
simulator run and tabulates the answers, so a learner does not have to guess which of five
faults to remove first.  For a failing run every candidate is one change that might be to
blame: each fault removed in turn, each switched-on flaw switched off, and (with more than
one fault) every fault removed at once -- which tells "a fault broke it" apart from "the
flaw breaks it even on a quiet network".  For a passing run the question turns round:
which flaw, switched on, would this fault schedule have caught?

A verdict at one seed is one sample: removing a fault also changes every random draw after
it, so "valid without fault 1" can be luck.  ``seeds=N`` reruns the run and every
candidate at N consecutive seeds (the run's own first) and reports how often each is
invalid, so the learner can tell a cause from a coincidence.

Every run is a fresh simulator run of this code (wire records off: only the protocol
divergence is reported, and ``diff`` shows the whole of any one candidate).  The survey is
kept beside the run it is about (``why.json`` in its results folder), and the folder's
report shows it.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analysis.anomalies import tags_of
from scenarios.changes import Change, apply_change, describe_fault_item
from scenarios.counterfactual import first_divergence, refuse_non_sim
from scenarios.results import SavedRun
from scenarios.spec import Scenario

__all__ = ["Survey", "Trial", "save", "survey"]

EVERY_FAULT = "without every fault"


@dataclass(frozen=True)
class Trial:
    """One candidate change and what the runs with it showed."""

    text: str
    """The change in words (``without fault 1 (partition ...)``)."""
    flag: str | None
    """The change as ``diff`` flags, or ``None`` when ``diff`` cannot make it in one step
    (every fault removed at once)."""
    verdicts: tuple[str, ...]
    """One verdict per seed surveyed, the run's own seed first."""
    anomalies: tuple[str, ...]
    """Anomaly words at the run's own seed."""
    divergence_ms: int | None
    """Simulated time of the first protocol event that differs from the run, at its seed
    (``None``: identical event for event)."""
    flaw: str | None = None
    """The flaw this trial flips, if it flips one."""

    @property
    def verdict(self) -> str:
        return self.verdicts[0]

    def invalid_count(self) -> int:
        return sum(v == "invalid" for v in self.verdicts)

    def to_dict(self) -> dict[str, Any]:
        return {"change": self.text, "flag": self.flag, "verdict": self.verdict, "verdicts": list(self.verdicts),
                "invalid_seeds": self.invalid_count(), "anomaly_tags": list(self.anomalies),
                "divergence_ms": self.divergence_ms}


@dataclass(frozen=True)
class Survey:
    """The run as it was and every candidate, with the conclusions drawn from them."""

    scenario: Scenario
    seeds: tuple[int, ...]
    base: Trial
    faults: tuple[Trial, ...]
    """One per fault, in the scenario's order (fault K is ``faults[K]``)."""
    every_fault: Trial | None
    flaws: tuple[Trial, ...]
    """Each flaw flipped: the run's flaws switched off (a failing run) or the system's other
    flaws switched on (a passing run)."""
    saved_verdict: str | None = None
    """The verdict the saved folder recorded; the survey is about the rerun, which differs
    from it only when the code changed since the run was saved."""

    @property
    def failing(self) -> bool:
        return self.base.verdict != "valid"

    def trials(self) -> list[Trial]:
        return [*self.faults, *([self.every_fault] if self.every_fault else []), *self.flaws]

    def mattered(self) -> list[int]:
        """Faults without which the run passes (at its own seed)."""
        return [k for k, t in enumerate(self.faults) if self.failing and t.verdict == "valid"]

    def fixes(self) -> list[Trial]:
        """One-step changes (``diff`` can make each) after which the run passes."""
        return [t for t in self.trials() if self.failing and t.flag is not None and t.verdict == "valid"]

    def caught(self) -> list[Trial]:
        """For a passing run: the flaws this fault schedule catches."""
        return [t for t in self.flaws if not self.failing and t.verdict == "invalid"]

    def conclusions(self) -> list[str]:
        """Plain sentences: what the table says."""
        n = len(self.seeds)
        out: list[str] = []
        if self.saved_verdict not in (None, self.base.verdict):
            out.append(f"the saved run was {str(self.saved_verdict).upper()} but reruns {self.base.verdict.upper()} "
                       "with this code: the survey is about the rerun")
        if not self.failing:
            caught = self.caught()
            untouched = [str(t.flaw) for t in self.flaws if t.divergence_ms is None]
            if not self.flaws:
                out.append("the run passes and its system has no other flaw to switch on")
            elif caught:
                out.append("this fault schedule catches " + ", ".join(str(t.flaw) for t in caught)
                           + f" ({len(caught)} of {len(self.flaws)} flaws switched on alone)")
            else:
                out.append(f"this fault schedule catches none of the {len(self.flaws)} flaws switched on alone: "
                           "to test them, it needs other faults")
            if untouched:
                out.append("never came into play (the run was identical event for event): " + ", ".join(untouched))
            return out
        mattered = self.mattered()
        if mattered:
            out.append("the run passes without " + _and([f"fault {k}" for k in mattered])
                       + (": that fault mattered" if len(mattered) == 1 else ": each of those mattered"))
        elif self.faults:
            out.append("removing any single fault still leaves the run failing")
        if self.every_fault is not None:
            if self.every_fault.verdict == "valid":
                if not mattered:
                    out.append("but without every fault it passes: it takes the faults together, not one alone")
            else:
                out.append("even without any fault it fails: the faults are not what breaks it; the design is")
        elif len(self.faults) == 1 and self.faults[0].verdict != "valid":
            out.append("even without its only fault it fails: the fault is not what breaks it; the design is")
        elif not self.faults:
            out.append("the run has no faults: the design breaks on a quiet network")
        for t in self.flaws:
            if t.verdict == "valid":
                out.append(f"with {t.flaw} switched off it passes: that flaw is the bug")
        fixes = self.fixes()
        if fixes:
            out.append("one-change fixes: " + ", ".join(str(t.flag) for t in fixes))
        else:
            out.append("no single change of these fixes it")
        if n > 1:
            out.append(f"counts are over seeds {self.seeds[0]}..{self.seeds[-1]}; a change that passes at only "
                       "some seeds moved the odds, it did not remove the cause")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario.name, "seeds": list(self.seeds), "failing": self.failing,
                "base": self.base.to_dict(), "faults": [t.to_dict() for t in self.faults],
                "every_fault": self.every_fault.to_dict() if self.every_fault else None,
                "flaws": [t.to_dict() for t in self.flaws], "mattered": self.mattered(),
                "fixes": [t.flag for t in self.fixes()], "caught": [t.flaw for t in self.caught()],
                "conclusions": self.conclusions()}


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _one(sc: Scenario, keep_trace: bool) -> tuple[str, list[str], list[dict[str, Any]] | None]:
    """One simulator run: its verdict, anomaly words and (when asked) protocol trace."""
    from scenarios.runner import run_scenario

    out = run_scenario(sc, trace_messages=False)
    return out.verdict, tags_of(out.results), (out.trace if keep_trace else None)


def _one_star(job: tuple[Scenario, bool]) -> tuple[str, list[str], list[dict[str, Any]] | None]:
    return _one(*job)


def survey(run: SavedRun, *, seeds: int = 1, jobs: int = 1,
           progress: Callable[[int, int], None] | None = None) -> Survey:
    """Rerun ``run`` and every candidate change at ``seeds`` consecutive seeds."""
    from scenarios.spec import ScenarioError
    from scenarios.systems import flaw_names

    refuse_non_sim(run, "why")
    if seeds < 1:
        raise ScenarioError(f"--seeds must be at least 1, got {seeds}")
    if jobs < 1:
        raise ScenarioError(f"--jobs must be at least 1, got {jobs}")
    base = run.scenario
    seed_list = tuple(base.seed + i for i in range(seeds))
    # The candidates depend on whether the run fails, so the run itself goes first.
    first = _one(base, True)
    failing = first[0] != "valid"
    candidates: list[tuple[str, str | None, Scenario, str | None]] = []
    if failing:
        for k, item in enumerate(base.faults):
            ch = Change("without-fault", fault=k)
            candidates.append((f"without fault {k} ({describe_fault_item(item)})", ch.flag(), apply_change(base, ch),
                               None))
        if len(base.faults) > 1:
            candidates.append((EVERY_FAULT, None, base.with_overrides(faults=()), None))
        flips = list(base.flaws)
    else:
        flips = [f for f in flaw_names(base.system) if f not in base.flaws]
    for f in flips:
        ch = Change("flip-flaw", flaw=f)
        candidates.append((ch.describe(base), ch.flag(), apply_change(base, ch), f))

    jobs_list: list[tuple[Scenario, bool]] = [(base.with_overrides(seed=s), False) for s in seed_list[1:]]
    for _, _, sc, _ in candidates:
        jobs_list += [(sc.with_overrides(seed=s), s == base.seed) for s in seed_list]
    total = len(jobs_list) + 1
    if progress is not None:
        progress(1, total)
    results: list[tuple[str, list[str], list[dict[str, Any]] | None]] = []
    if jobs > 1 and len(jobs_list) > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            for r in pool.map(_one_star, jobs_list):
                results.append(r)
                if progress is not None:
                    progress(len(results) + 1, total)
    else:
        for job in jobs_list:
            results.append(_one_star(job))
            if progress is not None:
                progress(len(results) + 1, total)

    base_trace = first[2] or []
    rest = iter(results)
    base_trial = Trial("the run as it was", None, (first[0], *(next(rest)[0] for _ in seed_list[1:])),
                       tuple(first[1]), None)
    trials: list[Trial] = []
    for text, flag, _, flaw in candidates:
        got = [next(rest) for _ in seed_list]
        trace = got[0][2] or []
        dv = first_divergence(base_trace, trace, protocol_only=True)
        trials.append(Trial(text, flag, tuple(g[0] for g in got), tuple(got[0][1]), None if dv is None else dv.t, flaw))
    n_faults = len(base.faults) if failing else 0
    every = trials[n_faults] if failing and len(base.faults) > 1 else None
    flaw_trials = trials[n_faults + (1 if every else 0):]
    saved = run.results.get("verdict")
    return Survey(base, seed_list, base_trial, tuple(trials[:n_faults]), every, tuple(flaw_trials),
                  saved_verdict=saved if isinstance(saved, str) else None)


def save(run: SavedRun, document: dict[str, Any]) -> Path:
    """Write ``why.json`` into the run's folder (replacing an earlier survey) and render the
    folder's report again so it shows the survey; returns the report's path."""
    import json
    import os

    folder = run.dir.resolve()
    tmp = folder / ".why.json.tmp"
    tmp.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, folder / "why.json")
    from analysis.report.html import render_folder

    return render_folder(folder)
