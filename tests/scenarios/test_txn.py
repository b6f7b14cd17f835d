"""Transactional workloads, the isolation and bank checkers as scenario checkers, and the
transaction scenarios: each flawed one shows the anomaly it is named for."""

from __future__ import annotations

import random
from typing import Any

import pytest

from cluster.core.raft import RaftConfig
from scenarios.runner import run_scenario
from scenarios.spec import ScenarioError, catalog, from_dict
from scenarios.system_kv import check_raft_workload, make_raft_workload, raft_inert_flaw
from scenarios.txn_workloads import BankWorkload, TxnWorkload

CATALOG = catalog()


def _ops(workload: Any, n: int, processes: int = 3, seed: int = 1) -> list[tuple[int, Any]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        p = i % processes
        op = workload.next_op(p, rng)
        if op is not None:
            out.append((p, op))
    return out


# --- workloads ------------------------------------------------------------------------------------


def test_list_append_values_are_unique_per_key_and_keys_retire() -> None:
    w = make_raft_workload({"kind": "list-append", "keys": 2, "max_writes_per_key": 4}, 3)
    assert isinstance(w, TxnWorkload)
    seen: dict[str, list[int]] = {}
    read_only = 0
    for _, (f, key, mops) in _ops(w, 400):
        assert (f, key) == ("txn", None) and 1 <= len(mops) <= 4
        writes = [m for m in mops if m[0] != "r"]
        read_only += not writes
        for m in writes:
            assert m[0] == "append"
            seen.setdefault(m[1], []).append(m[2])
    assert all(sorted(v) == list(range(1, len(v) + 1)) and len(v) <= 4 for v in seen.values())
    assert len(seen) > 20  # retired keys were replaced by fresh ones
    assert 60 < read_only < 140  # about a quarter


def test_shapes_put_reads_before_writes() -> None:
    rtw = TxnWorkload(shape="reads-then-writes", read_only=0.0, txn_len=(2, 5))
    for _, (_, _, mops) in _ops(rtw, 200):
        kinds = [m[0] for m in mops]
        assert kinds == sorted(kinds, key=lambda k: k != "r") and kinds[-1] == "append"
    doctors = TxnWorkload(write="w", keys=2, shape="read-all-write-one", read_only=0.0)
    for _, (_, _, mops) in _ops(doctors, 50):
        assert [m[0] for m in mops] == ["r", "r", "w"]
        assert mops[0][1] != mops[1][1]  # both doctors' records, then one of them
        assert mops[2][1] in (mops[0][1], mops[1][1])


def test_ops_per_client_bounds_each_slot() -> None:
    w = TxnWorkload(ops_per_client=5, clients=2)
    rng = random.Random(1)
    assert sum(1 for _ in range(20) if w.next_op(0, rng) is not None) == 5
    assert w.next_op(2, rng) is None  # process 2 continues slot 0 after an info


def test_the_bank_opens_first_then_transfers_and_reads() -> None:
    w = make_raft_workload({"kind": "bank", "accounts": 4, "balance": 7, "max_transfer": 3}, 2)
    assert isinstance(w, BankWorkload) and w.total == 28
    ops = _ops(w, 200, processes=2)
    firsts: dict[int, Any] = {}
    for p, op in ops:
        firsts.setdefault(p, op)
    assert all(op == ("open", None, {"a0": 7, "a1": 7, "a2": 7, "a3": 7}) for op in firsts.values())
    moves = [v for _, (f, _, v) in ops if f == "transfer"]
    assert moves and all(v["from"] != v["to"] and 1 <= v["amount"] <= 3 for v in moves)
    assert any(f == "read" for _, (f, _, _) in ops)
    assert w.next_op(5, random.Random(0))[0] == "open"  # type: ignore[index]  # a new process opens again


@pytest.mark.parametrize(("spec", "message"), [
    ({"kind": "nope"}, "unknown kind 'nope'; known: register, list-append, rw-register, bank"),
    ({"kind": "list-append", "cas_ratio": 0.1}, "unknown field 'cas_ratio' for kind list-append"),
    ({"kind": "list-append", "txn_len": [3, 1]}, "txn_len must be [min, max]"),
    ({"kind": "rw-register", "shape": "zigzag"}, "unknown shape 'zigzag'"),
    ({"kind": "list-append", "read_only": 2}, "read_only must be between 0 and 1"),
    ({"kind": "bank", "accounts": 1}, "at least 2 accounts"),
    ({"kind": "bank", "keys": 3}, "unknown field 'keys' for kind bank"),
])
def test_bad_workloads_name_the_field(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_raft_workload(spec)


# --- scenario fields ---------------------------------------------------------------------------------


def _scenario(**kw: Any) -> dict[str, Any]:
    base = {"name": "t", "summary": "t", "system": "raft-kv", "checkers": ["isolation"],
            "model": "list-append", "workload": {"kind": "list-append"}}
    return {**base, **kw}


def test_the_isolation_checker_needs_a_data_model_and_a_known_consistency_model() -> None:
    assert from_dict(_scenario()).consistency_model == "strict-serializable"
    with pytest.raises(ScenarioError, match="model must be one of list-append, rw-register"):
        from_dict(_scenario(model="kv-register"))
    with pytest.raises(ScenarioError, match="consistency_model: unknown consistency model 'snapshot'"):
        from_dict(_scenario(consistency_model="snapshot"))
    assert from_dict(_scenario(consistency_model="PL-SI")).checkers == ("isolation",)


def test_optimistic_only_flaws_say_they_are_inert_in_log_mode() -> None:
    why = raft_inert_flaw("txn_no_read_validation", RaftConfig(), ("txn_no_read_validation",))
    assert why is not None and 'txn_mode = "optimistic"' in why
    assert raft_inert_flaw("txn_lost_update", RaftConfig(txn_mode="optimistic"), ()) is None
    assert raft_inert_flaw("txn_reads_outside_log", RaftConfig(), ()) is None


def test_a_scenario_can_judge_against_a_weaker_model() -> None:
    """The write-skew flaw is snapshot isolation: the same run is invalid under serializable
    and valid under snapshot-isolation."""
    sc = CATALOG["txn-write-skew"].with_overrides(duration_ms=2000, faults=())
    assert run_scenario(sc, trace_messages=False).verdict == "invalid"
    si = run_scenario(sc.with_overrides(consistency_model="snapshot-isolation"), trace_messages=False)
    assert si.verdict == "valid", [r["explanation"][:3] for r in si.results]


# --- the catalog's transaction scenarios --------------------------------------------------------------


def _anomalies(name: str, seed: int) -> tuple[str, list[str], dict[str, Any]]:
    out = run_scenario(CATALOG[name].with_overrides(seed=seed), trace_messages=False)
    first = next(r for r in out.results if r["checker"] in ("isolation", "bank"))
    return out.verdict, list(first.get("anomaly_types", [])), first


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_txn_read_skew_shows_g_single(seed: int) -> None:
    verdict, types, r = _anomalies("txn-read-skew", seed)
    assert verdict == "invalid" and "G-single" in types, types
    assert "snapshot-isolation" in r["not"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_txn_write_skew_shows_g2_item_and_nothing_snapshot_isolation_forbids(seed: int) -> None:
    verdict, types, r = _anomalies("txn-write-skew", seed)
    assert verdict == "invalid" and "G2-item" in types
    assert not {"G0", "G1a", "G1b", "G1c", "G-single", "G-nonadjacent", "internal"} & set(types), types
    assert r["not"] == ["repeatable-read"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_txn_bank_lost_update_shows_wrong_totals(seed: int) -> None:
    verdict, types, r = _anomalies("txn-bank-lost-update", seed)
    assert verdict == "invalid" and types == ["wrong-total"]
    assert r["violations"][0]["invariant"] == "wrong-total"
