"""The FIFO queue model: ``enqueue(v)``; ``dequeue`` returns the head, or nil when empty.

Values are any JSON/EDN value except nil, compared by type and value
(:mod:`analysis.models.values`): a queue of lists or of maps is compared structurally.
nil cannot be enqueued, because a dequeue that returns nil means "the queue was empty".
"""

from __future__ import annotations

from typing import Any

from analysis.history import UNKNOWN, Operation
from analysis.models.base import (
    ILLEGAL,
    Impossible,
    Model,
    StepFn,
    register_model,
    step_from_compile,
)
from analysis.models.values import canonical, show


def _pop_any(s: Any) -> Any:
    return s[1:] if s else ILLEGAL


def _empty(s: Any) -> Any:
    return s if not s else ILLEGAL


@register_model("queue")
def queue() -> Model:
    """A FIFO queue: enqueue(v); dequeue returns the head, or nil when empty."""

    def compile_op(op: Operation, output: Any) -> StepFn:
        if op.f == "enqueue":
            if op.value is None:
                raise ValueError(
                    f"model 'queue' cannot enqueue nil: a dequeue of nil means 'empty' ({op.label()})"
                )
            v = canonical(op.value)
            return lambda s: (*s, v)
        if op.f == "dequeue":
            if output is UNKNOWN:
                return _pop_any
            if output is None:
                return _empty
            want = canonical(output)
            return lambda s: s[1:] if s and s[0] == want else ILLEGAL
        raise ValueError(f"model 'queue' has no operation {op.f!r} ({op.label()})")

    def impossible(ops: list[Operation]) -> Impossible | None:
        """A completed dequeue of a value nobody enqueued, or before anyone began to."""
        first: dict[Any, int] = {}
        for op in ops:
            if op.f == "enqueue":
                v = canonical(op.value)
                if v not in first or op.call < first[v]:
                    first[v] = op.call
        for op in ops:
            if op.f != "dequeue" or op.status != "ok" or op.output is None:
                continue
            v = canonical(op.output)
            c = first.get(v)
            assert op.ret is not None
            if c is None:
                return Impossible(op, f"it dequeued {show(v)}, a value nobody enqueued")
            if c > op.ret:
                return Impossible(op, f"it dequeued {show(v)} before any enqueue of {show(v)} began")
        return None

    return Model(
        name="queue",
        summary="FIFO queue: enqueue v / dequeue -> head (nil when empty)",
        init=lambda: (),
        step=step_from_compile(compile_op),
        fs=frozenset({"enqueue", "dequeue"}),
        describe_op=lambda op: f"enqueue {show(op.value)}" if op.f == "enqueue" else f"dequeue -> {show(op.output)}",
        describe_state=lambda s: "[" + ", ".join(show(x) for x in s) + "]",
        compile=compile_op,
        impossible=impossible,
    )
