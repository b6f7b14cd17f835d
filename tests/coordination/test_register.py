"""The leaderless register: dotted version vectors as transcripts, LWW's lost update, and the
lost-update checker on the runs the catalog pair makes (plus concurrent carts)."""

from __future__ import annotations

import random

import pytest

from cluster.core.replicated_register import (
    Fetched,
    RegisterConfig,
    RegisterFlaws,
    RegisterNode,
    Replicate,
)
from cluster.core.siblings import Version, read_context, resolve, store
from cluster.core.types import ClientReply, ClientRequest, Put
from scenarios.runner import run_scenario
from scenarios.spec import catalog

NODES = ("n1", "n2", "n3")


def v(node: str, counter: int, value: tuple[int, ...], context: tuple[tuple[str, int], ...] = (), ts: int = 0) -> Version:
    return Version(value, node, counter, context, ts)


def test_a_write_replaces_exactly_the_versions_it_read() -> None:
    a = v("n1", 1, (1,))
    b = v("n2", 1, (2,))  # concurrent with a: neither read the other
    kept, gone = store((a,), b)
    assert kept == (a, b) and gone == ()  # siblings
    merged = v("n1", 2, (1, 2, 3), read_context(kept))
    kept, gone = store(kept, merged)
    assert kept == (merged,) and set(gone) == {a, b}
    assert store(kept, a) == (kept, ())  # a late copy of an obsolete version is dropped


def test_two_concurrent_writes_through_one_coordinator_stay_siblings() -> None:
    """Plain per-server version vectors would order {n1: 1} before {n1: 2} and drop the first;
    the dot says each stands for its own write."""
    first = v("n1", 1, (1,))
    second = v("n1", 2, (2,))  # written with an empty context: it never saw the first
    assert store((first,), second)[0] == (first, second)
    assert resolve([(first,), (second,)], lww=False) == (first, second)


def test_last_write_wins_keeps_the_higher_timestamp_even_over_a_write_that_read_it() -> None:
    node = RegisterNode("n1", NODES, RegisterConfig(), random.Random(1), flaws=RegisterFlaws(last_write_wins=True))
    old = v("n2", 1, (1,), ts=1000)
    newer = v("n3", 1, (1, 2), read_context((old,)), ts=-500)  # read `old`, stamped by a clock behind
    node.step(Replicate("n2", "n1", 1, 1, "k", old))
    node.step(Replicate("n3", "n1", 1, 1, "k", newer))
    r = node.ready()
    assert node.data["k"] == (old,)
    assert [e.data["dot"] for e in r.events if e.kind == "lww-discard"] == [["n3", 1]]


def test_a_coordinator_never_reuses_a_dot_after_a_restart_and_answers_with_siblings() -> None:
    node = RegisterNode("n1", NODES, RegisterConfig(r=2, w=1), random.Random(1))
    node.tick(0, 0)
    node.step(ClientRequest("c0", "n1", "c0", 1, "put", "k", ((1,), ())))
    r = node.ready()
    assert [m.status for m in r.replies] == ["ok"] and any(op.key == "counter" for op in r.persist)
    durable = {op.key: op.value for op in r.persist if isinstance(op, Put)}
    again = RegisterNode("n1", NODES, RegisterConfig(r=2, w=1), random.Random(2), durable=durable)
    again.step(ClientRequest("c1", "n1", "c1", 1, "put", "k", ((2,), ())))
    again.ready()
    assert [x.counter for x in again.data["k"]] == [1, 2]  # concurrent: both kept
    again.step(ClientRequest("c2", "n1", "c2", 1, "get", "k", None))
    fetch = again.ready().messages[0]
    again.step(Fetched("n2", "n1", fetch.epoch, fetch.rid, ()))  # type: ignore[attr-defined]
    reply = [m for m in again.ready().replies if isinstance(m, ClientReply)][0]
    values, context = reply.value
    assert sorted(values) == [(1,), (2,)] and dict(context) == {"n1": 2}


def test_the_lww_pair_names_the_causally_later_write_that_lost() -> None:
    out = run_scenario(catalog()["lww-clock-skew-lost-update"], trace_messages=False)
    r = out.results[0]
    assert r["verdict"] == "invalid"
    text = r["explanation"][1]
    assert "1500 ms behind" in text and "causally later, yet its timestamp was older" in text


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_concurrent_carts_under_faults_lose_nothing_with_siblings(seed: int) -> None:
    sc = catalog()["lww-clock-skew-lost-update-correct"]
    sc = sc.with_overrides(seed=seed, clients=4, workload={**sc.workload, "keys": 2}, faults=(
        *sc.faults,
        {"random": 0.6, "mean_duration": 500, "max_concurrent": 2, "start": 200, "stop": 9000,
         "kinds": ["partition:halves", "partition:isolate", "crash", "pause", "link"]},
    ))
    out = run_scenario(sc, trace_messages=False)
    assert out.verdict == "valid", out.results[0]["explanation"][:2]
    stores = [rec for rec in out.trace if rec.get("kind") == "register-store"]
    assert any(len(rec["kept"]) > 1 for rec in stores), "no siblings: the workload was not concurrent"
