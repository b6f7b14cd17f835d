"""Values compare by type and value, as Jepsen's models do, in every model.

The property test holds the checker to an oracle written here from the definition: a
brute-force search over orders, with sequential models that compare *type-tagged*
values.  The tagging is independent of :mod:`analysis.models.values`, so a model that
slipped back to Python's ``True == 1`` would disagree with it.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import combinations, permutations
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.formats import parse_text
from analysis.history import UNKNOWN, Event, History, Operation
from analysis.linearizability import check
from analysis.models import get_model
from analysis.models.values import FALSE, TRUE, Float, KeywordName, canonical, show

# --------------------------------------------------------------------------- unit tests


def test_bool_int_float_are_three_types() -> None:
    assert canonical(True) != canonical(1)
    assert canonical(False) != canonical(0)
    assert canonical(1) != canonical(1.0)
    assert canonical(1.0) == canonical(1.0)
    assert canonical(0.0) == canonical(-0.0)  # as in Clojure
    assert canonical(True) is TRUE and canonical(False) is FALSE
    assert len({canonical(True), canonical(1), canonical(1.0)}) == 3  # hashing keeps them apart too


def test_structures_compare_structurally_with_typed_leaves() -> None:
    assert canonical([1, 2]) == canonical((1, 2))  # one JSON array type
    assert canonical([1, True]) != canonical([1, 1])
    assert canonical({"a": [1, {"b": 2}]}) == canonical({"a": [1, {"b": 2}]})
    assert canonical({"a": 1}) != canonical({"a": 1.0})
    assert canonical({"a": 1}) != canonical([["a", 1]])
    assert canonical({1, 2}) != canonical([1, 2])


def test_keyword_is_not_a_string() -> None:
    assert canonical(KeywordName("x")) != canonical("x")
    assert canonical(KeywordName("x")) == canonical(KeywordName("x"))
    assert KeywordName("x") == "x"  # still a str for everything that is not a model


def test_nan_and_foreign_objects_are_refused() -> None:
    with pytest.raises(ValueError, match="NaN"):
        canonical(float("nan"))
    with pytest.raises(ValueError, match="not a JSON or EDN value"):
        canonical(object())


def test_show_is_typed() -> None:
    assert [show(v) for v in (None, True, 1, 1.0, "1", [1, "a"])] == ["nil", "true", "1", "1.0", "'1'", "[1, 'a']"]
    assert show(canonical({"a": True})) == "{'a': true}"
    assert repr(Float(2.5)) == "2.5"


ISSUE_HISTORY = (
    '{"process": 0, "type": "invoke", "f": "write", "value": true}\n'
    '{"process": 0, "type": "ok", "f": "write", "value": true}\n'
    '{"process": 1, "type": "invoke", "f": "read", "value": null}\n'
    '{"process": 1, "type": "ok", "f": "read", "value": 1}\n'
)


@pytest.mark.parametrize("model", ["register", "cas-register", "etcd", "kv-register"])
def test_the_issue_history_is_invalid(model: str) -> None:
    h = parse_text(ISSUE_HISTORY, "jsonl")
    v = check(h, get_model(model))
    assert v.verdict == "invalid"


def test_the_issue_history_is_invalid_in_edn() -> None:
    text = (
        "[{:process 0, :type :invoke, :f :write, :value true}\n"
        " {:process 0, :type :ok, :f :write, :value true}\n"
        " {:process 1, :type :invoke, :f :read, :value nil}\n"
        " {:process 1, :type :ok, :f :read, :value 1}]\n"
    )
    assert check(parse_text(text, "edn"), get_model("cas-register")).verdict == "invalid"


def test_edn_keyword_value_is_not_the_string() -> None:
    text = (
        '[{:process 0, :type :invoke, :f :write, :value :x}\n'
        ' {:process 0, :type :ok, :f :write, :value :x}\n'
        ' {:process 1, :type :invoke, :f :read, :value nil}\n'
        ' {:process 1, :type :ok, :f :read, :value "x"}]\n'
    )
    assert check(parse_text(text, "edn"), get_model("register")).verdict == "invalid"
    same = text.replace('"x"', ":x")
    assert check(parse_text(same, "edn"), get_model("register")).verdict == "valid"


def _seq(model: str, *ops: tuple[str, Any, Any]) -> History:
    """Sequential ops (f, invoke value, ok value), one after another; key 'k' for kv models."""
    key = "k" if model in ("kv-register", "kv") else None
    evs = []
    for p, (f, inv, out) in enumerate(ops):
        evs.append(Event(p, "invoke", f, inv, key=key))
        evs.append(Event(p, "ok", f, out, key=key))
    return History.from_events(evs)


@pytest.mark.parametrize(
    ("model", "ops", "verdict"),
    [
        ("cas-register", [("write", True, True), ("cas", [1, 2], [1, 2])], "invalid"),
        ("cas-register", [("write", 1, 1), ("cas", [1, 2], [1, 2]), ("read", None, 2)], "valid"),
        ("etcd", [("write", 1.0, 1.0), ("cas", [1, 2], True)], "invalid"),
        ("etcd", [("write", 1.0, 1.0), ("cas", [1, 2], False), ("read", None, 1.0)], "valid"),
        ("kv-register", [("put", [1, 2], [1, 2]), ("get", None, [1, 2])], "valid"),
        ("kv-register", [("put", [1, True], None), ("get", None, [1, 1])], "invalid"),
        ("kv-register", [("put", {"a": 1}, None), ("get", None, {"a": 1.0})], "invalid"),
        ("queue", [("enqueue", [1], [1]), ("dequeue", None, [1])], "valid"),
        ("queue", [("enqueue", True, True), ("dequeue", None, 1)], "invalid"),
        ("queue", [("enqueue", {"a": [1]}, None), ("dequeue", None, {"a": [1]})], "valid"),
        ("queue", [("enqueue", {"a": [1]}, None), ("dequeue", None, {"a": [True]})], "invalid"),
        ("multi-register", [("txn", [["write", "x", True]], None), ("txn", [["read", "x", None]], [["read", "x", 1]])], "invalid"),
        ("multi-register", [("txn", [["write", "x", [1, 2]]], None), ("txn", [["read", "x", None]], [["read", "x", [1, 2]]])], "valid"),
        ("multi-register", [("txn", [["read", "x", None]], [["read", "x", 0.0]])], "invalid"),
        ("kv", [("put", "1", "1"), ("get", None, "1")], "valid"),
    ],
)
def test_every_model_compares_by_type(model: str, ops: list[tuple[str, Any, Any]], verdict: str) -> None:
    assert check(_seq(model, *ops), get_model(model)).verdict == verdict


# --------------------------------------------------------------------------- the oracle

Tag = Any


def tag(v: Any) -> Tag:
    """Jepsen's equality as data: a value with its JSON type, recursively."""
    if v is None:
        return ("nil",)
    if isinstance(v, bool):
        return ("bool", v)
    if isinstance(v, int):
        return ("int", v)
    if isinstance(v, float):
        return ("float", v)
    if isinstance(v, str):
        return ("str", str(v))
    if isinstance(v, list | tuple):
        return ("array", tuple(tag(x) for x in v))
    if isinstance(v, dict):
        return ("map", frozenset((tag(k), tag(x)) for k, x in v.items()))
    raise AssertionError(f"no tag for {v!r}")


