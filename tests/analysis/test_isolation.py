"""The isolation checker on hand-written histories: one per anomaly class, each judged
against the models it should and should not break, and the stories it tells."""

from __future__ import annotations

import pytest

from analysis.history import Event, History, HistoryError
from analysis.isolation import check
from analysis.isolation.lattice import prohibited, ruled_out, weakest
from analysis.isolation.txn import from_history
from tests.analysis.isolation_helpers import data_types, history


def test_g0_write_cycle() -> None:
    # x is ordered T1 < T2, y is ordered T2 < T1: a cycle of writes alone.
    r = check(history("ax1 ay1", "ax2 ay2", "rx12 ry21"), consistency_model="read-uncommitted")
    assert r["verdict"] == "invalid"
    assert data_types(r) == ["G0"]
    assert r["not"] == ["read-uncommitted"]
    cyc = r["anomalies"]["G0"][0]
    assert [s["type"] for s in cyc["steps"]] == ["ww", "ww"]
    assert {t["id"] for t in cyc["txns"]} == {0, 1}
    assert "T1 appended 1 to x and T2 appended 2 right after it, so T1 < T2 (ww)." in cyc["story"]


def test_g1a_aborted_read() -> None:
    r = check(history(("ax1", "fail"), "rx1"), consistency_model="read-committed")
    assert r["verdict"] == "invalid"
    assert r["anomaly_types"] == ["G1a"]
    case = r["anomalies"]["G1a"][0]
    assert case["element"] == 1 and case["writer"]["id"] == 0 and case["op"]["id"] == 1
    assert "failed" in case["text"]
    assert r["not"] == ["read-committed"]
    # Read uncommitted allows reading uncommitted (and aborted) data.
    assert check(history(("ax1", "fail"), "rx1"), consistency_model="read-uncommitted")["verdict"] == "valid"


def test_g1b_intermediate_read() -> None:
    r = check(history("ax1 ax2", "rx1"), consistency_model="read-committed")
    assert r["verdict"] == "invalid"
    assert "G1b" in r["anomaly_types"]
    assert "later append of 2" in r["anomalies"]["G1b"][0]["text"]
    # It is also read skew: T2 saw 1 but not 2, which the same transaction appended.
    assert "G-single" in r["anomaly_types"]


def test_g1c_cyclic_information_flow() -> None:
    r = check(history("ax1 ry1", "ax2 ay1", "rx12"), consistency_model="read-committed")
    assert r["verdict"] == "invalid"
    assert data_types(r) == ["G1c"]
    kinds = sorted(s["type"] for s in r["anomalies"]["G1c"][0]["steps"])
    assert kinds == ["wr", "ww"]
    assert r["not"] == ["read-committed"]


def test_g_single_read_skew() -> None:
    h = history("ax1 ay1", "ax2 ry", "rx12")
    r = check(h, consistency_model="serializable")
    assert r["verdict"] == "invalid"
    assert data_types(r) == ["G-single"]
    assert r["not"] == ["repeatable-read", "snapshot-isolation"]
    steps = r["anomalies"]["G-single"][0]["steps"]
    assert [s["type"] for s in steps] == ["rw", "ww"]
    assert steps[0]["text"] == (
        "T1 read y in its initial, empty state, without 1, which T2 appended and no read "
        "ever saw, so T1 < T2 (rw)."
    )
    # Read committed allows it.
    assert check(h, consistency_model="read-committed")["verdict"] == "valid"
    assert check(h, consistency_model="snapshot-isolation")["verdict"] == "invalid"


def test_g2_item_write_skew() -> None:
    h = history("ax1 ry", "ay1 rx")
    for model, verdict in [
        ("read-committed", "valid"),
        ("snapshot-isolation", "valid"),  # write skew is what SI allows
        ("repeatable-read", "invalid"),
        ("serializable", "invalid"),
    ]:
        r = check(h, consistency_model=model)
        assert r["verdict"] == verdict, model
        assert data_types(r) == ["G2-item"]
        assert r["not"] == ["repeatable-read"]
    cyc = check(h)["anomalies"]["G2-item"][0]
    assert [s["type"] for s in cyc["steps"]] == ["rw", "rw"]
    assert any("without 1, which T2 appended" in s for s in cyc["story"])


def test_g_nonadjacent_long_fork() -> None:
    # Long fork: T1 and T3 append to x and z; T2 sees x's append but not z's, T4 sees
    # z's but not x's.  Two anti-dependencies, never adjacent: SI forbids it.
    h = history("ax1", "rx1 rz", "az1", "rz1 rx")
    r = check(h, consistency_model="snapshot-isolation")
    assert r["verdict"] == "invalid"
    assert data_types(r) == ["G-nonadjacent"]
    assert r["not"] == ["repeatable-read", "snapshot-isolation"]
    kinds = [s["type"] for s in r["anomalies"]["G-nonadjacent"][0]["steps"]]
    assert sorted(kinds) == ["rw", "rw", "wr", "wr"]
    assert all(not (a == b == "rw") for a, b in zip(kinds, kinds[1:] + kinds[:1], strict=True))
    assert check(h, consistency_model="read-committed")["verdict"] == "valid"


