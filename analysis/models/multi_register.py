"""The multi-register model: named registers read and written by atomic transactions.

A transaction is a list of micro-operations ``[f, name, value]``: ``["read", "x", 1]``
or ``["write", "y", 2]`` (EDN: ``[:read :x 1]``).  Register names are strings or EDN
keywords, compared by name; values are any JSON/EDN value, compared by type and value
(:mod:`analysis.models.values`), so a register may hold a list or a map.  Registers not
named in ``init`` start at 0 (Knossos's test starts ``{:x 0, :y 0}``), and a read
micro-op with value nil constrains nothing.  Anything else -- a transaction that is not a
list, a micro-op that is not a triple, an unknown micro-op -- is refused with the line.
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

Micro = tuple[str, str, Any]  # (f, register name, canonical value or None)


def _micro_ops(txn: Any, op: Operation) -> list[Micro]:
    """The canonical micro-operations of a transaction, or ValueError naming the problem."""
    if not isinstance(txn, list | tuple):
        raise ValueError(
            f"model 'multi-register' needs a txn as a list of [f, register, value], got {show(txn)} ({op.label()})"
        )
    out: list[Micro] = []
    for m in txn:
        if not isinstance(m, list | tuple) or len(m) != 3:
            raise ValueError(f"a txn micro-op must be [f, register, value], got {show(m)} ({op.label()})")
        f, k, v = m
        if f not in ("read", "write") or not isinstance(f, str):
            raise ValueError(f"a txn micro-op is read or write, got {show(f)} ({op.label()})")
        if not isinstance(k, str):
            raise ValueError(f"a register name must be a string or keyword, got {show(k)} ({op.label()})")
        out.append((str(f), str(k), None if v is None else canonical(v)))
    return out


@register_model("multi-register")
def multi_register(init: Any = None) -> Model:
    """Registers updated atomically by transactions of ``[f, k, v]`` micro-ops."""
    if init is not None and not isinstance(init, dict):
        raise TypeError("multi-register init must be an object of register -> value")
    start = tuple(sorted((str(k), canonical(v)) for k, v in (init or {}).items()))
    initial = dict(start)

    def compile_op(op: Operation, output: Any) -> StepFn:
        if op.f != "txn":
            raise ValueError(f"model 'multi-register' has no operation {op.f!r} ({op.label()})")
        _micro_ops(op.value, op)  # the invocation must be well formed too
        micro = _micro_ops(op.value if output is UNKNOWN or output is None else output, op)

        def fn(state: Any) -> Any:
            regs = dict(state)
            for f, k, v in micro:
                if f == "read":
                    if v is not None and regs.get(k, 0) != v:
                        return ILLEGAL
                else:
                    regs[k] = v
            return tuple(sorted(regs.items()))

        return fn

    def read_only(op: Operation) -> bool:
        return all(m[0] == "read" for m in _micro_ops(op.value, op))

    def impossible(ops: list[Operation]) -> Impossible | None:
        """A completed txn that read a value no txn wrote to that register."""
        written: set[tuple[str, Any]] = set(start)
        for op in ops:
            txn = op.value if op.output is UNKNOWN or op.output is None else op.output
            written.update((k, v) for f, k, v in _micro_ops(txn, op) if f == "write")
        for op in ops:
            if op.status != "ok" or op.output is None:
                continue
            for f, k, v in _micro_ops(op.output, op):
                if f == "read" and v is not None and (k, v) not in written and initial.get(k, 0) != v:
                    return Impossible(op, f"it read {k}={show(v)}, a value no transaction wrote to {k}")
        return None

    return Model(
        name="multi-register",
        summary="registers read and written by atomic transactions [[f k v] ...]",
        init=lambda: start,
        step=step_from_compile(compile_op),
        fs=frozenset({"txn"}),
        describe_op=lambda op: f"txn {show(op.output if op.output is not UNKNOWN else op.value)}",
        describe_state=lambda s: "{" + ", ".join(f"{k}={show(v)}" for k, v in s) + "}",
        read_only=read_only,
        compile=compile_op,
        impossible=impossible,
    )
