"""Explicit script workloads: loading, running as written, validation, TOML and replay bytes."""

from __future__ import annotations

import random
import tomllib
from pathlib import Path
from typing import Any

import pytest

from analysis.history import Event
from analysis.records import dumps_record, history_jsonl
from scenarios.runner import run_scenario
from scenarios.script import ScriptOp, ScriptWorkload, script_entries, script_from_history
from scenarios.spec import ScenarioError, catalog, from_dict, load
from splitbrain.cli import main

HEAD = '''name = "five-ops"
summary = "five operations written by hand"
system = "raft-kv"
nodes = 3
clients = 2
duration_ms = 3000
seed = 4
'''


def entry(client: int, at: int, f: str, key: str | None = None, value: object = None) -> str:
    lines = ["[[workload.script]]", f"client = {client}", f"at = {at}", f'f = "{f}"']
    if key is not None:
        lines.append(f'key = "{key}"')
    if value is not None:
        lines.append(f"value = {value}")
    return "\n".join(lines) + "\n"


def write(tmp_path: Path, body: str, name: str = "s.toml") -> Path:
    p = tmp_path / name
    p.write_text(body)
    return p


def ms(e: Event) -> int:
    assert e.time is not None
    return e.time // 1_000_000


def invokes(events: list[Event]) -> list[tuple[int | str, int, str, str | None, Any]]:
    """(process, invoke ms, f, key, value) of every invocation, in history order."""
    return [(e.process, ms(e), e.f, e.key, e.value) for e in events if e.type == "invoke"]


def test_a_hand_written_script_runs_as_written(tmp_path: Path) -> None:
    body = HEAD + "".join([
        entry(0, 500, "put", "k1", 3),
        entry(1, 1500, "get", "k1"),
        entry(0, 1000, "cas", "k1", "[3, 4]"),
        entry(0, 1000, "get", "k1"),  # due while the cas runs: starts when the cas completes
        entry(1, 2000, "put", "k2", '"text"'),
    ])
    sc = load(str(write(tmp_path, body)))
    out = run_scenario(sc)
    got = invokes(out.events)
    assert [(p, f, k, v) for p, _, f, k, v in got] == [
        (0, "put", "k1", 3), (0, "cas", "k1", [3, 4]), (0, "get", "k1", None), (1, "get", "k1", None),
        (1, "put", "k2", "text")]
    times = {(p, f, k): t for p, t, f, k, _ in got}
    assert times[(0, "put", "k1")] == 500 and times[(0, "cas", "k1")] == 1000
    assert times[(1, "get", "k1")] == 1500 and times[(1, "put", "k2")] == 2000
    cas_done = next(ms(e) for e in out.events if e.type != "invoke" and e.f == "cas")
    assert times[(0, "get", "k1")] == cas_done > 1000
    assert out.verdict == "valid"
    assert out.stats["operations"] == 5


def test_a_script_with_no_entries_runs_no_operation(tmp_path: Path) -> None:
    sc = load(str(write(tmp_path, HEAD + "workload = { script = [] }\n")))
    assert run_scenario(sc).events == []


def test_every_system_can_be_scripted(tmp_path: Path) -> None:
    saga = write(tmp_path, 'name = "two-trips"\nsummary = "s"\nextends = "saga-healthy-queue"\nclients = 1\n'
                 'duration_ms = 6000\nfaults = []\n' + entry(0, 0, "book", "trip-a", '"ok"')
                 + entry(0, 100, "book", "trip-b", '"card-declined"'), "saga.toml")
    out = run_scenario(load(str(saga)))
    assert [(f, k, v) for _, _, f, k, v in invokes(out.events)] == [
        ("book", "trip-a", "ok"), ("book", "trip-b", "card-declined")]
    assert [e.value for e in out.events if e.type == "ok"] == ["booked", "cancelled"]
    doc = write(tmp_path, 'name = "one-doc"\nsummary = "s"\nextends = "pipeline-ingest"\nclients = 1\n'
                'faults = []\n' + entry(0, 10, "write", "d1", '"raft quorum lease"'), "doc.toml")
    out = run_scenario(load(str(doc)))
    assert [(f, k, v) for _, _, f, k, v in invokes(out.events)] == [("write", "d1", "raft quorum lease")]
    quorum = write(tmp_path, 'name = "q"\nsummary = "s"\nextends = "quorum-majority"\nclients = 1\nfaults = []\n'
                   + entry(0, 0, "write", "k0", 1) + entry(0, 5, "read", "k0"), "q.toml")
    out = run_scenario(load(str(quorum)))
    assert [e.value for e in out.events if e.type == "ok"][-1] == 1


