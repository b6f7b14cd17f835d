"""The pipeline system end to end in the simulator: verdicts, evidence, cost, determinism."""

from __future__ import annotations

from analysis.records import dumps_record
from scenarios.runner import run_scenario, simulate
from scenarios.spec import load
from scenarios.systems import get_system


def _result(out: object, checker: str) -> dict:
    return next(r for r in out.results if r["checker"] == checker)  # type: ignore[attr-defined]


def test_system_is_registered_with_flaws_and_triggers() -> None:
    s = get_system("pipeline")
    assert s.flaws.names() == ("last_write_wins", "ack_before_embed", "no_dedup", "unstable_chunk_ids")
    assert all(s.flaws.describe(n) for n in s.flaws.names())
    assert "batch-started" in s.triggers and s.fault_menu


def test_stale_overwrite_is_explained_with_faults_active() -> None:
    out = run_scenario(load("pipeline-stale-version-overwrite"), trace_messages=False)
    r = _result(out, "pipeline")
    assert r["verdict"] == "invalid"
    v = r["violations"][0]
    assert v["invariant"] == "no-stale-overwrite" and v["head_before"] > v["version"]
    assert any("degraded links" in f for f in v["faults_active"])


def test_ack_before_embed_loses_documents() -> None:
    out = run_scenario(load("pipeline-ack-before-embed"), trace_messages=False)
    inv = {v["invariant"] for v in _result(out, "pipeline")["violations"]}
    assert inv & {"no-lost-document", "no-stale-document"}
    assert _result(out, "delivery")["verdict"] == "invalid"


def test_no_dedup_is_waste_not_a_violation() -> None:
    sc = load("pipeline-redelivery-storm-cost")
    good = run_scenario(sc, trace_messages=False)
    bad = run_scenario(sc.with_overrides(flaws=("no_dedup",)), trace_messages=False)
    assert good.verdict == "valid" and bad.verdict == "valid"
    g, b = _result(good, "pipeline")["stats"], _result(bad, "pipeline")["stats"]
    assert b["chunks_wasted"] > g["chunks_wasted"]
    assert any(line.startswith("Cost:") for line in _result(bad, "pipeline")["explanation"])


def test_same_seed_same_trace() -> None:
    sc = load("pipeline-worker-crash-mid-batch")
    a, _ = simulate(sc)
    b, _ = simulate(sc)
    assert [dumps_record(r) for r in a.trace] == [dumps_record(r) for r in b.trace]
