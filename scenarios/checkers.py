"""Checkers by name: each takes the scenario, the history and the trace, and returns a result.

Every result is a JSON-able dict with at least ``checker``, ``verdict`` (valid / invalid /
unknown) and ``explanation`` (plain sentences), so the terminal, the results folder and the
HTML report can show any checker the same way, and ``anomaly_tags``: words of the learner's
vocabulary (:mod:`analysis.anomalies`) naming what it found, which grade a prediction
(``splitbrain run NAME --predict invalid:stale-read``).  The runner fills in an empty list for
a checker that leaves them out and refuses a word nobody registered.  A new checker is one function plus
``@register_checker("name")``.

The built-in ones, each a thin adapter over its analysis in :mod:`analysis`:

* ``linearizability`` -- :mod:`analysis.linearizability` against the scenario's model, with
  who led and which faults were active around a counterexample;
* ``raft-safety``     -- :mod:`analysis.raft_safety`: election safety, log matching, leader
  completeness, state-machine safety;
* ``idempotency``     -- :mod:`analysis.idempotency`: per key at most once; acknowledged
  bookings applied exactly once;
* ``delivery``        -- :mod:`analysis.delivery`: outbox rows delivered and processed
  exactly once, no phantom publish, acks after processing, broker order;
* ``saga``            -- :mod:`analysis.saga_check`: every saga all-applied or fully
  compensated;
* ``pipeline``        -- :mod:`analysis.pipeline_check`: every document in the vector store
  at its latest version with the right chunks (nothing lost, stale or duplicated), no
  embedding ever overwrote a newer one, and a cost line (embeddings computed vs needed).
* ``kafka`` / ``log-consumer`` -- :mod:`analysis.log_consumer`: what consumers observed of a
  log (lost or unseen writes, duplicates, poll-skips, non-monotonic offsets).  Histories
  recorded by splitbrain's own clients record every rebalance in ``rebalance_log``, so a
  subscribed consumer's skip is always judged.
* ``isolation`` / ``elle`` -- :mod:`analysis.isolation`: the transactions of the history
  (data model ``model``: list-append or rw-register) against the scenario's
  ``consistency_model``, with the smallest cycle of each anomaly as a story;
* ``bank``            -- :mod:`analysis.bank`: every read of the balances adds up to the
  bank's total, no account overdrawn;
* ``liveness``        -- :mod:`analysis.liveness`: after the faults heal and a quiet period,
  every event committed to a log was processed or dead-lettered; otherwise the partition
  is named with where it is stuck.  Any system can use it: it reads ``broker-append`` or
  ``produced`` records (committed) and ``handled`` records (done).
* ``lost-update``     -- :mod:`analysis.lost_update`: no acknowledged write to a leaderless
  register vanishes unless a causally later write that includes it survives.
* ``fencing``         -- :mod:`analysis.fencing`: the writes a storage service accepted are
  in lock-grant order (tokens never go down), each by the holder of its token.

A checker that relies on scenario fields registers ``requires``: a function that says what
is wrong with a scenario for it (or None), so a mistake is caught when the scenario loads.

A plugin registers its own checkers the same way (``docs/extending.md``); it may not take a
built-in's name.  Lookups load installed packages' entry points once, on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from analysis.history import History

CheckerFn = Callable[[Any, History, list[dict[str, Any]], float], dict[str, Any]]
"""``(scenario, history, trace, timeout_s) -> result``: the result is a JSON-able dict with
``checker``, ``verdict`` (valid / invalid / unknown) and ``explanation`` (a list of
sentences), plus any evidence."""
Requirement = Callable[[Any], str | None]
"""``scenario -> what is wrong with it for this checker, or None``."""
_CHECKERS: dict[str, CheckerFn] = {}
_REQUIRES: dict[str, Requirement] = {}


def register_checker(name: str, requires: Requirement | None = None) -> Callable[[CheckerFn], CheckerFn]:
    """Decorator: make ``fn`` the checker called ``name``.  Refused when another function
    (from another module) holds the name: a plugin never replaces a built-in checker.
    ``requires`` says what is wrong with a scenario for this checker, checked at load."""
    from faults.registry import RegistrationError, origin

    if not isinstance(name, str) or not name.strip():
        raise RegistrationError(f"a checker needs a non-empty name, got {name!r}")

    def deco(fn: CheckerFn) -> CheckerFn:
        if not callable(fn):
            raise RegistrationError(f"checker {name!r} must be a function (scenario, history, trace, timeout_s) "
                                    f"-> result, got {type(fn).__name__}")
        existing = _CHECKERS.get(name)
        if existing is not None and existing.__module__ != getattr(fn, "__module__", None):
            raise RegistrationError(f"checker name {name!r} is already taken, {origin(existing.__module__)}; "
                                    "a plugin may not replace another checker: choose another name")
        _CHECKERS[name] = fn
        if requires is not None:
            _REQUIRES[name] = requires
        return fn

    return deco


def unregister_checker(name: str) -> None:
    """Forget a checker (tests and notebooks that define throwaway checkers use this)."""
    _CHECKERS.pop(name, None)
    _REQUIRES.pop(name, None)


def checker_problem(name: str, scenario: Any) -> str | None:
    """What is wrong with ``scenario`` for checker ``name`` (None if nothing)."""
    rule = _REQUIRES.get(name)
    return None if rule is None else rule(scenario)


def checker_names() -> tuple[str, ...]:
    _load_installed()
    return tuple(sorted(_CHECKERS))


def get_checker(name: str) -> CheckerFn:
    if name not in _CHECKERS:
        _load_installed()
    if name not in _CHECKERS:
        raise ValueError(f"unknown checker {name!r}; known: {', '.join(sorted(_CHECKERS))}")
    return _CHECKERS[name]


def _load_installed() -> None:
    from scenarios.plugins import load_installed

    load_installed()


@register_checker("linearizability")
def _linearizability(sc: Any, history: History, trace: list[dict[str, Any]], timeout_s: float) -> dict[str, Any]:
    from analysis.explain import verdict_json
    from analysis.kv_context import add_protocol_context, root_causes
    from analysis.linearizability import check
    from analysis.models import get_model

    model = get_model(sc.model)
    r = verdict_json(check(history, model, timeout_s=timeout_s), model)
    add_protocol_context(r, trace)
    root_causes(r, history, trace)
    _note_thin_history(r, history, sc)
    return r


def _note_thin_history(r: dict[str, Any], history: History, sc: Any) -> None:
    """A "valid" over a history whose operations mostly have unknown outcomes says little:
    an operation that timed out may or may not have happened, so nearly any order fits.
    Say so, and which checkers the verdict then rests on."""
    counts = history.counts()
    known, unknown = counts["ok"] + counts["fail"], counts["info"]
    if r.get("verdict") != "valid" or known >= unknown:
        return
    others = [c for c in getattr(sc, "checkers", ()) if c != "linearizability"]
    rests = f"the run's verdict rests on {', '.join(others)}" if others else "the run's verdict rests on little"
    r["thin_history"] = {"known": known, "unknown": unknown}
    r["explanation"].append(
        f"Only {known} of {known + unknown} operations ended with a known outcome ({unknown} unknown: a timeout "
        f"or a crash hid whether they took effect), so linearizability says little about this run: {rests}.")


@register_checker("raft-safety")
def _raft_safety(sc: Any, history: History, trace: list[dict[str, Any]], timeout_s: float) -> dict[str, Any]:
    from analysis.raft_safety import check_trace

    return check_trace(trace, flaws=getattr(sc, "flaws", ()))


@register_checker("idempotency")
def _idempotency(sc: Any, history: History, trace: list[dict[str, Any]], timeout_s: float) -> dict[str, Any]:
    from analysis.idempotency import check_trace

    return check_trace(trace, history)


@register_checker("delivery")
def _delivery(sc: Any, history: History, trace: list[dict[str, Any]], timeout_s: float) -> dict[str, Any]:
    from analysis.delivery import check_trace

    return check_trace(trace)


@register_checker("saga")
def _saga(sc: Any, history: History, trace: list[dict[str, Any]], timeout_s: float) -> dict[str, Any]:
    from analysis.saga_check import check_trace

    return check_trace(trace, history)


@register_checker("pipeline")
def _pipeline(sc: Any, history: History, trace: list[dict[str, Any]], timeout_s: float) -> dict[str, Any]:
    from analysis.pipeline_check import check_trace

    return check_trace(trace, history)



def _log_consumer(sc: Any, history: History, trace: list[dict[str, Any]], timeout_s: float) -> dict[str, Any]:
    from analysis.log_consumer import check

    return check(history, trace, rebalances_recorded=True)


for _name in ("kafka", "log-consumer"):
    register_checker(_name)(_log_consumer)


def _isolation_requires(sc: Any) -> str | None:
    from analysis.isolation import DATA_MODELS
    from analysis.isolation.lattice import canonical

    if sc.model not in DATA_MODELS:
        return (f"checker isolation reads transactions: model must be one of {', '.join(DATA_MODELS)} "
                f"(the data model of the workload), got {sc.model!r}")
    try:
        canonical(sc.consistency_model)
    except ValueError as e:
        return f"consistency_model: {e}"
    return None


def _isolation(sc: Any, history: History, trace: list[dict[str, Any]], timeout_s: float) -> dict[str, Any]:
    from analysis.history import HistoryError
    from analysis.isolation import check
    from analysis.isolation.txn import from_history

    try:
        txns = from_history(history, sc.model)
    except HistoryError as e:
        return {"checker": "isolation", "verdict": "unknown", "reason": str(e),
                "explanation": [f"The history cannot be read as {sc.model} transactions: {e}."]}
    return check(txns, consistency_model=sc.consistency_model, timeout_s=timeout_s)


for _name in ("isolation", "elle"):
    register_checker(_name, requires=_isolation_requires)(_isolation)


@register_checker("bank")
def _bank(sc: Any, history: History, trace: list[dict[str, Any]], timeout_s: float) -> dict[str, Any]:
    from analysis.bank import check, with_fault_context

    return with_fault_context(check(history), trace)


@register_checker("liveness")
def _liveness(sc: Any, history: History, trace: list[dict[str, Any]], timeout_s: float) -> dict[str, Any]:
    from analysis.liveness import check_trace

    return check_trace(trace)


@register_checker("lost-update")
def _lost_update(sc: Any, history: History, trace: list[dict[str, Any]], timeout_s: float) -> dict[str, Any]:
    from analysis.lost_update import check_trace

    return check_trace(trace, history)


@register_checker("fencing")
def _fencing(sc: Any, history: History, trace: list[dict[str, Any]], timeout_s: float) -> dict[str, Any]:
    from analysis.fencing import check_trace

    return check_trace(trace)
