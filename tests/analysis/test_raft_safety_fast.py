"""The raft-safety checker's fast paths agree with its slow ones.

Two shortcuts keep a checked run cheap, and each must never change a verdict or a word:

* applied commands are compared by a marshal signature before the canonical JSON
  (:class:`analysis.raft_safety._AppliedCommands`): "same" must mean exactly what equal
  ``_cmd_key`` means, for every tricky value (``1`` / ``1.0`` / ``True``, ``-0.0``, list vs
  tuple, key order, ``None``, bytes-like values, int subclasses);
* a valid trace is proved valid without the bookkeeping that explains violations
  (:func:`analysis.raft_safety._valid_counts`); whatever it says must be what the
  record-by-record check (:func:`analysis.raft_safety._check_in_order`) says.
"""

from __future__ import annotations

import enum
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.raft_safety import (
    _AppliedCommands,
    _check_in_order,
    _cmd_key,
    _plain,
    _signature,
    _valid_counts,
    check_trace,
)


class Color(enum.IntEnum):
    RED = 1


def _same(a: Any, b: Any) -> bool:
    return _AppliedCommands().same(1, a, b)


# ----------------------------------------------------------------- command comparison

def test_numbers_of_other_json_types_are_other_commands() -> None:
    for a, b in [(1, 1.0), (1, True), (0, False), (0.0, -0.0), (0, 0.0), (1.0, True)]:
        assert not _same({"v": a}, {"v": b}), (a, b)
        assert not _same([a], [b]), (a, b)


def test_lists_tuples_and_key_order_are_the_same_command() -> None:
    assert _same({"k": "x", "v": [1, [2, 3]]}, {"v": (1, (2, 3)), "k": "x"})
    assert _same(None, None)
    assert not _same(None, {})
    assert not _same(None, "null")


def test_values_json_writes_through_str_are_compared_by_their_json() -> None:
    # marshal writes every buffer alike and an IntEnum not at all: neither gets a signature,
    # and the comparison is the canonical JSON's.
    assert not _plain(b"ab") and not _plain(bytearray(b"ab")) and not _plain(Color.RED)
    assert _signature({"v": bytearray(b"ab")}) is None
    assert not _same({"v": b"ab"}, {"v": bytearray(b"ab")})
    assert _same({"v": bytearray(b"ab")}, {"v": bytearray(b"ab")})
    assert _same({"v": Color.RED}, {"v": 1}) == (_cmd_key({"v": Color.RED}) == _cmd_key({"v": 1}))


def test_commands_read_back_from_json_are_the_same_command() -> None:
    cmd = {"client_id": "c1", "seq": 3, "op": "cas", "key": "k2", "value": [3000001, 1000002]}
    assert _same(cmd, json.loads(json.dumps(cmd)))


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.integers(), st.sampled_from([0.0, -0.0, 1.0, 0.5]),
    st.floats(allow_nan=True), st.text(max_size=3), st.binary(max_size=2),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(st.text(max_size=2), inner, max_size=3),
    ),
    max_leaves=8,
)


def _variant(value: Any, draw: Any) -> Any:
    """A value that is often equal to ``value`` but may differ only in what JSON sees or
    ignores: number types, list vs tuple, key order, bytes vs bytearray."""
    choice = draw(st.integers(0, 5))
    if isinstance(value, bool):
        return int(value) if choice == 0 else value
    if isinstance(value, int):
        return [float(value), bool(value), value, value, Color.RED if value == 1 else value, value][choice]
    if isinstance(value, float):
        return [-value, int(value) if value == value and abs(value) < 1e18 else value, value,
                value, value, value][choice]
    if isinstance(value, bytes):
        return bytearray(value) if choice == 0 else value
    if isinstance(value, list | tuple):
        items = [_variant(v, draw) for v in value]
        return tuple(items) if choice == 0 else list(items) if choice == 1 else type(value)(items)
    if isinstance(value, dict):
        items = [(k, _variant(v, draw)) for k, v in value.items()]
        return dict(reversed(items)) if choice == 0 else dict(items)
    return value


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_same_command_means_equal_canonical_json(data: st.DataObject) -> None:
    a = data.draw(_values)
    b = _variant(a, data.draw) if data.draw(st.booleans()) else data.draw(_values)
    assert _same(a, b) == (_cmd_key(a) == _cmd_key(b)), (a, b)


