"""``splitbrain explore``: hypothesis draws whole runs -- operations and faults -- and shrinks a failure.

Each example hypothesis draws is a complete run: a seed, per client a list of timed
operations (which operation, which key, which value; when it is due), extra faults from
the system's fault menu (timed, or triggered by a protocol moment such as "a new leader was
elected"), and which of the scenario's own faults to keep.  The simulator runs it and the
scenario's checkers judge it.  The search starts with small runs and grows them
(:attr:`Limits.growth`).  On the first violation hypothesis *shrinks* it: fewer clients,
fewer operations, fewer keys, smaller values, earlier operations, fewer and shorter
faults, smaller seeds -- as long as the same checker still fails.  Simplification passes
follow (no single operation or fault can go, values are as simple as the system's
vocabulary makes them, a triggered fault fires once, clients are numbered from 0), and the
last one cuts the simulated time to where the failure still
shows.

Why hypothesis rather than plain random search: the shrinker.  A failing run with nine
faults and six hundred operations teaches little; "two writes, one read on the old leader,
one partition" teaches the lesson.  The minimal run is a scenario with an explicit
operation script (:mod:`scenarios.script`): ``splitbrain run`` replays it byte for byte,
and a learner can read and edit it.

Searching and shrinking have separate budgets: the search stops at ``budget_s`` if nothing
failed, and shrinking gets ``shrink_budget_s`` from the moment the first failure was found.

A system without an operation vocabulary (``System.script``), or a scenario that already
has an explicit script (the user's own question), keeps its workload: then only the seed
and the faults are drawn, as ``draw_workload=False`` asks.

:func:`explore` is the library entry point: one call is one independent search, fixed by
its ``seed`` (hypothesis's own randomness), so searches can be sharded over processes.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, Phase, find, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

from analysis import trace_kinds as K
from scenarios.runner import RunOutcome, run_scenario
from scenarios.script import ScriptOp, entry_op, has_script, script_entries, script_from_history
from scenarios.spec import Scenario
from scenarios.systems import System, get_system

__all__ = [
    "Budget",
    "ExploreResult",
    "Limits",
    "RunSize",
    "explore",
    "materialize",
    "runs",
    "schedules",
]

OnRun = Callable[[int, float, bool], None]
"""``on_run(runs so far, seconds since the start, this run failed)``, after every run."""


class _BudgetSpent(Exception):
    pass


@dataclass(frozen=True)
class Limits:
    """How big a drawn run may be.  Hypothesis starts from anywhere inside these bounds
    and shrinks towards their small end."""

    ops_per_client: int = 25
    """At most this many operations per client (the scenario's ``clients`` is the most
    clients)."""
    growth: tuple[int, ...] = (3, 8)
    """The search starts with runs of at most this many operations per client, and grows
    (as QuickCheck grows its size parameter) to ``ops_per_client``: a small failing run is
    found as fast as a big one when the flaw allows it, runs faster, and shrinks in a
    fraction of the time.  Each size gets a growing share of the search budget."""
    extra_faults: int = 6
    """At most this many faults drawn from the system's menu, on top of the scenario's."""
    at_step_ms: int = 10
    """Due times are multiples of this (round numbers read better in a script)."""


@dataclass(frozen=True)
class RunSize:
    """How big a run was: what shrinking makes smaller."""

    operations: int
    """Operations invoked."""
    clients: int
    """Clients that invoked at least one operation."""
    faults: int
    """Faults applied (a triggered fault counts once per time it fired)."""
    fault_entries: int
    """Entries in the scenario's fault schedule."""
    simulated_ms: int

    @classmethod
    def of(cls, sc: Scenario, out: RunOutcome) -> RunSize:
        invokes = [e for e in out.events if e.type == "invoke"]
        slots = {int(e.process) % max(1, sc.clients) for e in invokes if isinstance(e.process, int)}
        faults = sum(1 for r in out.trace if r.get("kind") == K.FAULT_START)
        return cls(len(invokes), len(slots), faults, len(sc.faults), int(out.stats.get("simulated_ms", sc.duration_ms)))

    def key(self) -> tuple[int, int, int, int, int]:
        """Smaller is simpler: operations first (what a learner reads), then faults."""
        return (self.operations, self.faults, self.fault_entries, self.clients, self.simulated_ms)

    def to_dict(self) -> dict[str, int]:
        return {"operations": self.operations, "clients": self.clients, "faults": self.faults,
                "fault_entries": self.fault_entries, "simulated_ms": self.simulated_ms}


