"""Checkers by name: each takes the scenario, the history and the trace, and returns a result.

Every result is a JSON-able dict with at least ``checker``, ``verdict`` (valid / invalid /
unknown) and ``explanation`` (plain sentences), so the terminal, the results folder and the
HTML report can show any checker the same way.  A new checker is one function plus
``@register_checker("name")``.
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
    _load_builtin()
    return tuple(sorted(_CHECKERS))


def get_checker(name: str) -> CheckerFn:
    _load_builtin()
    if name not in _CHECKERS:
        raise ValueError(f"unknown checker {name!r}; known: {', '.join(sorted(_CHECKERS))}")
    return _CHECKERS[name]


def _load_builtin() -> None:
    import importlib

    for mod in ("scenarios.checkers_extra", "scenarios.checkers_pipeline"):
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:
                raise


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
