"""Property: a history recorded from a serial execution never shows an anomaly.

Hypothesis draws transactions (which keys each reads and writes, which client runs it,
its window in time, how it ends) and a serial order; :func:`execute` runs them one at a
time and records what clients saw.  Run in the order of their apply points (each inside
its window), the history is strict serializable; run in any other order it is still
serializable, so only process or real-time variants may appear."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.history import History
from analysis.isolation import check
from analysis.isolation.generate import Spec, execute
from analysis.isolation.txn import from_history
from tests.analysis.isolation_helpers import data_types

OUTCOME = st.sampled_from(["ok"] * 6 + ["fail", "info-applied", "info-lost"])


@st.composite
def serial_runs(draw: st.DrawFn, model: str) -> tuple[list[Spec], list[int] | None]:
    write = "append" if model == "list-append" else "w"
    n = draw(st.integers(1, 12))
    free = [0, 0, 0, 0]
    specs = []
    for _ in range(n):
        p = draw(st.integers(0, 3))
        ops = draw(
            st.lists(st.tuples(st.sampled_from(["r", write]), st.sampled_from(["x", "y", "z"])),
                     min_size=1, max_size=4)
        )
        start = free[p] + draw(st.integers(0, 3))
        end = start + draw(st.integers(1, 6))
        apply = start + (end - start) * draw(st.integers(1, 99)) / 100
        free[p] = end + 1
        specs.append(Spec(p, tuple(ops), start, apply, end, draw(OUTCOME)))
    order = draw(st.none() | st.permutations(list(range(n))))
    return specs, order


def _run(model: str, specs: list[Spec], order: list[int] | None, **opts: Any) -> Any:
    h = from_history(History.from_events(execute(specs, model, order)), model)
    strict = order is None
    r = check(h, consistency_model="strict-serializable" if strict else "serializable", **opts)
    assert r["verdict"] != "invalid", r["explanation"]
    if strict:
        assert r["anomaly_types"] == [], r["explanation"]
    else:
        assert data_types(r) == [], r["explanation"]
    if r["verdict"] == "unknown":
        # Only when there is nothing to judge: no commit, or no dependency at all.
        assert r["reason"] in (
            "no transaction committed, so there is nothing to check",
            "no dependency between transactions could be inferred",
        )
    return r


@settings(max_examples=300, deadline=None)
@given(serial_runs("list-append"))
def test_serial_list_append_histories_are_valid(run: tuple[list[Spec], list[int] | None]) -> None:
    _run("list-append", *run)


@settings(max_examples=200, deadline=None)
@given(serial_runs("rw-register"))
def test_serial_rw_register_histories_are_valid(run: tuple[list[Spec], list[int] | None]) -> None:
    _run("rw-register", *run)
    # In a serial execution a transaction's write follows what it read: the opt-in
    # writes-follow-reads inference must hold too.
    _run("rw-register", *run, wfr=True)


def test_reordering_is_caught_in_real_time() -> None:
    """The same kind of run, out of real-time order, is not strict serializable: the
    property above is not vacuous."""
    specs = [Spec(0, (("append", "x"),), 0, 1, 2), Spec(1, (("r", "x"),), 3, 4, 5)]
    h = from_history(History.from_events(execute(specs, "list-append", [1, 0])), "list-append")
    r = check(h)
    assert r["verdict"] == "invalid"
    assert r["anomaly_types"] == ["G-single-realtime"]
