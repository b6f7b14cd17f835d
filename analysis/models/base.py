"""The shape of a sequential model, and the registry of models by name.

A model is a few pure functions (design principle 4), as in Porcupine:

* ``init()``                         -- the initial state (hashable);
* ``step(state, op, output)``        -- ``(legal, next_state)`` for applying ``op`` with the
                                        observed ``output`` (``UNKNOWN`` for indeterminate ops);
* ``partition(ops)``                 -- optional split into independent parts (per key), since a
                                        history is linearizable iff every part is (P-compositionality);
* ``describe_op`` / ``describe_state`` -- words for explanations.

``compile`` is an optional fast path: it turns one operation into a function
``state -> next_state | ILLEGAL``, so the search's inner loop does no dispatch on ``op.f``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from analysis.history import UNKNOWN, Operation


class _Illegal:
    def __repr__(self) -> str:
        return "ILLEGAL"


ILLEGAL: Any = _Illegal()

StepFn = Callable[[Any], Any]


class ModelError(ValueError):
    """A model name or a model/operation mismatch the user must fix."""


def _describe_op_default(op: Operation) -> str:
    key = f" {op.key}" if op.key is not None else ""
    out = "?" if op.output is UNKNOWN else repr(op.output)
    return f"{op.f}{key} {op.value!r} -> {out}"


@dataclass(frozen=True)
class Model:
    name: str
    summary: str
    init: Callable[[], Any]
    step: Callable[[Any, Operation, Any], tuple[bool, Any]]
    fs: frozenset[str]
    partition: Callable[[Sequence[Operation]], list[tuple[str | None, list[Operation]]]] | None = None
    describe_op: Callable[[Operation], str] = _describe_op_default
    describe_state: Callable[[Any], str] = repr
    read_only: Callable[[Operation], bool] = field(default=lambda op: False)
    compile: Callable[[Operation, Any], StepFn] | None = None
    prune: Callable[[list[Operation]], list[Operation]] | None = None
    """Drop operations of one partition that provably cannot matter (see register.py)."""

    def compile_op(self, op: Operation, output: Any) -> StepFn:
        """A function ``state -> next_state | ILLEGAL`` for this operation."""
        if self.compile is not None:
            return self.compile(op, output)
        step = self.step

        def fn(state: Any) -> Any:
            ok, nxt = step(state, op, output)
            return nxt if ok else ILLEGAL

        return fn


def by_key(ops: Sequence[Operation]) -> list[tuple[str | None, list[Operation]]]:
    """Split operations per key, keeping first-seen key order (deterministic)."""
    parts: dict[str | None, list[Operation]] = {}
    for op in ops:
        parts.setdefault(op.key, []).append(op)
    return list(parts.items())


_REGISTRY: dict[str, Callable[..., Model]] = {}


def register_model(name: str) -> Callable[[Callable[..., Model]], Callable[..., Model]]:
    def deco(factory: Callable[..., Model]) -> Callable[..., Model]:
        _REGISTRY[name] = factory
        return factory

    return deco


def model_names() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


def get_model(name: str, **options: Any) -> Model:
    """Build a model by name.  ``options`` (e.g. ``init=0``) go to its factory."""
    factory = _REGISTRY.get(name)
    if factory is None:
        raise ModelError(f"unknown model {name!r}; known models: {', '.join(model_names())}")
    try:
        return factory(**options)
    except TypeError as e:
        raise ModelError(f"model {name!r} does not take these options: {options}") from e
