"""Porcupine's key-value model: per-key strings with get, put and append.

Values are strings and nothing else: ``append`` concatenates, so a number or a list has
no meaning here, and such a history is refused (exit 3) naming the operation rather than
guessed at.  A get's output ``null`` reads as ``""`` (a key never written), as in
Porcupine's model.
"""

from __future__ import annotations

from typing import Any

from analysis.history import UNKNOWN, Operation
from analysis.models.base import ILLEGAL, Model, StepFn, by_key, register_model, step_from_compile
from analysis.models.values import show


def _string(v: Any, what: str, op: Operation) -> str:
    if v is None:
        return ""
    if type(v) is not str:
        raise ValueError(f"model 'kv' keeps strings: {what} must be a string, got {show(v)} ({op.label()})")
    return v


def _identity(s: Any) -> Any:
    return s


@register_model("kv")
def kv() -> Model:
    """Porcupine's key-value model: per-key strings, get/put/append, initially ""."""

    def compile_op(op: Operation, output: Any) -> StepFn:
        if op.f == "get":
            if output is UNKNOWN:
                return _identity
            want = _string(output, "a get's output", op)
            return lambda s: s if s == want else ILLEGAL
        if op.f == "put":
            v = _string(op.value, "a put's value", op)
            return lambda s: v
        if op.f == "append":
            a = _string(op.value, "an append's value", op)
            return lambda s: s + a
        raise ValueError(f"model 'kv' has no operation {op.f!r} ({op.label()})")

    def describe_op(op: Operation) -> str:
        if op.f == "get":
            return f"get {op.key} -> {op.output!r}" if op.output is not UNKNOWN else f"get {op.key} (unknown)"
        return f"{op.f} {op.key} {op.value!r}"

    return Model(
        name="kv",
        summary="per-key strings: get/put/append, initially \"\" (Porcupine kv)",
        init=lambda: "",
        step=step_from_compile(compile_op),
        fs=frozenset({"get", "put", "append"}),
        partition=by_key,
        describe_op=describe_op,
        describe_state=repr,
        read_only=lambda op: op.f == "get",
        compile=compile_op,
    )