def test_internal_inconsistency() -> None:
    r = check(history("rx ax3 rx", "ax1"), consistency_model="serializable")
    assert r["verdict"] == "invalid"
    assert "internal" in r["anomaly_types"]
    case = r["anomalies"]["internal"][0]
    assert case["expected"] == [3]
    assert "snapshot-isolation" in r["not"]


def test_future_read() -> None:
    r = check(history("rx1 ax1"), consistency_model="read-committed")
    assert r["verdict"] == "invalid"
    assert "future-read" in r["anomaly_types"]


def test_duplicate_elements() -> None:
    r = check(history("ax1", "rx11"), consistency_model="read-uncommitted")
    assert r["verdict"] == "invalid"
    assert r["anomalies"]["duplicate-elements"][0]["duplicates"] == [1]


def test_garbage_read() -> None:
    r = check(history("ax1", "rx19"))
    assert r["verdict"] == "invalid"
    assert r["anomalies"]["garbage-read"][0]["elements"] == [9]
    assert r["not"] == ["read-uncommitted"]


def test_incompatible_order() -> None:
    r = check(history("ax1 ry1", "ax2", "ax3 ay1", "rx13", "rx123"))
    assert r["verdict"] == "invalid"
    case = r["anomalies"]["incompatible-order"][0]
    assert case["values"] == [[1, 3], [1, 2, 3]]


def test_realtime_variant_strong_snapshot_isolation() -> None:
    # T3 reads x = [1] after T2 (which appended 2) completed: fine for serializable,
    # not for strict serializable.
    h = history("ax1", "ax2", "rx1", "rx12", layout="sequential")
    assert check(h, consistency_model="serializable")["verdict"] == "valid"
    r = check(h, consistency_model="strict-serializable")
    assert r["verdict"] == "invalid"
    assert r["anomaly_types"] == ["G-single-realtime"]
    assert r["not"] == ["strong-snapshot-isolation"]
    steps = r["anomalies"]["G-single-realtime"][0]["steps"]
    assert [s["type"] for s in steps] == ["rw", "realtime"]
    assert steps[1]["text"] == "T2 completed before T1 began, so T2 < T1 (realtime)."


def test_process_variant_strong_session() -> None:
    # T2 and T3 are the same session: T3 fails to see T2's own earlier append.
    h = history(("ax1", "ok", 0), ("ax2", "ok", 1), ("rx1", "ok", 1), ("rx12", "ok", 2),
                layout="sequential")
    r = check(h, consistency_model="strong-session-snapshot-isolation")
    assert r["verdict"] == "invalid"
    assert r["anomaly_types"] == ["G-single-process"]
    assert r["anomalies"]["G-single-process"][0]["steps"][1]["type"] == "process"
    assert check(h, consistency_model="serializable")["verdict"] == "valid"


def test_info_reads_say_nothing() -> None:
    # Elle's "info reads" case: T1's crashed read of y = nil must not become rw T1 -> T2.
    h = history(("ax2 ry", "info"), "ax1 ay1", "rx12 ry1")
    r = check(h)
    assert r["verdict"] == "valid"


def test_valid_serial_history() -> None:
    r = check(history("ax1", "rx1 ax2", "rx12 ay1", "ry1", layout="sequential"))
    assert r["verdict"] == "valid"
    assert r["anomaly_types"] == [] and r["not"] == []
    assert r["explanation"][0].startswith("No anomaly that strict-serializable forbids")


def test_nothing_committed_is_unknown() -> None:
    r = check(history(("ax1", "fail"), ("ry", "info")))
    assert r["verdict"] == "unknown"
    assert "no transaction committed" in r["reason"]


def test_duplicate_appends_are_bad_input() -> None:
    with pytest.raises(HistoryError, match="appended to x more than once"):
        check(history("ax1", "ax1"))


def test_unknown_consistency_model() -> None:
    with pytest.raises(ValueError, match="unknown consistency model 'snapshot'"):
        check(history("ax1"), consistency_model="snapshot")


def test_budget_ends_in_unknown_or_proof() -> None:
    # A ring of 60 anti-dependencies: transaction i appends to key i and misses the
    # append to key i + 1 (write skew around a circle).
    n = 60
    evs = [Event(i, "invoke", "txn", [["append", i, 1], ["r", (i + 1) % n, None]]) for i in range(n)]
    evs += [Event(i, "ok", "txn", [["append", i, 1], ["r", (i + 1) % n, []]]) for i in range(n)]
    h = from_history(History.from_events(evs), "list-append")
    full = check(h, consistency_model="snapshot-isolation")
    assert full["verdict"] == "valid"  # a 60-rw ring is write skew, which SI allows
    assert full["anomaly_types"] == ["G2-item"]
    starved = check(h, consistency_model="snapshot-isolation", max_search_steps=10)
    assert starved["verdict"] == "unknown"
    assert "examined more than 10 edges" in starved["reason"]
    assert starved["hint"]
    # Serializability needs no search to the end: the component itself proves a cycle.
    proof = check(h, consistency_model="serializable", max_search_steps=10)
    assert proof["verdict"] == "invalid"
    assert "G2-cycle-exists" in proof["anomaly_types"]
    assert "ran out of budget" in proof["anomalies"]["G2-cycle-exists"][0]["text"]


