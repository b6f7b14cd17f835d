"""The remaining models: multi-register, mutex, kv (get/put/append), FIFO queue."""

from __future__ import annotations

from typing import Any

from analysis.history import UNKNOWN, Operation
from analysis.models.base import ILLEGAL, Model, StepFn, by_key, register_model


def _step_from(compile_op: Any) -> Any:
    def step(state: Any, op: Operation, output: Any) -> tuple[bool, Any]:
        nxt = compile_op(op, output)(state)
        return (nxt is not ILLEGAL), (state if nxt is ILLEGAL else nxt)

    return step


# --- multi-register ------------------------------------------------------------------------


@register_model("multi-register")
def multi_register(init: Any = None) -> Model:
    """Registers updated atomically by transactions of ``[f, k, v]`` micro-ops.

    Registers not named in ``init`` start at 0 (Knossos's test starts ``{:x 0, :y 0}``).
    A read micro-op with value nil constrains nothing.
    """
    start = tuple(sorted((init or {}).items()))

    def compile_op(op: Operation, output: Any) -> StepFn:
        if op.f != "txn":
            raise ValueError(f"model 'multi-register' has no operation {op.f!r} ({op.label()})")
        txn = op.value if output is UNKNOWN or output is None else output
        micro = [(str(m[0]), str(m[1]), m[2]) for m in txn]

        def fn(state: Any) -> Any:
            regs = dict(state)
            for f, k, v in micro:
                if f == "read":
                    if v is not None and regs.get(k, 0) != v:
                        return ILLEGAL
                elif f == "write":
                    regs[k] = v
                else:
                    return ILLEGAL
            return tuple(sorted(regs.items()))

        return fn

    return Model(
        name="multi-register",
        summary="registers read and written by atomic transactions [[f k v] ...]",
        init=lambda: start,
        step=_step_from(compile_op),
        fs=frozenset({"txn"}),
        describe_op=lambda op: f"txn {op.output if op.output is not UNKNOWN else op.value}",
        describe_state=lambda s: "{" + ", ".join(f"{k}={v}" for k, v in s) + "}",
        read_only=lambda op: all(m[0] == "read" for m in (op.value or [])),
        compile=compile_op,
    )


# --- mutex -------------------------------------------------------------------------------


@register_model("mutex")
def mutex() -> Model:
    def compile_op(op: Operation, output: Any) -> StepFn:
        if op.f == "acquire":
            return lambda s: True if s is False else ILLEGAL
        if op.f == "release":
            return lambda s: False if s is True else ILLEGAL
        raise ValueError(f"model 'mutex' has no operation {op.f!r} ({op.label()})")

    return Model(
        name="mutex",
        summary="a lock: acquire when free, release when held",
        init=lambda: False,
        step=_step_from(compile_op),
        fs=frozenset({"acquire", "release"}),
        describe_op=lambda op: op.f,
        describe_state=lambda s: "locked" if s else "free",
        compile=compile_op,
    )


# --- kv (Porcupine) ------------------------------------------------------------------------


@register_model("kv")
def kv() -> Model:
    """Porcupine's key-value model: per-key strings, get/put/append, initially ""."""

    def compile_op(op: Operation, output: Any) -> StepFn:
        if op.f == "get":
            if output is UNKNOWN:
                return lambda s: s
            want = "" if output is None else output
            return lambda s: s if s == want else ILLEGAL
        v = "" if op.value is None else op.value
        if op.f == "put":
            return lambda s: v
        if op.f == "append":
            return lambda s: s + v
        raise ValueError(f"model 'kv' has no operation {op.f!r} ({op.label()})")

    def describe_op(op: Operation) -> str:
        if op.f == "get":
            return f"get {op.key} -> {op.output!r}" if op.output is not UNKNOWN else f"get {op.key} (unknown)"
        return f"{op.f} {op.key} {op.value!r}"

    return Model(
        name="kv",
        summary="per-key strings: get/put/append, initially \"\" (Porcupine kv)",
        init=lambda: "",
        step=_step_from(compile_op),
        fs=frozenset({"get", "put", "append"}),
        partition=by_key,
        describe_op=describe_op,
        describe_state=repr,
        read_only=lambda op: op.f == "get",
        compile=compile_op,
    )


# --- queue -------------------------------------------------------------------------------


@register_model("queue")
def queue() -> Model:
    """A FIFO queue: enqueue(v); dequeue returns the head, or nil when empty."""

    def compile_op(op: Operation, output: Any) -> StepFn:
        if op.f == "enqueue":
            v = op.value
            return lambda s: s + (v,)
        if op.f == "dequeue":
            if output is UNKNOWN:
                return lambda s: s[1:] if s else ILLEGAL
            if output is None:
                return lambda s: s if not s else ILLEGAL
            want = output
            return lambda s: s[1:] if s and s[0] == want else ILLEGAL
        raise ValueError(f"model 'queue' has no operation {op.f!r} ({op.label()})")

    return Model(
        name="queue",
        summary="FIFO queue: enqueue v / dequeue -> head (nil when empty)",
        init=lambda: (),
        step=_step_from(compile_op),
        fs=frozenset({"enqueue", "dequeue"}),
        describe_op=lambda op: f"enqueue {op.value!r}" if op.f == "enqueue" else f"dequeue -> {op.output!r}",
        describe_state=lambda s: "[" + ", ".join(repr(x) for x in s) + "]",
        compile=compile_op,
    )
