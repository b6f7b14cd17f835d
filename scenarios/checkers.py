"""Checkers by name: each takes the scenario, the history and the trace, and returns a result.

Every result is a JSON-able dict with at least ``checker``, ``verdict`` (valid / invalid /
unknown) and ``explanation`` (plain sentences), so the terminal, the results folder and the
HTML report can show any checker the same way.  A new checker is one function plus
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
* ``liveness``        -- :mod:`analysis.liveness`: after the faults heal and a quiet period,
  every event committed to a log was processed or dead-lettered; otherwise the partition
  is named with where it is stuck.  Any system can use it: it reads ``broker-append`` or
  ``produced`` records (committed) and ``handled`` records (done).
* ``lost-update``     -- :mod:`analysis.lost_update`: no acknowledged write to a leaderless
  register vanishes unless a causally later write that includes it survives.
* ``fencing``         -- :mod:`analysis.fencing`: the writes a storage service accepted are
  in lock-grant order (tokens never go down), each by the holder of its token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from analysis.history import History

CheckerFn = Callable[[Any, History, list[dict[str, Any]], float], dict[str, Any]]
_CHECKERS: dict[str, CheckerFn] = {}


def register_checker(name: str) -> Callable[[CheckerFn], CheckerFn]:
    def deco(fn: CheckerFn) -> CheckerFn:
        _CHECKERS[name] = fn
        return fn

    return deco


def checker_names() -> tuple[str, ...]:
    return tuple(sorted(_CHECKERS))


def get_checker(name: str) -> CheckerFn:
    if name not in _CHECKERS:
        raise ValueError(f"unknown checker {name!r}; known: {', '.join(sorted(_CHECKERS))}")
    return _CHECKERS[name]


@register_checker("linearizability")
def _linearizability(sc: Any, history: History, trace: list[dict[str, Any]], timeout_s: float) -> dict[str, Any]:
    from analysis.explain import verdict_json
    from analysis.kv_context import add_protocol_context
    from analysis.linearizability import check
    from analysis.models import get_model

    model = get_model(sc.model)
    r = verdict_json(check(history, model, timeout_s=timeout_s), model)
    add_protocol_context(r, trace)
    return r


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