NIL = tag(None)
Step = Callable[[Any, Operation], Any]  # state -> next state, or None when illegal


def ref_register(strict_nil: bool, cas_bool: bool) -> Step:
    def step(s: Any, op: Operation) -> Any:
        if op.f in ("read", "get"):
            if op.output is UNKNOWN or (op.output is None and not strict_nil):
                return s
            return s if tag(op.output) == s else None
        if op.f in ("write", "put"):
            return tag(op.value)
        a, b = op.value
        if cas_bool and op.output is False:
            return s if s != tag(a) else None
        return tag(b) if s == tag(a) else None

    return step


def ref_queue(s: Any, op: Operation) -> Any:
    if op.f == "enqueue":
        return (*s, tag(op.value))
    if op.output is UNKNOWN:
        return s[1:] if s else None
    if op.output is None:
        return s if not s else None
    return s[1:] if s and s[0] == tag(op.output) else None


def ref_multi(s: Any, op: Operation) -> Any:
    regs = dict(s)
    txn = op.value if op.output is UNKNOWN or op.output is None else op.output
    for f, k, v in txn:
        if f == "read":
            if v is not None and regs.get(k, tag(0)) != tag(v):
                return None
        else:
            regs[k] = tag(v)
    return tuple(sorted(regs.items(), key=repr))


