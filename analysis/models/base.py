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
It is also where a model checks an operation's values: a value the model cannot use
raises ``ValueError`` naming it, which the checker reports with the line, before any
search.  Values are compared by type and value (:mod:`analysis.models.values`).

Two optional linear-time hooks run on each partition before the search:

* ``impossible(ops)`` -- an operation that no order can place, found without searching
  (a read of a value nobody wrote, or one that returned before any write of its value
  began).  It decides ``invalid`` at once; the search would take as long as its budget.
* ``witness(ops)``    -- a proposed linearization (typically from a near-linear algorithm
  that works when every written value is distinct).  The checker verifies it step by
  step against real time and ``compile``, so a wrong proposal can never make a history
  pass: an unverified witness just falls through to the search.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from analysis.history import UNKNOWN, Operation
from analysis.models.values import show


class _Illegal:
    def __repr__(self) -> str:
        return "ILLEGAL"


ILLEGAL: Any = _Illegal()

StepFn = Callable[[Any], Any]


class ModelError(ValueError):
    """A model name or a model/operation mismatch the user must fix."""


@dataclass(frozen=True)
class Impossible:
    """An operation no linearization can place, found by a linear pre-check.

    ``states`` is every state the operation could have observed, when there are few
    enough to list (the evidence an explanation shows); ``None`` when there are many.
    """

    op: Operation
    reason: str
    states: frozenset[Any] | None = None


def _describe_op_default(op: Operation) -> str:
    key = f" {op.key}" if op.key is not None else ""
    out = "?" if op.output is UNKNOWN else show(op.output)
    return f"{op.f}{key} {show(op.value)} -> {out}"


@dataclass(frozen=True)
class Model:
    name: str
    summary: str
    init: Callable[[], Any]
    step: Callable[[Any, Operation, Any], tuple[bool, Any]]
    fs: frozenset[str]
    partition: Callable[[Sequence[Operation]], list[tuple[str | None, list[Operation]]]] | None = None
    describe_op: Callable[[Operation], str] = _describe_op_default
    describe_state: Callable[[Any], str] = show
    read_only: Callable[[Operation], bool] = field(default=lambda op: False)
    compile: Callable[[Operation, Any], StepFn] | None = None
    prune: Callable[[list[Operation]], list[Operation]] | None = None
    """Drop operations of one partition that provably cannot matter (see register.py)."""
    impossible: Callable[[list[Operation]], Impossible | None] | None = None
    """A linear pre-check: an operation that cannot be placed in any order, or None."""
    witness: Callable[[list[Operation]], list[Operation] | None] | None = None
    """A proposed linearization of one partition, verified by the checker, or None."""

    def compile_op(self, op: Operation, output: Any) -> StepFn:
        """A function ``state -> next_state | ILLEGAL`` for this operation."""
        if self.compile is not None:
            return self.compile(op, output)
        step = self.step

        def fn(state: Any) -> Any:
            ok, nxt = step(state, op, output)
            return nxt if ok else ILLEGAL

        return fn


def step_from_compile(compile_op: Callable[[Operation, Any], StepFn]) -> Callable[[Any, Operation, Any], tuple[bool, Any]]:
    """A model's ``step`` written in terms of its ``compile``, so the two never disagree."""

    def step(state: Any, op: Operation, output: Any) -> tuple[bool, Any]:
        nxt = compile_op(op, output)(state)
        return (nxt is not ILLEGAL), (state if nxt is ILLEGAL else nxt)

    return step


def by_key(ops: Sequence[Operation]) -> list[tuple[str | None, list[Operation]]]:
    """Split operations per key, keeping first-seen key order (deterministic)."""
    parts: dict[str | None, list[Operation]] = {}
    for op in ops:
        part = parts.get(op.key)
        if part is None:
            parts[op.key] = part = []
        part.append(op)
    return list(parts.items())


_REGISTRY: dict[str, Callable[..., Model]] = {}


def register_model(name: str) -> Callable[[Callable[..., Model]], Callable[..., Model]]:
    """Decorator: make ``factory(**options) -> Model`` the model called ``name``.  Another
    module's model under a taken name is refused (a plugin never replaces a built-in)."""

    def deco(factory: Callable[..., Model]) -> Callable[..., Model]:
        existing = _REGISTRY.get(name)
        if existing is not None and getattr(existing, "__module__", None) != getattr(factory, "__module__", None):
            raise ModelError(f"model name {name!r} is already taken by {getattr(existing, '__module__', '?')}; "
                             "choose another name")
        _REGISTRY[name] = factory
        return factory

    return deco


def unregister_model(name: str) -> None:
    """Forget a model (tests and notebooks that define throwaway models use this)."""
    _REGISTRY.pop(name, None)


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