BAD = [
    (entry(2, 0, "put", "k1", 1), "workload.script[0]: client must be an integer from 0 to 1"),
    (entry(0, -5, "put", "k1", 1), "workload.script[0]: at must be a whole number of milliseconds"),
    (entry(0, 0, "book", "k1", 1), "workload.script[0]: f = 'book' is not an operation of the key-value store"),
    (entry(0, 0, "put", "k1"), "workload.script[0]: a put needs a value"),
    (entry(0, 0, "get", "k1", 4), "workload.script[0]: a get takes no value"),
    (entry(0, 0, "get"), "workload.script[0]: a get needs a key"),
    (entry(0, 0, "put", "k1", 1) + entry(0, 0, "cas", "k1", "[1]"), "workload.script[1]: a cas needs value = [expected, new]"),
    (entry(0, 0, "put", "k1", 1) + "nonsense = 3\n", "workload.script[0]: unknown field 'nonsense'"),
    ("[[workload.script]]\nclient = 0\n", "workload.script[0]: missing the operation name 'f'"),
    ("[workload]\nkeys = 3\nscript = []\n", "a script workload lists every operation itself; remove 'keys'"),
    ("[workload]\nscript = 5\n", "workload.script must be a list of tables"),
]


@pytest.mark.parametrize(("body", "needle"), BAD)
def test_a_bad_script_entry_is_named(tmp_path: Path, body: str, needle: str) -> None:
    path = write(tmp_path, HEAD + body)
    with pytest.raises(ScenarioError) as e:
        load(str(path))
    msg = str(e.value)
    assert msg.startswith(str(path)) and needle in msg and "\n" not in msg


def test_a_saga_script_books_each_trip_once(tmp_path: Path) -> None:
    path = write(tmp_path, 'name = "x"\nsummary = "s"\nextends = "saga-healthy-queue"\n'
                 + entry(0, 0, "book", "t1", '"ok"') + entry(1, 0, "book", "t1", '"ok"'))
    with pytest.raises(ScenarioError, match="trip id 't1' is booked twice"):
        load(str(path))


