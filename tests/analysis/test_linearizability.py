"""The fast checker against hand-made cases, a brute-force oracle, and generated histories."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.bruteforce import is_linearizable
from analysis.explain import verdict_json
from analysis.history import Event, History
from analysis.linearizability import check, check_operations
from analysis.models import ModelError, get_model


def hist(*rows: tuple[Any, ...]) -> History:
    """rows: (process, type, f, value[, key])"""
    evs = [Event(r[0], r[1], r[2], r[3], key=r[4] if len(r) > 4 else None, line=i + 1) for i, r in enumerate(rows)]
    return History.from_events(evs)


def test_sequential_write_read_is_valid() -> None:
    h = hist((0, "invoke", "write", 1), (0, "ok", "write", 1), (1, "invoke", "read", None), (1, "ok", "read", 1))
    assert check(h, get_model("etcd")).verdict == "valid"


def test_stale_read_is_invalid_with_explanation() -> None:
    h = hist(
        (0, "invoke", "write", 1), (0, "ok", "write", 1),
        (0, "invoke", "write", 2), (0, "ok", "write", 2),
        (1, "invoke", "read", None), (1, "ok", "read", 1),
    )
    m = get_model("etcd")
    v = check(h, m)
    assert v.verdict == "invalid"
    j = verdict_json(v, m)
    assert j["counterexample"]["blocker"] == 2
    assert any("read -> 1" in s for s in j["explanation"])
    assert "2" in j["counterexample"]["illegal_states"]


def test_concurrent_read_may_see_either_value() -> None:
    h = hist(
        (0, "invoke", "write", 1), (0, "ok", "write", 1),
        (0, "invoke", "write", 2),
        (1, "invoke", "read", None), (1, "ok", "read", 1),
        (2, "invoke", "read", None), (2, "ok", "read", 2),
        (0, "ok", "write", 2),
    )
    assert check(h, get_model("etcd")).verdict == "valid"


def test_indeterminate_write_may_take_effect_late() -> None:
    # the write's outcome is unknown; a read much later may still see it
    h = hist(
        (0, "invoke", "write", 5), (0, "info", "write", 5),
        (1, "invoke", "read", None), (1, "ok", "read", None),
        (2, "invoke", "read", None), (2, "ok", "read", 5),
    )
    assert check(h, get_model("etcd")).verdict == "valid"


def test_indeterminate_write_may_never_happen() -> None:
    h = hist((0, "invoke", "write", 5), (1, "invoke", "read", None), (1, "ok", "read", None))
    assert check(h, get_model("etcd")).verdict == "valid"


def test_failed_write_did_not_happen() -> None:
    h = hist((0, "invoke", "write", 5), (0, "fail", "write", 5), (1, "invoke", "read", None), (1, "ok", "read", 5))
    assert check(h, get_model("etcd")).verdict == "invalid"


def test_cas_false_output_constrains_state() -> None:
    h = hist((0, "invoke", "write", 1), (0, "ok", "write", 1), (1, "invoke", "cas", [1, 2]), (1, "ok", "cas", False))
    assert check(h, get_model("etcd")).verdict == "invalid"


def test_partitions_are_independent() -> None:
    h = hist(
        (0, "invoke", "put", 1, "a"), (0, "ok", "put", 1, "a"),
        (1, "invoke", "get", None, "b"), (1, "ok", "get", 1, "b"),
    )
    v = check(h, get_model("kv-register"))
    assert v.verdict == "invalid"
    assert v.failing is not None and v.failing.key == "b"


def test_unknown_when_budget_exhausted() -> None:
    rng = random.Random(3)
    rows: list[tuple[Any, ...]] = []
    # many concurrent indeterminate writes then reads that force exploring orders
    for p in range(14):
        rows.append((p, "invoke", "write", p))
    for p in range(14, 20):
        rows.append((p, "invoke", "read", None))
    for p in range(14, 20):
        rows.append((p, "ok", "read", rng.randrange(100, 200)))
    v = check(hist(*rows), get_model("etcd"), max_states=50)
    assert v.verdict in ("unknown", "invalid")
    v2 = check(hist(*rows), get_model("etcd"), max_states=10)
    j = verdict_json(v2, get_model("etcd"))
    assert j["verdict"] in ("unknown", "invalid")


def test_unknown_reports_reason_and_hint() -> None:
    rows: list[tuple[Any, ...]] = []
    for p in range(16):
        rows.append((p, "invoke", "write", p))
    for q in range(16):  # long reads observing every written value keep every write relevant
        rows.append((100 + q, "invoke", "read", None))
    for q in range(16):
        rows.append((100 + q, "ok", "read", q))
    rows.append((99, "invoke", "read", None))
    rows.append((99, "ok", "read", 7))
    rows.append((98, "invoke", "read", None))
    rows.append((98, "ok", "read", 3))
    rows.append((97, "invoke", "read", None))
    rows.append((97, "ok", "read", 7))
    v = check(hist(*rows), get_model("etcd"), max_states=20)
    assert v.verdict == "unknown"
    assert "state budget" in v.reason
    assert "indeterminate" in v.hint


def test_unknown_operation_for_model_is_input_error() -> None:
    h = hist((0, "invoke", "append", "x", "k"), (0, "ok", "append", "x", "k"))
    with pytest.raises(ModelError, match="no operation 'append'"):
        check(h, get_model("etcd"))


def test_unknown_model_name() -> None:
    with pytest.raises(ModelError, match="unknown model 'regster'"):
        get_model("regster")


def test_mutex_double_acquire_invalid() -> None:
    h = hist((0, "invoke", "acquire", None), (0, "ok", "acquire", None), (1, "invoke", "acquire", None), (1, "ok", "acquire", None))
    assert check(h, get_model("mutex")).verdict == "invalid"


def test_queue_fifo() -> None:
    ok = hist(
        (0, "invoke", "enqueue", 1), (0, "ok", "enqueue", 1),
        (0, "invoke", "enqueue", 2), (0, "ok", "enqueue", 2),
        (1, "invoke", "dequeue", None), (1, "ok", "dequeue", 1),
    )
    bad = hist(
        (0, "invoke", "enqueue", 1), (0, "ok", "enqueue", 1),
        (0, "invoke", "enqueue", 2), (0, "ok", "enqueue", 2),
        (1, "invoke", "dequeue", None), (1, "ok", "dequeue", 2),
    )
    assert check(ok, get_model("queue")).verdict == "valid"
    assert check(bad, get_model("queue")).verdict == "invalid"


def test_multi_register_txn() -> None:
    h = hist(
        (0, "invoke", "txn", [["write", "x", 1], ["write", "y", 1]]),
        (0, "ok", "txn", [["write", "x", 1], ["write", "y", 1]]),
        (1, "invoke", "txn", [["read", "x", None], ["read", "y", None]]),
        (1, "ok", "txn", [["read", "x", 1], ["read", "y", 0]]),
    )
    assert check(h, get_model("multi-register")).verdict == "invalid"


def test_kv_append() -> None:
    h = hist(
        (0, "invoke", "append", "a", "k"), (0, "ok", "append", "a", "k"),
        (1, "invoke", "append", "b", "k"), (1, "ok", "append", "b", "k"),
        (2, "invoke", "get", None, "k"), (2, "ok", "get", "ba", "k"),
    )
    assert check(h, get_model("kv")).verdict == "invalid"


# ----------------------------------------------------------------------------- properties

def _simulate(seed: int, n_ops: int, n_procs: int, info_rate: float, model_name: str) -> list[Event]:
    """Run a register by really applying ops at random instants inside their windows.

    Each op gets invoke time < effect time < return time; effects happen in a real order,
    so the history is linearizable by construction.  Some ops are reported as info (their
    effect may or may not have happened -- here it happens, or is skipped at random).
    """
    rng = random.Random(seed)
    state: Any = None
    events: list[tuple[float, int, Event]] = []
    t_free = [0.0] * n_procs
    timeline: list[tuple[float, int, str, Any, Any]] = []
    for i in range(n_ops):
        p = rng.randrange(n_procs)
        start = t_free[p] + rng.random()
        effect = start + rng.random() * 3
        end = effect + rng.random() * 3
        f = rng.choice(["read", "write", "cas"]) if model_name == "etcd" else rng.choice(["read", "write"])
        val: Any = rng.randrange(4) if f == "write" else ([rng.randrange(3), rng.randrange(3)] if f == "cas" else None)
        timeline.append((effect, i, f, val, p))
        t_free[p] = end + 0.01
        events.append((start, 0, Event(p * 1000 + i, "invoke", f, val)))
        events.append((end, 1, Event(p * 1000 + i, "ok", f, None, extra=(("id", i),))))
    outputs: dict[int, Any] = {}
    skipped: set[int] = set()
    info: set[int] = set()
    for _effect, i, f, val, _p in sorted(timeline):
        if rng.random() < info_rate:
            info.add(i)
            if rng.random() < 0.5:
                skipped.add(i)
                continue
        if f == "read":
            outputs[i] = state
        elif f == "write":
            state = val
        else:
            if state == val[0]:
                state = val[1]
                outputs[i] = True
            else:
                outputs[i] = False
    out: list[Event] = []
    for _, _, ev in sorted(events, key=lambda x: (x[0], x[1])):
        if ev.type == "ok":
            i = dict(ev.extra)["id"]
            if i in info:
                out.append(Event(ev.process, "info", ev.f, None))
                continue
            out.append(Event(ev.process, "ok", ev.f, outputs.get(i)))
        else:
            out.append(ev)
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), n=st.integers(1, 40), procs=st.integers(1, 6), info=st.sampled_from([0.0, 0.1, 0.3]))
def test_generated_linearizable_histories_are_valid(seed: int, n: int, procs: int, info: float) -> None:
    h = History.from_events(_simulate(seed, n, procs, info, "etcd"))
    assert check(h, get_model("etcd")).verdict == "valid"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), n=st.integers(2, 8), procs=st.integers(1, 4), info=st.sampled_from([0.0, 0.2]))
def test_checker_agrees_with_brute_force_on_mutated_histories(seed: int, n: int, procs: int, info: float) -> None:
    events = _simulate(seed, n, procs, info, "etcd")
    rng = random.Random(seed)
    # mutate one read (if any) to a random value: may or may not break linearizability
    reads = [i for i, e in enumerate(events) if e.type == "ok" and e.f == "read"]
    if reads:
        i = rng.choice(reads)
        ev = events[i]
        events[i] = Event(ev.process, "ok", "read", rng.choice([None, 0, 1, 2, 3]))
    h = History.from_events(events)
    m = get_model("etcd")
    assert (check(h, m).verdict == "valid") == is_linearizable(h.operations, m)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), n=st.integers(2, 8), procs=st.integers(1, 4))
def test_impossible_read_is_invalid(seed: int, n: int, procs: int) -> None:
    events = _simulate(seed, n, procs, 0.0, "etcd")
    reads = [i for i, e in enumerate(events) if e.type == "ok" and e.f == "read"]
    m = get_model("etcd")
    for i in reads:
        ev = events[i]
        mutated = list(events)
        mutated[i] = Event(ev.process, "ok", "read", 99)  # never written: provably impossible
        h = History.from_events(mutated)
        assert not is_linearizable(h.operations, m)
        assert check(h, m).verdict == "invalid"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), n=st.integers(2, 8), procs=st.integers(1, 4), info=st.sampled_from([0.0, 0.3]))
def test_register_model_agrees_with_brute_force(seed: int, n: int, procs: int, info: float) -> None:
    events = _simulate(seed, n, procs, info, "register")
    rng = random.Random(seed + 1)
    oks = [i for i, e in enumerate(events) if e.type == "ok" and e.f == "read"]
    if oks:
        i = rng.choice(oks)
        events[i] = Event(events[i].process, "ok", "read", rng.choice([0, 1, 2, 3]))
    h = History.from_events(events)
    m = get_model("cas-register")
    assert (check_operations(h.operations, m).verdict == "valid") == is_linearizable(h.operations, m)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), n=st.integers(2, 8), procs=st.integers(1, 4), info=st.sampled_from([0.2, 0.5]))
def test_pruning_unobserved_indeterminate_writes_keeps_verdicts(seed: int, n: int, procs: int, info: float) -> None:
    """kv-register prunes info writes nobody observes; the brute-force oracle does not prune."""
    events = _simulate(seed, n, procs, info, "register")
    rng = random.Random(seed + 7)
    reads = [i for i, e in enumerate(events) if e.type == "ok" and e.f == "read"]
    if reads and rng.random() < 0.5:
        i = rng.choice(reads)
        events[i] = Event(events[i].process, "ok", "read", rng.choice([None, 0, 1, 2, 3]))
    h = History.from_events(events)
    m = get_model("kv-register")
    assert (check(h, m).verdict == "valid") == is_linearizable(h.operations, m)


def test_pruning_makes_many_unobserved_timeouts_cheap() -> None:
    rows: list[tuple[Any, ...]] = [(0, "invoke", "write", 1), (0, "ok", "write", 1)]
    for p in range(1, 40):
        rows.append((p, "invoke", "write", 100 + p))  # 39 writes that time out, never read
    rows += [(99, "invoke", "read", None), (99, "ok", "read", 1)]
    v = check(hist(*rows), get_model("kv-register"), max_states=10_000)
    assert v.verdict == "valid"
    rows += [(98, "invoke", "read", None), (98, "ok", "read", 7)]
    assert check(hist(*rows), get_model("kv-register"), max_states=10_000).verdict == "invalid"
