"""The linear pre-check, the distinct-value witness, and the budgets over the whole check.

WGL stays the oracle: every verdict reached through a pre-check or a witness must be the
one the plain search reaches on the same history (a model with both hooks removed).
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.bruteforce import is_linearizable
from analysis.explain import verdict_json
from analysis.generate import register_history
from analysis.history import Event, History, Operation
from analysis.linearizability import check, verify_witness
from analysis.models import Model, get_model

ROOT = Path(__file__).resolve().parents[2]


def search_only(model: Model) -> Model:
    """The same model, checked by the WGL search alone."""
    return dataclasses.replace(model, witness=None, impossible=None)


def simulate(seed: int, n_ops: int, procs: int, info_rate: float, cas: bool, distinct: bool = True) -> list[Event]:
    """A register really applied at one instant inside each operation's window: linearizable
    by construction.  Writes and swaps write fresh values (``distinct``) or a few values."""
    rng = random.Random(seed)
    fresh = iter(range(1, 10**9))
    timeline = []
    events: list[tuple[float, int, Event]] = []
    t_free = [0.0] * procs
    recent: list[Any] = [None]
    for i in range(n_ops):
        p = rng.randrange(procs)
        start = t_free[p] + rng.random()
        effect = start + rng.random() * 3
        end = effect + rng.random() * 3
        t_free[p] = end + 0.01
        f = rng.choice(["get", "put", "cas"] if cas else ["get", "put"])
        new = next(fresh) if distinct else rng.randrange(3)
        value: Any = None if f == "get" else (new if f == "put" else [rng.choice(recent[-3:]), new])
        if f != "get":
            recent.append(new)
        timeline.append((effect, i, f, value))
        events.append((start, 2 * i, Event(p * 10_000 + i, "invoke", f, value, key="k")))
        events.append((end, 2 * i + 1, Event(p * 10_000 + i, "ok", f, None, key="k", extra=(("id", i),))))
    state: Any = None
    outputs: dict[int, Any] = {}
    info: set[int] = set()
    for _effect, i, f, value in sorted(timeline):
        if rng.random() < info_rate:
            info.add(i)
            if rng.random() < 0.5:
                continue
        if f == "get":
            outputs[i] = state
        elif f == "put":
            state = value
            outputs[i] = value
        else:
            outputs[i] = state == value[0]
            if state == value[0]:
                state = value[1]
    out = []
    for _, _, ev in sorted(events, key=lambda x: (x[0], x[1])):
        if ev.type == "ok":
            i = dict(ev.extra)["id"]
            out.append(Event(ev.process, "info" if i in info else "ok", ev.f, None if i in info else outputs[i], key="k"))
        else:
            out.append(ev)
    return out


def mutate(events: list[Event], seed: int) -> list[Event]:
    """Change one completed read to another value seen in the history (or nil)."""
    rng = random.Random(seed)
    reads = [i for i, e in enumerate(events) if e.type == "ok" and e.f == "get"]
    if not reads:
        return events
    seen = [e.value for e in events if e.f == "put" and e.type == "invoke"] + [None]
    i = rng.choice(reads)
    out = list(events)
    out[i] = Event(events[i].process, "ok", "get", rng.choice(seen), key="k")
    return out


# --------------------------------------------------------------------------- agreement


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(1, 60),
    procs=st.integers(1, 8),
    info=st.sampled_from([0.0, 0.1, 0.3]),
    cas=st.booleans(),
    bad=st.booleans(),
)
def test_witness_and_pre_check_agree_with_the_search(seed: int, n: int, procs: int, info: float, cas: bool, bad: bool) -> None:
    events = simulate(seed, n, procs, info, cas)
    if bad:
        events = mutate(events, seed)
    h = History.from_events(events)
    m = get_model("kv-register")
    fast = check(h, m)
    slow = check(h, search_only(m), max_states=5_000_000)
    assert fast.verdict == slow.verdict
    if not bad:
        assert fast.verdict == "valid"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), n=st.integers(1, 8), procs=st.integers(1, 4), info=st.sampled_from([0.0, 0.3]),
       cas=st.booleans(), model=st.sampled_from(["kv-register", "cas-register", "register"]))
def test_small_histories_agree_with_brute_force(seed: int, n: int, procs: int, info: float, cas: bool, model: str) -> None:
    events = mutate(simulate(seed, n, procs, info, cas and model != "register"), seed + 1)
    if model != "kv-register":  # Knossos models: a failed swap is a 'fail', gets/puts are read/write
        events = [_knossos(e) for e in events]
    h = History.from_events(events)
    m = get_model(model)
    assert (check(h, m).verdict == "valid") == is_linearizable(h.operations, m)


def _knossos(e: Event) -> Event:
    f = {"get": "read", "put": "write"}.get(e.f, e.f)
    if e.f == "cas" and e.type == "ok":
        return Event(e.process, "ok" if e.value else "fail", f, None)
    return Event(e.process, e.type, f, e.value)


def test_duplicate_values_fall_back_to_the_search() -> None:
    h = History.from_events(simulate(5, 40, 4, 0.0, cas=False, distinct=False))
    v = check(h, get_model("kv-register"))
    assert v.verdict == "valid"
    assert {p.method for p in v.parts} == {"search"}


def test_a_long_key_is_proved_by_its_witness() -> None:
    h = History.from_events(register_history(20_000, keys=1, concurrency=10, info_writes=20, seed=3))
    v = check(h, get_model("kv-register"), max_states=100_000)
    assert v.verdict == "valid"
    assert [p.method for p in v.parts] == ["witness"]
    assert v.states <= len(h.operations)


def test_verify_witness_is_the_definition() -> None:
    m = get_model("kv-register")
    h = History.from_events([
        Event(0, "invoke", "put", 1, key="k"), Event(0, "ok", "put", 1, key="k"),
        Event(1, "invoke", "get", None, key="k"), Event(1, "ok", "get", 1, key="k"),
        Event(2, "invoke", "put", 2, key="k"),  # indeterminate: may be left out
    ])
    w, r, x = h.operations
    fns = {op.id: m.compile_op(op, op.output) for op in h.operations}
    assert verify_witness([w, r], h.operations, fns, m)
    assert verify_witness([w, r, x], h.operations, fns, m)
    assert not verify_witness([r, w], h.operations, fns, m)  # illegal step (and real time)
    assert not verify_witness([w], h.operations, fns, m)  # a completed op left out
    assert not verify_witness([w, r, r], h.operations, fns, m)  # placed twice
    assert not verify_witness([w, x, r], h.operations, fns, m)  # the read would see 2


# --------------------------------------------------------------------------- pre-check


def test_read_of_a_value_nobody_wrote_is_invalid_without_search() -> None:
    evs = [Event(p, t, "put", p, key="k") for p in range(12) for t in ("invoke",)]  # 12 open writes
    evs += [Event(50, "invoke", "get", None, key="k"), Event(50, "ok", "get", 99, key="k")]
    h = History.from_events(evs)
    m = get_model("kv-register")
    v = check(h, m, max_states=10)
    assert v.verdict == "invalid"
    assert v.states == 0
    assert v.parts[0].method == "pre-check"
    assert "no operation wrote" in v.reason
    j = verdict_json(v, m)
    assert j["counterexample"]["blocker"] == h.operations[-1].id
    assert "99" in " ".join(j["explanation"])


def test_read_that_returned_before_its_write_began_is_invalid() -> None:
    h = History.from_events([
        Event(1, "invoke", "get", None, key="k"), Event(1, "ok", "get", 7, key="k"),
        Event(0, "invoke", "put", 7, key="k"), Event(0, "ok", "put", 7, key="k"),
    ])
    v = check(h, get_model("kv-register"))
    assert v.verdict == "invalid"
    assert "before any write" in v.reason


def test_queue_and_multi_register_pre_checks() -> None:
    q = History.from_events([Event(0, "invoke", "dequeue", None), Event(0, "ok", "dequeue", 5)])
    assert check(q, get_model("queue")).parts[0].method == "pre-check"
    t = History.from_events([Event(0, "invoke", "txn", [["read", "x", None]]), Event(0, "ok", "txn", [["read", "x", 3]])])
    v = check(t, get_model("multi-register"))
    assert v.verdict == "invalid" and v.parts[0].method == "pre-check"


# --------------------------------------------------------------------------- budgets


def hard_keys(keys: int, width: int = 14) -> list[Event]:
    """Per key: ``width`` concurrent writes that never return, each observed by a long
    read, then reads whose values force trying many subsets (a hard valid/invalid key)."""
    evs: list[Event] = []
    for k in range(keys):
        key = f"k{k}"
        base = 1000 * k
        for p in range(width):
            evs.append(Event(base + p, "invoke", "put", p % 4, key=key))
        for q in range(width):
            evs.append(Event(base + 100 + q, "invoke", "get", None, key=key))
        for q in range(width):
            evs.append(Event(base + 100 + q, "ok", "get", q % 4, key=key))
        for r, v in enumerate((3, 1, 3, 2, 0, 2)):
            evs.append(Event(base + 200 + r, "invoke", "get", None, key=key))
            evs.append(Event(base + 200 + r, "ok", "get", v, key=key))
    return evs


def test_state_cap_is_over_the_whole_history() -> None:
    h = History.from_events(hard_keys(12))
    v = check(h, get_model("kv-register"), max_states=5_000)
    assert v.verdict == "unknown"
    assert "over the whole history" in v.reason
    # each part may overshoot by at most one yield's worth of work before the driver sees it
    assert v.states <= 5_000 + 12 * 1024


def test_memory_budget_ends_in_unknown() -> None:
    h = History.from_events(hard_keys(2))
    v = check(h, get_model("kv-register"), max_states=10**9, max_memory=1 << 20)
    assert v.verdict == "unknown"
    assert "memory budget" in v.reason


def test_memory_error_in_the_search_is_unknown_not_a_crash() -> None:
    base = get_model("kv-register")
    calls = {"n": 0}

    def compile_op(op: Operation, output: Any) -> Any:
        fn = base.compile_op(op, output)

        def run(state: Any) -> Any:
            calls["n"] += 1
            if calls["n"] > 500:
                raise MemoryError
            return fn(state)

        return run

    m = dataclasses.replace(search_only(base), compile=compile_op)
    v = check(History.from_events(hard_keys(2)), m, max_states=10**9)
    assert v.verdict == "unknown"
    assert "MemoryError" in v.reason


def adversarial(path: Path, prefix: int = 20_000) -> None:
    """One key: a long run of sequential puts and gets with repeated values (no witness;
    every memoised state then carries a wide bitset), then a hard concurrent tail."""
    evs: list[Event] = []
    for i in range(prefix):
        evs.append(Event(0, "invoke", "put", i % 3, key="k"))
        evs.append(Event(0, "ok", "put", i % 3, key="k"))
    for e in hard_keys(1, width=18):
        evs.append(Event(int(e.process) + 10, e.type, e.f, e.value, key="k"))
    path.write_text("".join(json.dumps({"process": e.process, "type": e.type, "f": e.f, "key": e.key,
                                        "value": e.value}) + "\n" for e in evs))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS semantics are Linux's")
def test_address_space_limit_gives_unknown_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "adversarial.jsonl"
    adversarial(path)
    limit = 512 << 20  # of address space: the checker must notice before it runs out

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "splitbrain", "check", str(path), "--model", "kv-register", "--json",
         "--max-states", "1000000000", "--timeout", "300", "--max-memory", "64G"],
        capture_output=True, text=True, cwd=ROOT, timeout=600, preexec_fn=cap, env=env,
    )
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-500:], proc.stderr[-500:])
    out = json.loads(proc.stdout)
    assert out["verdict"] == "unknown"
    assert "address-space limit" in out["reason"] or "MemoryError" in out["reason"]


def test_memory_budget_counts_what_the_check_adds_not_what_the_process_already_holds() -> None:
    """A long-lived process (a test suite, a sweep worker) that already holds more than the
    budget must get the same verdict as a fresh ``splitbrain check``."""
    ballast = bytearray(256 << 20)  # already resident before the check starts
    ballast[:: 1 << 12] = b"x" * len(ballast[:: 1 << 12])
    h = History.from_events(hard_keys(1, width=11))
    fresh = check(h, get_model("kv-register"), max_states=10**9)
    # more than this search adds (~15 MiB), less than the process holds (pytest + ballast)
    v = check(h, get_model("kv-register"), max_states=10**9, max_memory=200 << 20)
    assert v.verdict == fresh.verdict != "unknown", v.reason
    del ballast
