"""``splitbrain explore --workers K``: hypothesis shards searching in parallel on Ray.

Each shard is one Ray task running the ordinary :func:`~scenarios.explore.explore` with
its own hypothesis seed (``seed + shard``, so shard 0 searches exactly what a one-process
``explore --seed SEED`` searches, and the others search elsewhere).  The shards share one
small actor, the *board*: after every run a shard reports its count there and learns
whether another shard has already found a failure.

* **The first failure cancels the rest.**  The board remembers the first shard to report
  a failing run; from then on every other shard is told to stop and ends at its next run
  boundary (its search unwinds as if its budget were spent).  A shard still busy long
  after that (a slow run) is given up on: the driver stops waiting for it and it ends with
  the Ray session (never ``ray.cancel``, which can abort the driver: see
  :mod:`cluster.runtime.pool`).
* **Shrinking happens where the failure was found.**  The finding shard goes on
  shrinking within its own budget, with its own hypothesis state, and returns the minimal
  failing scenario and its outcome; the driver saves that run as a normal results
  folder, as a one-process ``explore`` does.

The driver polls the board for progress (runs so far, searching or shrinking) so the
command line can show one status line for the whole search.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scenarios.explore import ExploreResult, explore
from scenarios.spec import Scenario, ScenarioError

__all__ = ["ShardReport", "ShardedResult", "explore_sharded", "finder"]

_STRAGGLER_S = 15.0
"""How long a shard may take to notice the stop (it finishes its current run) before the
driver gives up on it."""

_GRACE_S = 60.0
"""Beyond the budget, how long the driver waits for shards (start-up on a busy cluster,
a last slow run) before it gives up on them."""


class _Board:
    """The shards' shared state (a Ray actor): runs per shard, and who found a failure first."""

    def __init__(self) -> None:
        self.runs: dict[int, int] = {}
        self.found_by: int | None = None
        self.found_at: float | None = None
        self.started = time.monotonic()

    def report(self, shard: int, runs: int, failed: bool) -> bool:
        """Record a shard's progress; True tells it to stop (another shard found a failure)."""
        self.runs[shard] = runs
        if failed and self.found_by is None:
            self.found_by = shard
            self.found_at = time.monotonic() - self.started
        return self.found_by is not None and self.found_by != shard

    def state(self) -> dict[str, Any]:
        return {"runs": sum(self.runs.values()), "found_by": self.found_by, "found_at": self.found_at}


@dataclass(frozen=True)
class _Job:
    scenario: Scenario
    budget_s: float
    shrink_budget_s: float
    seed: int
    board: Any
    draw_workload: bool | None = None


@dataclass(frozen=True)
class ShardReport:
    """What one shard did (the finder also brings the minimal run)."""

    shard: int
    seed: int
    node: str
    runs: int
    found: bool
    stopped: bool
    elapsed_s: float
    first_found_s: float | None = None
    shrink_runs: int = 0
    result: ExploreResult | None = None
    """The shard's whole result when it found a failure (the minimal run, its sizes)."""

    def to_dict(self) -> dict[str, Any]:
        return {"shard": self.shard, "seed": self.seed, "node": self.node, "runs": self.runs, "found": self.found,
                "stopped_early": self.stopped, "elapsed_s": round(self.elapsed_s, 2),
                "first_found_s": None if self.first_found_s is None else round(self.first_found_s, 2),
                "shrink_runs": self.shrink_runs}


def _shard(job: _Job, shard: int) -> ShardReport:
    """The task body: one hypothesis search, reporting to the board after every run."""
    import ray

    from cluster.runtime.pool import here
    from scenarios.plugins import load_plugins

    load_plugins(job.scenario.plugins)  # a worker process registers the plugins the scenario names
    told_to_stop = [False]

    def on_run(n: int, _elapsed: float, bad: bool) -> None:
        told_to_stop[0] = bool(ray.get(job.board.report.remote(shard, n, bad)))

    res: ExploreResult = explore(job.scenario, budget_s=job.budget_s, shrink_budget_s=job.shrink_budget_s,
                                 seed=job.seed + shard, on_run=on_run, draw_workload=job.draw_workload,
                                 should_stop=lambda: told_to_stop[0])
    ray.get(job.board.report.remote(shard, res.runs, False))
    return ShardReport(shard, job.seed + shard, here(), res.runs, res.found, told_to_stop[0], res.elapsed_s,
                       res.first_found_s, res.shrink_runs, res if res.found else None)


@dataclass
class ShardedResult:
    """A parallel search, in the shape of a one-process :class:`ExploreResult` plus its shards."""

    result: ExploreResult
    workers: int
    shards: list[ShardReport] = field(default_factory=list)
    found_by: int | None = None
    cancelled: list[int] = field(default_factory=list)


Status = Callable[[int, float, bool, int], None]
"""``status(runs so far, elapsed s, found, shards)`` while the search runs."""


def explore_sharded(sc: Scenario, *, workers: int | None = None, budget_s: float = 60.0,
                    shrink_budget_s: float = 60.0, seed: int = 0, address: str | None = None,
                    status: Status | None = None, draw_workload: bool | None = None) -> ShardedResult:
    """Search with ``workers`` hypothesis shards on Ray (local unless ``address``; by
    default one shard per CPU Ray sees)."""
    import ray

    from cluster.runtime.launch import ray_connection
    from cluster.runtime.pool import cluster_cpus, cpu_share

    if workers is not None and workers < 1:
        raise ScenarioError(f"--workers {workers}: need at least 1 worker")
    t0 = time.monotonic()
    with ray_connection(address, num_cpus=max(os.cpu_count() or 1, workers or 0)):
        workers = workers or max(1, int(cluster_cpus()))
        board: Any = ray.remote(num_cpus=0)(_Board).remote()
        job = _Job(sc, budget_s, shrink_budget_s, seed, board, draw_workload)
        task = ray.remote(_shard).options(num_cpus=cpu_share(workers), max_retries=0)
        pending = {task.remote(job, i): i for i in range(workers)}
        reports: list[ShardReport] = []
        cancelled: list[int] = []
        found_by: int | None = None
        found_seen: float | None = None
        hard_stop = time.monotonic() + budget_s + shrink_budget_s + _GRACE_S
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
                for ref in ready:
                    i = pending.pop(ref)
                    try:
                        reports.append(ray.get(ref))
                    except ray.exceptions.RayError:
                        cancelled.append(i)
                st: dict[str, Any] = ray.get(board.state.remote())
                if st["found_by"] is not None and found_by is None:
                    found_by, found_seen = int(st["found_by"]), time.monotonic()
                if status is not None:
                    status(int(st["runs"]), time.monotonic() - t0, found_by is not None, workers)
                now = time.monotonic()
                late = [r for r, i in pending.items()
                        if (found_seen is not None and i != found_by and now - found_seen > _STRAGGLER_S)
                        or now > hard_stop]
                for ref in late:
                    cancelled.append(pending.pop(ref))
        finally:
            ray.kill(board)
    reports.sort(key=lambda r: r.shard)
    finder = next((r for r in reports if r.found and r.result is not None), None)
    runs, elapsed = sum(r.runs for r in reports), time.monotonic() - t0
    if finder is not None and finder.result is not None:
        res = dataclasses.replace(finder.result, runs=runs, elapsed_s=elapsed)
        found_by = finder.shard
    else:
        res = ExploreResult(sc, False, runs, elapsed)
    return ShardedResult(res, workers, reports, found_by, sorted(cancelled))


def finder(result: ShardedResult) -> ShardReport | None:
    return next((r for r in result.shards if r.shard == result.found_by), None)
