"""Register models: register, cas-register (Knossos semantics), etcd, kv-register.

Two readings of a ``nil`` read exist in the wild and both are offered, named:

* Knossos (``register``, ``cas-register``): a read that returned ``nil`` constrains
  nothing, because Knossos keeps a crashed read's invocation value (``nil``).
* Strict (``etcd``, ``kv-register``): ``nil`` means "the key is absent", so a read of
  ``nil`` is legal only while nothing has been written.  This is what splitbrain's own
  key-value scenarios use.

``get``/``read`` and ``put``/``write`` are accepted as synonyms.
"""

from __future__ import annotations

from typing import Any

from analysis.history import UNKNOWN, Operation
from analysis.models.base import ILLEGAL, Model, StepFn, by_key, register_model

READS = frozenset({"read", "get"})
WRITES = frozenset({"write", "put"})


def _as_pair(value: Any, op: Operation) -> tuple[Any, Any]:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return value[0], value[1]
    raise ValueError(f"cas needs [expected, new], got {value!r} ({op.label()})")


def _hashable(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _hashable(x)) for k, x in v.items()))
    return v


def _make(
    name: str,
    summary: str,
    *,
    init: Any,
    strict_nil: bool,
    with_cas: bool,
    cas_bool_output: bool,
) -> Model:
    init = _hashable(init)

    def compile_op(op: Operation, output: Any) -> StepFn:
        f = op.f
        if f in READS:
            if output is UNKNOWN or (output is None and not strict_nil):
                return lambda s: s
            want = _hashable(output)
            return lambda s: s if s == want else ILLEGAL
        if f in WRITES:
            v = _hashable(op.value)
            return lambda s: v
        if f == "cas" and with_cas:
            a, b = _as_pair(op.value, op)
            a, b = _hashable(a), _hashable(b)
            if cas_bool_output and output is False:
                return lambda s: s if s != a else ILLEGAL
            return lambda s: b if s == a else ILLEGAL
        raise ValueError(f"model {name!r} has no operation {f!r} ({op.label()})")

    def step(state: Any, op: Operation, output: Any) -> tuple[bool, Any]:
        nxt = compile_op(op, output)(state)
        return (nxt is not ILLEGAL), (state if nxt is ILLEGAL else nxt)

    def describe_op(op: Operation) -> str:
        key = f" {op.key}" if op.key is not None else ""
        out = op.output
        if op.f in READS:
            if out is UNKNOWN:
                return f"read{key} (outcome unknown)"
            return f"read{key} -> {_fmt(out)}"
        if op.f in WRITES:
            return f"write{key} {_fmt(op.value)}" + (" (outcome unknown)" if out is UNKNOWN else "")
        a, b = _as_pair(op.value, op)
        tail = {True: "", False: " (compare failed)"}.get(out, "") if out is not UNKNOWN else " (outcome unknown)"
        return f"cas{key} {_fmt(a)}->{_fmt(b)}{tail}"

    def prune(ops: list[Operation]) -> list[Operation]:
        """Drop indeterminate writes (and cas) whose new value nobody ever observes.

        Such an operation's only effect is to set the register to a value that no read
        returns and no cas expects, until the next write.  Placing it can therefore never
        make an operation legal that was not legal without it -- unless some operation
        observed "the value is *not* X", which only a cas with output False does; with one
        of those in the partition nothing is pruned.  Timeouts during partitions produce
        dozens of such writes on one key, and each multiplies the orders to search.
        """
        observed: set[Any] = set()
        for op in ops:
            if op.f in READS and op.output is not UNKNOWN:
                observed.add(_hashable(op.output))
            elif op.f == "cas":
                if op.output is False:
                    return ops
                observed.add(_hashable(_as_pair(op.value, op)[0]))
        observed.add(None)  # conservative: the initial "absent" state counts as observed
        kept = []
        for op in ops:
            if op.status == "info":
                new = _hashable(op.value) if op.f in WRITES else (
                    _hashable(_as_pair(op.value, op)[1]) if op.f == "cas" else _MISSING)
                if new is not _MISSING and new not in observed:
                    continue
            kept.append(op)
        return kept

    fs = READS | WRITES | (frozenset({"cas"}) if with_cas else frozenset())
    return Model(
        name=name,
        summary=summary,
        init=lambda: init,
        step=step,
        fs=fs,
        partition=by_key,
        describe_op=describe_op,
        describe_state=_fmt,
        read_only=lambda op: op.f in READS or (cas_bool_output and op.f == "cas" and op.output is False),
        compile=compile_op,
        prune=prune,
    )


_MISSING = object()


def _fmt(v: Any) -> str:
    return "nil" if v is None else repr(v)


@register_model("register")
def register(init: Any = None) -> Model:
    return _make(
        "register",
        "read/write register; a nil read constrains nothing (Knossos)",
        init=init,
        strict_nil=False,
        with_cas=False,
        cas_bool_output=False,
    )


@register_model("cas-register")
def cas_register(init: Any = None) -> Model:
    return _make(
        "cas-register",
        "read/write/cas register; a failed cas did not happen; a nil read constrains nothing (Knossos)",
        init=init,
        strict_nil=False,
        with_cas=True,
        cas_bool_output=False,
    )


@register_model("etcd")
def etcd(init: Any = None) -> Model:
    return _make(
        "etcd",
        "Porcupine's etcd register: nil = absent, cas output true/false, timed-out reads unconstrained",
        init=init,
        strict_nil=True,
        with_cas=True,
        cas_bool_output=True,
    )


@register_model("kv-register")
def kv_register(init: Any = None) -> Model:
    return _make(
        "kv-register",
        "one register per key: get/put/cas, nil = absent (splitbrain's replicated KV)",
        init=init,
        strict_nil=True,
        with_cas=True,
        cas_bool_output=True,
    )