def test_giant_component_ends_in_a_verdict() -> None:
    """A scale test in the spirit of Elle's huge-scc.edn: a serial execution replayed out
    of real-time order puts thousands of transactions in one component; the checker
    must still answer, within a small search budget."""
    from analysis.isolation.generate import serial_history

    h = from_history(History.from_events(serial_history(3000, realtime=False, seed=3)), "list-append")
    r = check(h, max_search_steps=200_000)
    assert r["verdict"] == "invalid"
    assert r["graph"]["largest_component"] > 2000
    # a search stops at the end of the breadth-first level that crossed the budget
    assert r["graph"]["search_steps"] <= 200_000 + r["graph"]["edges"]
    assert all(t.endswith(("-process", "-realtime", "-cycle-exists")) for t in r["anomaly_types"])
    assert check(h, consistency_model="serializable")["verdict"] == "valid"


def test_edge_cap_ends_in_unknown() -> None:
    r = check(history("ax1", "rx1 ax2", "rx12"), max_edges=1)
    assert r["verdict"] == "unknown"
    assert "grew past 1 edges" in r["reason"]


def test_time_limit_ends_in_unknown() -> None:
    r = check(history("ax1", "rx1 ax2", "rx12"), timeout_s=0)
    assert r["verdict"] == "unknown"
    assert "time limit ran out" in r["reason"]


def test_lattice() -> None:
    assert weakest(ruled_out(["G2-item"])) == ["repeatable-read"]
    assert weakest(ruled_out(["G-single"])) == ["repeatable-read", "snapshot-isolation"]
    assert weakest(ruled_out(["G2-item-realtime"])) == ["strict-serializable"]
    assert weakest(ruled_out(["G0", "G2-item"])) == ["read-uncommitted"]
    assert "G2-item" not in prohibited("snapshot-isolation")
    assert "G-single" in prohibited("snapshot-isolation")
    assert "G2-item-realtime" in prohibited("strict-serializable")
    assert "G2-item-realtime" not in prohibited("serializable")


# ------------------------------------------------------------------ rw-register
def test_register_read_skew() -> None:
    r = check(history("wx1 wy1", "rx_ ry1", model="rw-register"), consistency_model="serializable")
    assert r["verdict"] == "invalid"
    assert data_types(r) == ["G-single"]
    texts = " ".join(r["anomalies"]["G-single"][0]["story"])
    assert "read x in its initial state (nil), before T2 wrote 1" in texts


def test_register_write_skew() -> None:
    h = history("rx_ wy1", "ry_ wx1", model="rw-register")
    assert check(h, consistency_model="snapshot-isolation")["verdict"] == "valid"
    r = check(h, consistency_model="serializable")
    assert r["verdict"] == "invalid" and data_types(r) == ["G2-item"]


def test_register_lost_update() -> None:
    # Both read x = nil and both write it: a two-rw cycle (the lost update).
    r = check(history("rx_ wx1", "rx_ wx2", model="rw-register"), consistency_model="repeatable-read")
    assert r["verdict"] == "invalid" and data_types(r) == ["G2-item"]


def test_register_g1a_g1b_internal_garbage() -> None:
    r = check(
        history(("wx1", "fail"), "rx1", "wy1 wy2", "ry1", "wz1 rz2", "rq7", model="rw-register"),
        consistency_model="read-committed",
    )
    assert r["verdict"] == "invalid"
    assert {"G1a", "G1b", "internal", "garbage-read"} <= set(r["anomaly_types"])


def test_register_writes_follow_reads() -> None:
    # With wfr, T2 read x = 1 and wrote 2, so version 1 < 2; T1 read y = 2 and wrote 1.
    h = history("ry2 wx1 wy1", "rx1 wx2 wy2", model="rw-register")
    plain = check(h, consistency_model="read-uncommitted")
    assert plain["verdict"] == "valid" and data_types(plain) == ["G1c"]
    wfr = check(h, consistency_model="read-uncommitted", wfr=True)
    assert wfr["verdict"] == "invalid" and "G0" in wfr["anomaly_types"]


def test_register_cyclic_versions() -> None:
    r = check(history("rx2 wx1", "rx1 wx2", model="rw-register"), wfr=True,
              consistency_model="read-uncommitted")
    assert r["verdict"] == "invalid"
    assert "cyclic-versions" in r["anomaly_types"]


def test_register_duplicate_writes_are_bad_input() -> None:
    with pytest.raises(HistoryError, match="written more than once"):
        check(history("wx1", "wx1", model="rw-register"))
