"""The mutex model: a lock that is acquired when free and released when held."""

from __future__ import annotations

from typing import Any

from analysis.history import Operation
from analysis.models.base import ILLEGAL, Model, StepFn, register_model, step_from_compile


def _acquire(s: Any) -> Any:
    return True if s is False else ILLEGAL


def _release(s: Any) -> Any:
    return False if s is True else ILLEGAL


@register_model("mutex")
def mutex() -> Model:
    """Knossos's mutex: ``acquire`` and ``release`` carry no values (any given is ignored)."""

    def compile_op(op: Operation, output: Any) -> StepFn:
        if op.f == "acquire":
            return _acquire
        if op.f == "release":
            return _release
        raise ValueError(f"model 'mutex' has no operation {op.f!r} ({op.label()})")

    return Model(
        name="mutex",
        summary="a lock: acquire when free, release when held",
        init=lambda: False,
        step=step_from_compile(compile_op),
        fs=frozenset({"acquire", "release"}),
        describe_op=lambda op: op.f,
        describe_state=lambda s: "locked" if s else "free",
        compile=compile_op,
    )