# ----------------------------------------------------------------- whole-trace fast path

_COMMANDS = [None, {"k": 1}, {"k": 1.0}, {"k": True}, {"k": [1, 2]}, {"k": (1, 2)}, {"v": 2, "k": 1},
             {"k": 1, "v": 2}, {"k": -0.0}, {"k": 0.0}, {"k": bytearray(b"x")}, {"k": b"x"}]


def _field(draw: Any, value: int) -> Any:
    """``value`` as the engines write it, or as a hand-written file might."""
    return draw(st.sampled_from([value, value, value, str(value), float(value)]))


@st.composite
def _traces(draw: Any) -> list[dict[str, Any]]:
    nodes = ["n1", "n2", "n3"]
    out: list[dict[str, Any]] = []
    for t in range(draw(st.integers(0, 40))):
        kind = draw(st.sampled_from(["apply"] * 6 + ["commit"] * 3 + [
            "role", "leader-log", "final-log", "vote", "crash", "fault-start", "fault-end", "read"]))
        node = draw(st.sampled_from(nodes))
        term = draw(st.integers(1, 3))
        r: dict[str, Any] = {"t": t, "kind": kind, "node": node}
        if kind == "apply":
            r.update(index=_field(draw, draw(st.integers(1, 4))), term=_field(draw, term),
                     command=draw(st.sampled_from(_COMMANDS)))
        elif kind == "commit":
            r.update(index=_field(draw, draw(st.integers(0, 4))), term=_field(draw, term))
        elif kind == "role":
            r.update(role=draw(st.sampled_from(["leader", "leader", "follower", "candidate"])), term=term)
        elif kind in ("leader-log", "final-log"):
            r.update(term=term, terms=draw(st.lists(st.integers(1, 3), max_size=5)))
        elif kind == "vote":
            r.update(term=term, candidate=draw(st.sampled_from(nodes)))
        elif kind == "crash":
            r.update(lost_writes=draw(st.integers(0, 2)))
        elif kind in ("fault-start", "fault-end"):
            r.update(id=draw(st.integers(1, 2)), fault="partition", description="isolated n1", targets=["n1"])
        out.append(r)
    return out


@settings(max_examples=500, deadline=None)
@given(_traces())
def test_valid_fast_path_agrees_with_the_full_check(trace: list[dict[str, Any]]) -> None:
    full = _check_in_order(trace, ())
    counts = _valid_counts(trace)
    if full["verdict"] == "invalid":
        assert counts is None
    elif counts is not None:
        stats = full["stats"]
        assert counts == (stats["terms_with_leader"], stats["applied_indexes"], stats["leader_logs"])
    assert check_trace(trace) == full


@settings(max_examples=200, deadline=None)
@given(_traces())
def test_a_trace_read_back_from_json_gets_the_same_verdict(trace: list[dict[str, Any]]) -> None:
    loaded = json.loads(json.dumps(trace, default=str))
    assert check_trace(loaded) == _check_in_order(loaded, ())


def test_a_stale_duplicate_apply_is_still_caught() -> None:
    """A later apply differing only in a number's JSON type is a violation on the fast path."""
    tr = [
        {"t": 1, "kind": "apply", "node": "n1", "index": 1, "term": 1, "command": {"k": 1}},
        {"t": 2, "kind": "apply", "node": "n2", "index": 1, "term": 1, "command": {"k": 1}},
        {"t": 3, "kind": "apply", "node": "n3", "index": 1, "term": 1, "command": {"k": 1.0}},
    ]
    assert _valid_counts(tr) is None
    r = check_trace(tr)
    assert r["verdict"] == "invalid"
    assert r["violations"][0]["nodes"] == ["n1", "n3"]