def test_a_bad_script_on_the_command_line_is_one_line_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, HEAD + entry(0, 0, "put", "k1", 1) + entry(1, 0, "delete", "k1"))
    assert main(["run", str(path), "--store", str(tmp_path / "store")]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "workload.script[1]: f = 'delete' is not an operation" in err[0]
    assert not (tmp_path / "store").exists()


def test_a_script_replays_byte_for_byte(tmp_path: Path) -> None:
    body = HEAD + "".join(entry(c, 100 * i, "put" if i % 2 else "get", f"k{i % 2}", i if i % 2 else None)
                          for i in range(8) for c in (0, 1))
    sc = load(str(write(tmp_path, body)))
    a, b = run_scenario(sc), run_scenario(sc)
    assert history_jsonl(a.events) == history_jsonl(b.events)
    assert [dumps_record(r) for r in a.trace] == [dumps_record(r) for r in b.trace]


def test_script_workload_keeps_a_slot_s_script_across_process_ids() -> None:
    wl = ScriptWorkload([ScriptOp(50, 1, "get", "k"), ScriptOp(10, 0, "put", "k", 1), ScriptOp(20, 0, "get", "k")], 2)
    rng = random.Random(0)
    assert wl.due_ms(0) == 10 and wl.due_ms(1) == 50
    assert wl.next_op(0, rng) == ("put", "k", 1)
    assert wl.due_ms(2) == 20  # process 2 is slot 0 after an info
    assert wl.next_op(2, rng) == ("get", "k", None)
    assert wl.due_ms(0) is None and wl.next_op(0, rng) is None
    assert wl.next_op(1, rng) == ("get", "k", None)


@pytest.mark.parametrize("name", sorted(catalog()))
def test_every_catalog_scenario_round_trips_through_toml(name: str) -> None:
    sc = catalog()[name]
    assert from_dict(tomllib.loads(sc.to_toml())) == sc


def test_a_script_scenario_round_trips_through_toml() -> None:
    ops = [ScriptOp(0, 0, "put", "k1", 1), ScriptOp(5, 1, "cas", "k1", (1, 2)), ScriptOp(5, 1, "get", 'k"x')]
    sc = load("raft-split-brain-reads").with_overrides(
        workload={"script": script_entries(ops)}, clients=2, description="two\nlines \\ and \"quotes\"")
    text = sc.to_toml()
    assert "[[workload.script]]" in text
    assert from_dict(tomllib.loads(text)) == sc


def test_a_value_toml_cannot_hold_is_refused_by_name() -> None:
    sc = load("raft-split-brain-reads").with_overrides(
        workload={"script": [{"client": 0, "at": 0, "f": "cas", "key": "k", "value": [None, 1]}]})
    with pytest.raises(ValueError, match=r"workload\.script\[0\]\.value\[0\]: TOML has no null"):
        sc.to_toml()


@pytest.mark.parametrize("name", ["raft-lost-vote", "outbox-relay-crash", "pipeline-stale-version-overwrite"])
def test_a_generated_run_replays_as_the_script_of_what_it_invoked(name: str) -> None:
    sc = catalog()[name]
    generated = run_scenario(sc, trace_messages=False)
    script = script_from_history(generated.events, sc.clients)
    assert len(script) == sum(1 for e in generated.events if e.type == "invoke")
    scripted = run_scenario(sc.with_overrides(workload={"script": script_entries(script)}), trace_messages=False)
    assert history_jsonl(scripted.events) == history_jsonl(generated.events)
    def judged(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if k != "elapsed_s"} for r in results]

    assert judged(scripted.results) == judged(generated.results)


EXAMPLES = Path(__file__).resolve().parents[2] / "scenarios" / "examples"


@pytest.mark.parametrize(("name", "checker"), [("split-brain-read-by-hand", "linearizability"),
                                               ("duplicate-charge-by-hand", "idempotency")])
def test_the_hand_written_examples_fail_as_they_say(name: str, checker: str) -> None:
    sc = load(str(EXAMPLES / f"{name}.toml"))
    out = run_scenario(sc)
    assert out.stats["operations"] == len(sc.workload["script"]) <= 2
    assert any(r["checker"] == checker and r["verdict"] == "invalid" for r in out.results)
    assert out.verdict == "invalid"
    assert run_scenario(sc.with_overrides(flaws=())).verdict == "valid", "the correct design passes the same script"


def test_vocabularies_offer_simpler_operations() -> None:
    from scenarios.systems import get_system

    doc = get_system("pipeline").script
    booking = get_system("saga").script
    kv = get_system("raft-kv").script
    assert doc is not None and booking is not None and kv is not None
    op = ScriptOp(5, 1, "write", "d2", "raft quorum lease clock skew partition")
    assert [o.value for o in doc.simpler(op)] == ["raft", "raft quorum lease"]
    assert doc.simpler(ScriptOp(5, 1, "write", "d2", "raft")) == []
    assert [o.value for o in booking.simpler(ScriptOp(0, 0, "book", "t", "card-declined"))] == ["ok"]
    assert booking.simpler(ScriptOp(0, 0, "book", "t", "ok")) == []
    assert kv.simpler(ScriptOp(0, 0, "put", "k0", 1)) == []
    for o in doc.simpler(op) + booking.simpler(ScriptOp(0, 0, "book", "t", "hotel-full")):
        assert (doc.check(o) if o.f == "write" else booking.check(o)) is None
