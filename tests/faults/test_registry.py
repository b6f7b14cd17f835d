"""Registry: names, dict specs, JSON round-trips, error messages, and adding a fault."""

from __future__ import annotations

import json
import re
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from faults import (
    At,
    ClockSkew,
    ClockStrobe,
    Crash,
    CrashRestartLoop,
    EventTrigger,
    FaultSpecError,
    LinkFault,
    OnEvent,
    Partition,
    Pause,
    RandomFaults,
    from_dict,
    get,
    install,
    items_from_list,
    known,
    register,
    to_dict,
    unregister,
)
from tests.faults import FakeEngine

ALL_FAULTS: list[Any] = [
    Partition(),
    Partition(kind="isolate", target="minority"),
    Partition(kind="one-way", groups=(("n1",), ("n2", "n3"))),
    Partition(kind="groups", groups=(("n1", "n2"), ("n3",))),
    ClockSkew("n2", -300.0, 1.25),
    ClockStrobe("leader", 250.0, 40),
    Crash("leader"),
    CrashRestartLoop("n1", 10, 20),
    Pause("random-follower"),
    LinkFault("leader", "*", 0.3, 50.0, 5.0, 0.1, 0.2),
]

ALL_ITEMS: list[Any] = [
    At(100, 200, Partition(kind="bridge")),
    At(0, None, Crash()),
    OnEvent("leader-elected", Partition(kind="isolate-leader"), 2000),
    OnEvent(EventTrigger("commit", {"index": 3}, None), Pause("n1"), None, 10, None),
    RandomFaults(0.5, 1500, ("crash", "partition:halves"), 0, 30_000, 2),
]


def test_known_lists_every_builtin() -> None:
    assert known() == (
        "clock-skew",
        "clock-strobe",
        "crash",
        "crash-restart-loop",
        "link",
        "partition",
        "pause",
    )
    assert get("partition") is Partition


@pytest.mark.parametrize("obj", ALL_FAULTS + ALL_ITEMS, ids=repr)
def test_round_trip_through_json(obj: Any) -> None:
    data = json.loads(json.dumps(to_dict(obj)))
    assert from_dict(data) == obj
    assert items_from_list([data]) == (obj,) if obj in ALL_ITEMS else True