@dataclass
class ExploreResult:
    """What an exploration found: the first failing run and the minimal one, their sizes,
    and what the search and the shrink cost (runs and seconds)."""

    scenario: Scenario
    found: bool
    runs: int
    """Every run, searching and shrinking."""
    elapsed_s: float
    minimal: Scenario | None = None
    """The smallest failing run, as a scenario that replays it (seed, script, faults)."""
    outcome: RunOutcome | None = None
    """What the minimal run gave (wire records off; rerun it for a full trace)."""
    shrink_runs: int = 0
    first_found_s: float | None = None
    first: Scenario | None = None
    """The first failing run found, before shrinking."""
    first_size: RunSize | None = None
    minimal_size: RunSize | None = None
    failing_checker: str | None = None
    """The checker whose failure was kept while shrinking."""
    drew_workload: bool = False
    """Whether hypothesis drew the operations of the failing run (else they came from the
    scenario's own workload, and were turned into a script to shrink them)."""
    found_by: str = ""
    """Which search stage found the failure, in words."""
    shrink_s: float = 0.0
    shrink_complete: bool = False
    """Whether shrinking ran to its end (False: its budget ran out first)."""


HYPOTHESIS_SHARE = 0.75
"""Hypothesis's shrinker gets this share of the shrink budget; the simplification passes
after it (delta debugging over operations and faults, simpler values, fewer repetitions,
fewer clients, a shorter run) get the rest, so a run hypothesis could not finish shrinking still loses every
operation it can do without."""


FIXED_WORKLOAD_SHARE = 0.25
"""Over the scenario's own workload hypothesis only shrinks the seed and the faults: it gets
this share of the shrink budget, and the passes (which shrink the operations) the rest."""


def _stages(limits: Limits) -> list[Limits]:
    sizes = sorted({n for n in limits.growth if n < limits.ops_per_client} | {limits.ops_per_client})
    return [Limits(n, (), limits.extra_faults, limits.at_step_ms) for n in sizes]


# --- what hypothesis draws -----------------------------------------------------------------------


