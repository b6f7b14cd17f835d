"""The KV state machine: operations, deduplication, and JSON-able commands."""

from __future__ import annotations

import json

from cluster.core.kv import STALE, Command, KVStore, Result, freeze, jsonable


def test_get_put_cas() -> None:
    kv = KVStore()
    assert kv.apply(Command("a", 1, "get", "x")) == Result("ok", None)
    assert kv.apply(Command("a", 2, "cas", "x", (None, 1))) == Result("ok")  # None = absent
    assert kv.apply(Command("a", 3, "put", "y", "v")) == Result("ok")
    assert kv.apply(Command("a", 4, "cas", "x", (5, 6))) == Result("fail")
    assert kv.apply(Command("a", 5, "get", "x")) == Result("ok", 1)
    assert kv.snapshot() == {"x": 1, "y": "v"} and list(kv.snapshot()) == ["x", "y"]


def test_duplicate_returns_cached_result_and_is_not_reapplied() -> None:
    kv = KVStore()
    assert kv.apply(Command("a", 1, "cas", "x", (None, 1))) == Result("ok")
    assert kv.apply(Command("b", 1, "put", "x", 7)) == Result("ok")
    # a retry of a's cas: re-running it would now fail (x is 7); the cached "ok" comes back
    assert kv.apply(Command("a", 1, "cas", "x", (None, 1))) == Result("ok")
    assert kv.snapshot() == {"x": 7}
    assert kv.last_seq("a") == 1 and kv.last_seq("zz") is None


def test_a_failed_cas_stays_failed_for_its_seq() -> None:
    kv = KVStore()
    kv.apply(Command("a", 1, "put", "x", 1))
    assert kv.apply(Command("a", 2, "cas", "x", (0, 5))) == Result("fail")
    kv.apply(Command("b", 1, "put", "x", 0))
    assert kv.apply(Command("a", 2, "cas", "x", (0, 5))) == Result("fail")
    assert kv.snapshot() == {"x": 0}


def test_older_seq_than_the_last_is_stale_and_changes_nothing() -> None:
    kv = KVStore()
    kv.apply(Command("a", 1, "put", "x", 1))
    kv.apply(Command("a", 2, "put", "x", 2))
    assert kv.apply(Command("a", 1, "put", "x", 1)) is STALE
    assert kv.snapshot() == {"x": 2} and kv.applied == 3


def test_commands_freeze_for_storage_and_thaw_for_json() -> None:
    value = freeze([1, [2, 3]])
    assert value == (1, (2, 3))
    cmd = Command("a", 1, "cas", "k", value)
    assert json.loads(json.dumps(cmd.to_json())) == {
        "client_id": "a",
        "seq": 1,
        "op": "cas",
        "key": "k",
        "value": [1, [2, 3]],
    }
    assert jsonable({"t": (1,)}) == {"t": [1]}