def test_dict_specs_from_the_brief() -> None:
    assert from_dict({"fault": "partition", "kind": "isolate-leader"}) == Partition(
        kind="isolate-leader"
    )
    assert from_dict(
        {"at": 2000, "duration": 3000, "fault": {"fault": "crash", "node": "n1"}}
    ) == At(2000, 3000, Crash("n1"))
    assert from_dict(
        {"on": "leader-elected", "duration": 2000, "fault": {"fault": "pause", "node": "leader"}}
    ) == OnEvent("leader-elected", Pause("leader"), 2000)
    # JSON numbers: ints for float fields, whole floats for int fields
    assert from_dict({"fault": "clock-strobe", "delta_ms": 5, "period_ms": 20.0}) == ClockStrobe(
        delta_ms=5.0, period_ms=20
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"fault": "partitoin"},
            "unknown fault 'partitoin'; known: clock-skew, clock-strobe, crash, crash-restart-loop, link, partition, pause",
        ),
        (
            {"fault": "partition", "kind": "halfs"},
            "fault 'partition': unknown kind 'halfs'; known: bridge, groups, halves, isolate, isolate-leader, majorities-ring, one-way",
        ),
        ({"fault": "crash", "nodes": "n1"}, "fault 'crash': unknown field 'nodes'; known: node"),
        (
            {"fault": "link", "loss": "high"},
            "fault 'link': field 'loss' must be a number or null, got 'high'",
        ),
        ({"fault": "crash", "node": 3}, "fault 'crash': field 'node' must be a string, got 3"),
        (
            {"fault": "partition", "kind": "groups", "groups": ["n1", "n2"]},
            "fault 'partition': field 'groups' must be a list of lists of strings",
        ),
        ({"fault": "crash-restart-loop", "down_ms": 1.5}, "field 'down_ms' must be a whole number"),
        ({"kind": "halves"}, "a fault needs a 'fault' name"),
        (
            {"at": 10, "fault": {"fault": "crash"}, "durration": 5},
            "'at' item: unknown field 'durration'",
        ),
        (
            {"at": "soon", "fault": {"fault": "crash"}},
            "'at' item: field 'at' must be a whole number",
        ),
        ({"at": 10}, "'at' item: missing field 'fault'"),
        (
            {"on": "leader-elect", "duration": 5, "fault": {"fault": "crash"}},
            "unknown trigger 'leader-elect'",
        ),
        (
            {"on": {"where": {}}, "fault": {"fault": "crash"}},
            "'on' item trigger: missing field 'kind'",
        ),
        ({"random": 1, "mean_duration": 10, "kinds": "crash"}, "field 'kinds' must be a list"),
        ({"random": 1, "mean_duration": 10, "kinds": ["partition:halfs"]}, "unknown kind 'halfs'"),
    ],
)
def test_spec_errors_name_the_wrong_field(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(FaultSpecError, match=re.escape(message)):
        from_dict(spec)


def test_items_from_list_prefixes_the_index_and_rejects_bare_faults() -> None:
    with pytest.raises(FaultSpecError, match=r"^faults\[1\]: unknown fault 'x'"):
        items_from_list(
            [
                {"at": 0, "duration": 1, "fault": {"fault": "crash"}},
                {"at": 0, "fault": {"fault": "x"}},
            ]
        )
    with pytest.raises(FaultSpecError, match="needs one of 'at', 'on' or 'random'"):
        items_from_list([{"fault": "crash"}])


def test_fault_spec_error_is_a_value_error() -> None:
    assert issubclass(FaultSpecError, ValueError)


def test_register_rejects_bad_classes() -> None:
    class NoName:
        pass

    with pytest.raises(TypeError, match="non-empty `name"):
        register(NoName)

    class NotData:
        name: ClassVar[str] = "not-data"

    with pytest.raises(TypeError, match="must be a dataclass"):
        register(NotData)

    @dataclass(frozen=True)
    class Clash(Crash):
        name: ClassVar[str] = "crash"

    with pytest.raises(TypeError, match="already taken by Crash"):
        register(Clash)


def test_docs_slowdown_example_is_one_module_plus_one_registration() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "faults.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", doc, re.S)
    source = next(b for b in blocks if "class Slowdown" in b)
    module = types.ModuleType("faults_docs_slowdown")  # as if it were faults/slowdown.py
    sys.modules[module.__name__] = module
    try:
        exec(compile(source, "docs/faults.md", "exec", dont_inherit=True), module.__dict__)
        assert "slowdown" in known()
        fault = from_dict({"fault": "slowdown", "node": "leader", "delay_ms": 800})
        assert from_dict(json.loads(json.dumps(fault.to_dict()))) == fault
        e = FakeEngine(leader="n2")
        install([{"at": 5, "duration": 10, "fault": fault.to_dict()}], e)
        e.run_until(100)
        assert e.timeline == [
            (5, ("set_link", "n2", "n1", 0.0, 800.0, 0.0, 0.0, 0.0)),
            (5, ("set_link", "n2", "n3", 0.0, 800.0, 0.0, 0.0, 0.0)),
            (15, ("set_link", "n2", "n1", 0.0, 0.0, 0.0, 0.0, 0.0)),
            (15, ("set_link", "n2", "n3", 0.0, 0.0, 0.0, 0.0, 0.0)),
        ]
        assert e.records[0][1]["description"] == "slowed everything n2 (the leader) sends by 800 ms"
        with pytest.raises(FaultSpecError, match="fault 'slowdown': unknown field 'delay'"):
            from_dict({"fault": "slowdown", "delay": 5})
    finally:
        unregister("slowdown")
        del sys.modules[module.__name__]
    assert "slowdown" not in known()