def _fault_items(system: System, sc: Scenario, limits: Limits) -> st.SearchStrategy[list[dict[str, Any]]]:
    menu = list(system.fault_menu)
    if not menu:
        return st.just([])
    # A system whose checkers judge liveness needs its last settle_ms quiet (the simulator
    # adds no tail): a timed fault starts before that window and heals by its start, or
    # every liveness question of the run would go unjudged and a stuck partition or a saga
    # that never ends could not be found.
    horizon = max(sc.duration_ms - 500 - system.settle_ms, 1000)

    def timed_item(at: int, dur: int, f: int) -> dict[str, Any]:
        if system.settle_ms:
            dur = max(100, min(dur, horizon - at))
        return {"at": at, "duration": dur, "fault": dict(menu[f])}

    timed = st.builds(
        timed_item,
        st.integers(0, horizon // 100).map(lambda x: x * 100),
        st.integers(1, 40).map(lambda x: x * 100),
        st.integers(0, len(menu) - 1),
    )
    items: st.SearchStrategy[dict[str, Any]] = timed
    if system.triggers:
        triggered = st.builds(
            lambda on, dur, f, delay: {"on": on, "duration": dur, "delay": delay, "fault": dict(menu[f])},
            st.sampled_from(system.triggers),
            st.integers(1, 40).map(lambda x: x * 100),
            st.integers(0, len(menu) - 1),
            st.integers(0, 10).map(lambda x: x * 50),
        )
        items = st.one_of(timed, triggered)
    return st.lists(items, min_size=0, max_size=limits.extra_faults)


def _keep_flags(n: int) -> st.SearchStrategy[tuple[bool, ...]]:
    """Which of the scenario's ``n`` faults to keep.  The catalog aims its faults at each
    flaw, and some flaws need all of them (a skewed clock on every node *and* a partition
    after a lease read), so three runs in four keep them all; otherwise each is kept with
    odds of three in four.  Everything shrinks towards dropping: first the "keep all",
    then each fault, so a minimal run keeps only the faults the failure needs.  The flags
    are drawn even when all are kept, so that dropping "keep all" leaves the rest of the
    drawn run as it was."""
    flags = st.tuples(*[st.integers(0, 3).map(bool) for _ in range(n)])
    return st.tuples(st.integers(0, 3).map(bool), flags).map(lambda kf: (True,) * n if kf[0] else kf[1])


def _horizon_ms(sc: Scenario, system: System) -> int:
    """Operations are due before the scenario's quiet tail (``settle_ms``), so a system
    whose checkers judge liveness still sees every operation settle."""
    return max(1000, sc.duration_ms - system.settle_ms - 500)


def _client_ops(sc: Scenario, system: System, limits: Limits) -> st.SearchStrategy[list[tuple[int, ScriptOp]]]:
    assert system.script is not None
    op = system.script.op_strategy(sc.workload)
    step = max(1, limits.at_step_ms)
    at = st.integers(0, _horizon_ms(sc, system) // step).map(lambda x: x * step)

    @st.composite
    def one_client(draw: Any) -> list[tuple[int, ScriptOp]]:
        # A count, then that many: hypothesis draws busy clients as often as idle ones
        # (a plain list would average five operations), and shrinking a count deletes the
        # operations after it.
        n = draw(st.integers(0, limits.ops_per_client))
        ops = []
        for _ in range(n):
            ops.append((draw(at), draw(op)))
        return ops

    return one_client()


def runs(sc: Scenario, *, draw_workload: bool = True, limits: Limits = Limits()) -> st.SearchStrategy[dict[str, Any]]:
    """Whole runs of ``sc`` as hypothesis data (see :func:`materialize`)."""
    system = get_system(sc.system)
    parts: dict[str, st.SearchStrategy[Any]] = {
        "seed": st.integers(0, 10_000),
        "keep": _keep_flags(len(sc.faults)),
        "faults": _fault_items(system, sc, limits),
    }
    if draw_workload:
        if system.script is None:
            raise ValueError(f"the {sc.system} system declares no operation vocabulary; explore it with "
                             "draw_workload=False")
        parts["clients"] = st.lists(_client_ops(sc, system, limits), min_size=sc.clients, max_size=sc.clients)
    return st.fixed_dictionaries(parts)


def schedules(sc: Scenario) -> st.SearchStrategy[dict[str, Any]]:
    """Seeds and fault schedules over the scenario's own workload."""
    return runs(sc, draw_workload=False)


def materialize(sc: Scenario, drawn: dict[str, Any]) -> Scenario:
    """The scenario a drawn example stands for: its seed, the kept and drawn faults, and
    (when drawn) the operation script, with clients numbered from 0 in the order drawn and
    idle ones left out.  Exactly this scenario runs, so saving it replays the run.  Its
    ``[ray]`` table is dropped: it holds the real engine's own faults and timings, which
    would replace the drawn ones there."""
    keep = drawn["keep"]
    faults = tuple(f for f, k in zip(sc.faults, keep, strict=True) if k) + tuple(drawn["faults"])
    kw: dict[str, Any] = {"seed": drawn["seed"], "faults": faults, "ray": {}}
    if "clients" in drawn:
        vocabulary = get_system(sc.system).script
        assert vocabulary is not None
        busy = [ops for ops in drawn["clients"] if ops]
        ops = [ScriptOp(at, c, op.f, op.key, op.value) for c, client in enumerate(busy) for at, op in client]
        kw["workload"] = {"script": script_entries(vocabulary.finish(ops))}
        kw["clients"] = max(1, len(busy))
    return sc.with_overrides(**kw)


# --- the search ----------------------------------------------------------------------------------


def _invalid_checkers(out: RunOutcome) -> list[str]:
    return [str(r.get("checker")) for r in out.results if r.get("verdict") == "invalid"]


@dataclass(frozen=True)
class Budget:
    """How long a search and a shrink may go on: seconds, and optionally runs.

    Seconds are wall-clock, so what they buy depends on the machine (and on what else it
    runs); a run count does not, which makes an exploration with ``search_runs`` and
    ``shrink_runs`` reproducible anywhere.  A phase ends at whichever limit comes first.
    """

    search_s: float = 60.0
    shrink_s: float = 60.0
    search_runs: int | None = None
    shrink_runs: int | None = None


class _Search:
    """One exploration's state: its budget, counters, the first failure and the best one.

    The budget is spent in phases -- each search stage, hypothesis's shrinking, then the
    simplification passes -- and :meth:`run` refuses (``_BudgetSpent``) once the current
    phase's deadline or run count is reached.
    """

    def __init__(self, sc: Scenario, budget: Budget, on_run: OnRun | None,
                 should_stop: Callable[[], bool] | None = None) -> None:
        self.sc = sc
        self.should_stop = should_stop
        self.budget = budget
        self.t0 = time.monotonic()
        self.stop_at = self.t0 + budget.search_s
        self.stop_after: int | None = budget.search_runs
        self.shrink_t0 = 0.0
        self.hypothesis_share = HYPOTHESIS_SHARE
        self.stage = ""
        self.on_run = on_run
        self.res = ExploreResult(sc, False, 0, 0.0)
        self.best: tuple[tuple[int, ...], Scenario, RunOutcome, RunSize] | None = None

    def search_phase(self, fraction: float) -> None:
        """Searching may go on until ``fraction`` of the search budget is spent."""
        b = self.budget
        self.stop_at = self.t0 + b.search_s * fraction
        self.stop_after = None if b.search_runs is None else round(b.search_runs * fraction)

    def shrink_phase(self, fraction: float) -> None:
        """Shrinking may go on until ``fraction`` of the shrink budget is spent."""
        b = self.budget
        self.stop_at = self.shrink_t0 + b.shrink_s * fraction
        found_at = self.res.runs - self.res.shrink_runs
        self.stop_after = None if b.shrink_runs is None else found_at + round(b.shrink_runs * fraction)

    def run(self, cand: Scenario) -> RunOutcome | None:
        """Run one candidate within what is left of the budget; None if it was cut short
        by its time limit (such a run is not a pure function of its seed)."""
        now = time.monotonic()
        if now > self.stop_at or (self.stop_after is not None and self.res.runs >= self.stop_after):
            raise _BudgetSpent()
        if self.should_stop is not None and self.res.first_found_s is None and self.should_stop():
            raise _BudgetSpent()  # another shard found a failure first
        cand = cand.with_overrides(time_limit_s=min(cand.time_limit_s, max(1.0, self.stop_at - now)))
        out = run_scenario(cand, trace_messages=False)
        self.res.runs += 1
        if self.res.first_found_s is not None:
            self.res.shrink_runs += 1
        return None if out.stats.get("stopped_by_time_limit") else out

    def judge(self, cand: Scenario, out: RunOutcome | None) -> bool:
        """Whether ``cand`` fails the way the search is after; keeps the best such run."""
        bad_checkers = [] if out is None else _invalid_checkers(out)
        res = self.res
        if res.failing_checker is None:
            bad = bool(bad_checkers)
            if bad and out is not None:
                self.shrink_t0 = time.monotonic()
                res.first_found_s = self.shrink_t0 - self.t0
                res.failing_checker = bad_checkers[0]
                res.first = cand
                res.first_size = RunSize.of(cand, out)
                res.found_by = self.stage
                self.shrink_phase(self.hypothesis_share)
        else:
            bad = res.failing_checker in bad_checkers
        if self.on_run is not None:
            self.on_run(res.runs, time.monotonic() - self.t0, bad)
        if bad and out is not None:
            size = RunSize.of(cand, out)
            # ties go to the newer run: hypothesis only tries runs simpler than its current
            # one, and the passes after it only try simplifications
            if self.best is None or size.key() <= self.best[0]:
                self.best = (size.key(), cand, out, size)
        return bad

    def try_run(self, cand: Scenario) -> bool:
        return self.judge(cand, self.run(cand))


def _best(search: _Search) -> Scenario:
    assert search.best is not None
    return search.best[1]


def scriptable(sc: Scenario) -> bool:
    """Whether ``sc``'s operations can be written as a script its system's vocabulary knows:
    the system has one and the workload is the system's own default kind (a Raft KV's
    transactions or bank transfers, say, are not get/put/cas operations)."""
    system = get_system(sc.system)
    if system.script is None:
        return False
    kind = sc.workload.get("kind")
    return kind is None or not system.workload_kinds or kind == system.workload_kinds[0]


def _script(sc: Scenario) -> list[dict[str, Any]]:
    return list(sc.workload["script"]) if has_script(sc.workload) else []


def _as_script(search: _Search) -> None:
    """A failing run of the scenario's own workload, as an explicit script of the operations
    it invoked (:func:`scenarios.script.script_from_history`): the same run, whose
    operations the next pass can delete one by one."""
    assert search.best is not None
    _, sc, out, _ = search.best
    if has_script(sc.workload) or not scriptable(sc):
        return
    search.try_run(sc.with_overrides(workload={"script": script_entries(script_from_history(out.events, sc.clients))}))


def _drop_operations(search: _Search) -> None:
    """Delta debugging over the best run's script: try it without each half, then each
    quarter... down to each single operation, keeping every cut after which the same checker
    still fails.  Hypothesis shrinks by its own choices and may stop at its budget; this
    makes sure the saved run has no operation it can do without."""
    if not has_script(_best(search).workload):
        return
    chunk = max(1, len(_script(_best(search))) // 2)
    while chunk >= 1:
        i = 0
        while i < len(_script(_best(search))):
            sc = _best(search)
            script = _script(sc)
            if not search.try_run(sc.with_overrides(workload={"script": script[:i] + script[i + chunk:]})):
                i += chunk
        chunk //= 2


def _drop_faults(search: _Search) -> None:
    """Try the best run without each fault entry, keeping every cut that still fails."""
    i = 0
    while i < len(_best(search).faults):
        sc = _best(search)
        if not search.try_run(sc.with_overrides(faults=sc.faults[:i] + sc.faults[i + 1:])):
            i += 1


def _simpler_values(search: _Search) -> None:
    """Try each operation in the simpler forms its system's vocabulary offers (a document's
    first word instead of forty), keeping the first that still fails."""
    vocabulary = get_system(_best(search).system).script
    if vocabulary is None:
        return
    for i in range(len(_script(_best(search)))):
        sc = _best(search)
        script = _script(sc)
        for simpler in vocabulary.simpler(entry_op(script[i])):
            changed = [*script[:i], simpler.to_dict(), *script[i + 1:]]
            if search.try_run(sc.with_overrides(workload={"script": changed})):
                break


def _fire_once(search: _Search) -> None:
    """A triggered fault that may fire several times: try letting it fire once."""
    for i in range(len(_best(search).faults)):
        sc = _best(search)
        item = sc.faults[i]
        if "on" in item and item.get("times", 1) != 1:
            search.try_run(sc.with_overrides(faults=(*sc.faults[:i], {**item, "times": 1}, *sc.faults[i + 1:])))


def _compact_clients(search: _Search) -> None:
    """Number the clients that still have operations 0, 1, 2... and drop the idle ones
    (a renumbered client is a different process, so this is a run of its own)."""
    sc = _best(search)
    script = _script(sc)
    used = sorted({int(e.get("client", 0)) for e in script})
    if used == list(range(sc.clients)) or not has_script(sc.workload):
        return
    number = {c: i for i, c in enumerate(used)}
    renumbered = [{**e, "client": number[int(e.get("client", 0))]} for e in script]
    search.try_run(sc.with_overrides(workload={"script": renumbered}, clients=max(1, len(used))))


def _trim_duration(search: _Search, step_ms: int = 100) -> None:
    """Cut the best run's simulated time to the shortest (in ``step_ms`` steps) at which
    the same checker still fails, by bisection from its last operation's due time: the
    simulator is deterministic, so a shorter run is a prefix of the longer one."""
    assert search.best is not None
    _, sc, _, _ = search.best
    lo = 0
    if has_script(sc.workload):
        lo = max((int(e.get("at", 0)) for e in sc.workload["script"]), default=0)
    lo = lo // step_ms  # shortest candidate, in steps (exclusive)
    hi = (sc.duration_ms + step_ms - 1) // step_ms  # known to fail (the best run's own length)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        cand = sc.with_overrides(duration_ms=mid * step_ms)
        if search.try_run(cand):
            hi = mid
        else:
            lo = mid


def explore(
    sc: Scenario,
    *,
    budget_s: float = 60.0,
    shrink_budget_s: float = 60.0,
    seed: int = 0,
    on_run: OnRun | None = None,
    draw_workload: bool | None = None,
    limits: Limits = Limits(),
    max_runs: int | None = None,
    max_shrink_runs: int | None = None,
    fallback: bool = True,
    should_stop: Callable[[], bool] | None = None,
) -> ExploreResult:
    """Search for a failing run of ``sc`` for up to ``budget_s`` (and ``max_runs`` runs);
    shrink the first one found for up to ``shrink_budget_s`` (and ``max_shrink_runs``) more.

    ``seed`` fixes hypothesis's own randomness: the same seed explores the same runs in the
    same order, so with run-count budgets (and seconds to spare) the result is the same on
    any machine; independent searches (shards) take different seeds.  ``draw_workload``
    (default: when the system has a vocabulary and the scenario no explicit script) has
    hypothesis draw the operations too; with ``fallback`` the last share of the search
    budget (40%) goes to the scenario's own workload, for flaws that need more operations
    than a drawn run holds (a failure found there is turned into a script and its operations
    shrunk by the passes).  ``on_run`` is called after every run.  ``should_stop`` is asked
    before every run: True ends the search as if the budget were spent (a parallel search
    stops its other shards this way once one has found a failure; see
    :mod:`scenarios.explore_shards`)."""
    if draw_workload is None:
        draw_workload = scriptable(sc) and not has_script(sc.workload)
    search = _Search(sc, Budget(budget_s, shrink_budget_s, max_runs, max_shrink_runs), on_run, should_stop)
    res = search.res

    def condition(drawn: dict[str, Any]) -> bool:
        return search.try_run(materialize(sc, drawn))

    cfg = settings(
        max_examples=100_000,
        deadline=None,
        database=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    plan: list[tuple[Limits, bool, int]] = []
    if draw_workload:
        plan = [(stage, True, share) for share, stage in enumerate(_stages(limits), 1)]
    if fallback or not draw_workload:
        plan.append((limits, False, max(1, round(sum(p[2] for p in plan) * 2 / 3))))
    total = sum(p[2] for p in plan)
    rng = random.Random(seed)
    spent = 0
    for stage, drawn, share in plan:
        spent += share
        search.search_phase(spent / total)
        search.stage = (f"drawn runs of up to {stage.ops_per_client} operations per client" if drawn
                        else "the scenario's own workload")
        # Hypothesis shrinks drawn operations itself; over the scenario's own workload it can
        # only shrink the seed and the faults, and the passes after it shrink the operations.
        search.hypothesis_share = HYPOTHESIS_SHARE if drawn else FIXED_WORKLOAD_SHARE
        try:
            find(runs(sc, draw_workload=drawn, limits=stage), condition, settings=cfg,
                 random=random.Random(rng.getrandbits(64)))
            res.shrink_complete = True
        except NoSuchExample:
            pass
        except _BudgetSpent:
            pass
        if res.first_found_s is not None:
            res.drew_workload = drawn
            break
    if search.best is not None and res.first_found_s is not None:
        search.shrink_phase(1.0)
        try:
            for simplify in (_as_script, _drop_operations, _drop_faults, _simpler_values, _fire_once,
                             _compact_clients, _trim_duration):
                simplify(search)
        except _BudgetSpent:
            res.shrink_complete = False
        res.shrink_s = time.monotonic() - search.shrink_t0
    res.elapsed_s = time.monotonic() - search.t0
    if search.best is not None:
        _, minimal, outcome, size = search.best
        res.found = True
        res.minimal = minimal.with_overrides(time_limit_s=sc.time_limit_s)
        res.outcome = outcome
        res.minimal_size = size
    return res
