"""``splitbrain sweep``: one scenario over many seeds, each seed a simulator run on Ray.

A rare bug (``raft-figure8`` fails at about one seed in 60) or a claim of no false alarm
("0 in 10,000 runs") needs thousands of runs; one core does 40 to 55 a minute.  A run is a
pure function of (scenario, seed), so the runs are independent Ray tasks
(:class:`~cluster.runtime.pool.TaskPool`): on the machine's cores with a private local
Ray, or on every CPU of a cluster joined with ``--ray-address``.

Each task runs the simulator (no per-message trace records: they cost a third more and a
campaign never reads them) and returns a small record -- verdict, the failing checker, the
violation's signature (:mod:`analysis.signature`), simulated, wall and CPU time, and the
Ray node that ran it.  A failing seed also brings back its results folder, packed
(:func:`~scenarios.campaign.pack_run`), which the driver unpacks into the campaign folder,
so it is a normal results folder wherever the task ran.

What is kept (``keep``):

* ``all``: every failing seed's results folder (the default);
* ``first``: per signature, the folder of its smallest seed, saved after the sweep by
  running that seed again (the simulator is deterministic, so it is the same run) -- a
  detection campaign over 1,000 seeds of a flawed design then keeps a handful of folders,
  not 1,000 (about 3 MB each);
* ``none``: the records only; any seed reruns with
  ``splitbrain run <campaign>/scenario.json --seed S``.

Interrupting (Ctrl-C) drops the runs in flight (they stop with the Ray session) and keeps
everything finished: the records, the folders, and a summary of the finished seeds
marked ``interrupted``.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analysis.campaign import summarize
from analysis.signature import signature
from scenarios.campaign import CampaignFolder, pack_run
from scenarios.spec import Scenario, ScenarioError

__all__ = ["KEEP", "SeedReport", "SweepPlan", "SweepResult", "expectation", "parse_seeds", "run_seed", "run_sweep"]

KEEP = ("all", "first", "none")
MAX_SEEDS = 10_000_000


def parse_seeds(text: str) -> range:
    """``N`` (seeds 1..N) or ``A..B`` (both included); a bad value is one line naming it."""
    t = text.strip()
    m = re.fullmatch(r"(-?\d+)\s*\.\.\s*(-?\d+)", t)
    if m:
        a, b = int(m.group(1)), int(m.group(2))
        if a < 0:
            raise ScenarioError(f"--seeds {text}: seeds are not negative")
        if b < a:
            raise ScenarioError(f"--seeds {text}: the range is empty (the last seed is below the first)")
        seeds = range(a, b + 1)
    elif re.fullmatch(r"-?\d+", t):
        n = int(t)
        if n < 1:
            raise ScenarioError(f"--seeds {text}: need at least 1 seed (N runs seeds 1..N; A..B runs A to B)")
        seeds = range(1, n + 1)
    else:
        raise ScenarioError(f"--seeds {text!r}: expected a count like 100 or a range like 1..100")
    if len(seeds) > MAX_SEEDS:
        raise ScenarioError(f"--seeds {text}: {len(seeds)} seeds is more than {MAX_SEEDS:,} in one campaign")
    return seeds


def expectation(base: Scenario, flaws: tuple[str, ...] | None) -> str:
    """What the design a sweep runs should give: the scenario's own ``expect`` unless the
    flags changed its flaws.  ``--no-flaws`` gives the correct design -- unless the
    scenario's mistake is its configuration, not a flaw switch (``quorum-r2w3``), which
    ``--no-flaws`` cannot undo; ``--flaw X`` gives a flawed one."""
    if flaws is None:
        return base.expect
    if flaws:
        return "invalid"
    return base.expect if not base.flaws else "valid"


@dataclass(frozen=True)
class SweepPlan:
    """What a sweep runs: the effective scenario (flaws, extra faults and time limit
    applied; its own seed is replaced by each seed), the seeds, and what to keep."""

    scenario: Scenario
    seeds: range
    expect: str
    keep: str = "all"
    extra_faults: str | None = None

    def describe(self) -> dict[str, Any]:
        return {"scenario": self.scenario.name, "system": self.scenario.system, "flaws": list(self.scenario.flaws),
                "expect": self.expect, "extra_faults": self.extra_faults, "keep": self.keep,
                "seeds": {"first": self.seeds.start, "last": self.seeds.stop - 1, "count": len(self.seeds)},
                "duration_ms": self.scenario.duration_ms, "time_limit_s": self.scenario.time_limit_s}


@dataclass(frozen=True)
class _Job:
    """What every task gets (shipped once through Ray's object store)."""

    scenario: Scenario
    pack_failing: bool


@dataclass(frozen=True)
class SeedReport:
    """One seed's result as a task returns it: a small record, and the packed results
    folder when the seed failed and its folder is kept."""

    record: dict[str, Any]
    packed: bytes | None = None


def run_seed(job: _Job, seed: int) -> SeedReport:
    """The task body: run one seed in the simulator and describe it (never raises: a run
    that raises is an ``unknown`` record with the error, not a lost seed)."""
    from cluster.runtime.pool import here
    from scenarios.plugins import load_plugins
    from scenarios.runner import run_scenario

    load_plugins(job.scenario.plugins)  # a worker process registers the plugins the scenario names
    sc = job.scenario.with_overrides(seed=seed)
    t_wall, t_cpu = time.perf_counter(), time.process_time()
    base: dict[str, Any] = {"seed": seed, "node": here(), "pid": os.getpid()}
    try:
        out = run_scenario(sc, trace_messages=False)
    except Exception as e:  # noqa: BLE001 - one seed's bug must not end the campaign; it is reported
        return SeedReport({**base, "verdict": "unknown", "checkers": [], "signature": None,
                           "error": f"{type(e).__name__}: {e}"[:500], "sim_ms": 0, "operations": 0,
                           "wall_s": round(time.perf_counter() - t_wall, 4),
                           "cpu_s": round(time.process_time() - t_cpu, 4)})
    sig = signature(out.results, out.trace)
    record = {
        **base,
        "verdict": out.verdict,
        "checkers": [r.get("checker") for r in out.results if r.get("verdict") != "valid"],
        "signature": None if sig is None else sig.to_dict(),
        "sim_ms": int(out.stats.get("simulated_ms", 0)),
        "operations": int(out.stats.get("operations", 0)),
        "stopped_by_time_limit": bool(out.stats.get("stopped_by_time_limit", False)),
        "wall_s": round(time.perf_counter() - t_wall, 4),
        "cpu_s": round(time.process_time() - t_cpu, 4),
    }
    packed = pack_run(out) if (job.pack_failing and out.verdict != "valid") else None
    return SeedReport(record, packed)


Progress = Callable[[int, int, int], None]
"""``progress(done, failed, total)``: called after every finished seed and while waiting."""


@dataclass
class SweepResult:
    folder: Path
    runs: list[dict[str, Any]]
    summary: dict[str, Any]
    interrupted: bool = False
    notes: list[str] = field(default_factory=list)


def run_sweep(plan: SweepPlan, *, workers: int | None = None, address: str | None = None,
              store: Path | None = None, progress: Progress | None = None,
              on_start: Callable[[dict[str, Any]], None] | None = None) -> SweepResult:
    """Run the plan on Ray (local unless ``address``) and keep a campaign folder.

    ``workers`` defaults to the CPUs Ray sees.  ``on_start(plan_info)`` is called once
    Ray is up and the folder exists (the CLI starts its progress bar there).
    """
    from cluster.runtime.launch import ray_connection
    from cluster.runtime.pool import TaskPool, cluster_cpus, ray_nodes

    if workers is not None and workers < 1:
        raise ScenarioError(f"--workers {workers}: need at least 1 worker")
    local_cpus = max(os.cpu_count() or 1, workers or 0)
    with ray_connection(address, num_cpus=local_cpus):
        k = workers or max(1, int(cluster_cpus()))
        info = {**plan.describe(), "workers": k, "ray_address": address or "local", "ray_nodes": ray_nodes(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        folder = CampaignFolder.create(plan.scenario, info, store=store)
        if on_start is not None:
            on_start({**info, "folder": str(folder.path)})
        pool: TaskPool[int] = TaskPool(run_seed, workers=k, shared=_Job(plan.scenario, plan.keep == "all"))
        info["cpus_per_task"] = pool.cpus_per_task
        runs: list[dict[str, Any]] = []
        failed = 0
        total = len(plan.seeds)
        interrupted = False
        t0 = time.perf_counter()

        def tick() -> None:
            if progress is not None:
                progress(len(runs), failed, total)

        try:
            for done in pool.run(plan.seeds, on_idle=tick):
                report = done.value if isinstance(done.value, SeedReport) else None
                if report is None:
                    record: dict[str, Any] = {"seed": done.item, "verdict": "unknown", "checkers": [],
                                              "signature": None, "error": done.error or "no result", "node": None,
                                              "sim_ms": 0, "wall_s": 0.0, "cpu_s": 0.0, "operations": 0}
                    runs.append(folder.add(record))
                else:
                    runs.append(folder.add(report.record, report.packed))
                if runs[-1]["verdict"] != "valid":
                    failed += 1
                tick()
        except KeyboardInterrupt:
            interrupted = True
        finally:
            pool.abandon()
        wall = time.perf_counter() - t0
        notes: list[str] = []
        if plan.keep == "first" and not interrupted:
            notes += _save_first_of_each(plan, folder, runs, k)
        runs.sort(key=lambda r: int(r["seed"]))
        summary = summarize(runs, expect=plan.expect, planned=total, interrupted=interrupted, wall_s=wall, workers=k)
        summary["scenario"] = plan.scenario.name
        summary["flaws"] = list(plan.scenario.flaws)
        summary["extra_faults"] = plan.extra_faults
        summary["folder"] = str(folder.path)
        summary["rerun"] = f"splitbrain run {folder.path / 'scenario.json'} --seed SEED"
        info["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        folder.finish(runs, summary, info)
    return SweepResult(folder.path, runs, summary, interrupted, notes)


def _save_first_of_each(plan: SweepPlan, folder: CampaignFolder, runs: list[dict[str, Any]],
                        workers: int) -> list[str]:
    """``keep = first``: run the smallest seed of each signature again and keep its folder."""
    from cluster.runtime.pool import TaskPool

    first: dict[str, dict[str, Any]] = {}
    for r in sorted(runs, key=lambda r: int(r["seed"])):
        sig = r.get("signature")
        if sig and sig["text"] not in first:
            first[sig["text"]] = r
    if not first:
        return []
    by_seed = {int(r["seed"]): r for r in first.values()}
    pool: TaskPool[int] = TaskPool(run_seed, workers=min(workers, len(by_seed)), shared=_Job(plan.scenario, True))
    notes = []
    for done in pool.run(sorted(by_seed)):
        report = done.value if isinstance(done.value, SeedReport) else None
        if report is None or report.packed is None:
            notes.append(f"seed {done.item}: could not be saved again ({done.error or 'it passed this time'})")
            continue
        by_seed[done.item]["dir"] = folder.set_dir(done.item, report.packed)
    return notes