REFERENCE: dict[str, tuple[Step, Any]] = {
    "register": (ref_register(strict_nil=False, cas_bool=False), NIL),
    "cas-register": (ref_register(strict_nil=False, cas_bool=False), NIL),
    "etcd": (ref_register(strict_nil=True, cas_bool=True), NIL),
    "kv-register": (ref_register(strict_nil=True, cas_bool=True), NIL),
    "queue": (ref_queue, ()),
    "multi-register": (ref_multi, ()),
}


def oracle(ops: tuple[Operation, ...], model: str) -> bool:
    """Linearizable, straight from the definition: some subset of the indeterminate
    operations plus every completed one, in some order that respects real time, is legal."""
    step, init = REFERENCE[model]
    live = [o for o in ops if o.status != "fail"]
    must = [o for o in live if o.status == "ok"]
    maybe = [o for o in live if o.status == "info"]
    for k in range(len(maybe) + 1):
        for extra in combinations(maybe, k):
            for order in permutations(must + list(extra)):
                if any(b.ret is not None and b.ret < a.call for i, a in enumerate(order) for b in order[i + 1 :]):
                    continue
                s = init
                for op in order:
                    s = step(s, op)
                    if s is None:
                        break
                else:
                    return True
    return False


# Values that Python confuses with each other: True/1/1.0, False/0/0.0, [1]/(1,)/[True],
# {"a": 1}/{"a": True}, "1"/1.
TRICKY = [True, False, 0, 1, 1.0, 0.0, "1", [1], [True], [1.0], {"a": 1}, {"a": True}]
VALUE = st.sampled_from(TRICKY)


@st.composite
def histories(draw: st.DrawFn, model: str) -> History:
    n_procs = draw(st.integers(1, 3))
    specs: dict[int, list[tuple[str, Any, Any, str]]] = {}
    total = 0
    for p in range(n_procs):
        ops = []
        for _ in range(draw(st.integers(1, 2))):
            if total >= 5:
                break
            total += 1
            status = draw(st.sampled_from(["ok", "ok", "ok", "info"]))
            ops.append((*_op(draw, model), status))
        specs[p] = ops
    # interleave: each step, some process with work left emits its next event
    cursor = {p: 0 for p in specs}
    open_: dict[int, bool] = {p: False for p in specs}
    events: list[Event] = []
    while True:
        ready = [p for p in specs if cursor[p] < len(specs[p])]
        if not ready:
            break
        p = draw(st.sampled_from(ready))
        f, inv, out, status = specs[p][cursor[p]]
        key = "k" if model == "kv-register" else None
        if not open_[p]:
            events.append(Event(p, "invoke", f, inv, key=key))
            open_[p] = True
        else:
            events.append(Event(p, status, f, out if status == "ok" else None, key=key))
            open_[p] = False
            cursor[p] += 1
    return History.from_events(events)


def _op(draw: st.DrawFn, model: str) -> tuple[str, Any, Any]:
    if model == "queue":
        if draw(st.booleans()):
            v = draw(VALUE)
            return "enqueue", v, v
        return "dequeue", None, draw(st.one_of(st.none(), VALUE))
    if model == "multi-register":
        if draw(st.booleans()):
            v = draw(VALUE)
            return "txn", [["write", "x", v]], [["write", "x", v]]
        return "txn", [["read", "x", None]], [["read", "x", draw(st.one_of(st.none(), VALUE))]]
    fs = ["read", "write", "cas"] if model != "register" else ["read", "write"]
    f = draw(st.sampled_from(fs))
    if f == "read":
        return f, None, draw(st.one_of(st.none(), VALUE))
    if f == "write":
        v = draw(VALUE)
        return f, v, v
    pair = [draw(st.one_of(st.none(), VALUE)), draw(VALUE)]
    if model in ("etcd", "kv-register"):
        return f, pair, draw(st.booleans())
    return f, pair, pair


MODELS = sorted(REFERENCE)


@pytest.mark.parametrize("model", MODELS)
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mixed_type_values_never_make_a_non_linearizable_history_pass(model: str, data: st.DataObject) -> None:
    h = data.draw(histories(model))
    verdict = check(h, get_model(model)).verdict
    expected = oracle(h.operations, model)
    if not expected:
        assert verdict == "invalid", h.operations
    else:
        assert verdict == "valid", h.operations
