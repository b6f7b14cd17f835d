"""A scenario's ``[ray]`` table: what changes on the real engine, validated like the rest."""

from __future__ import annotations

import pytest

from scenarios.spec import ScenarioError, for_engine, from_dict, load


def _base(**extra: object) -> dict[str, object]:
    d: dict[str, object] = {"name": "t", "summary": "s", "system": "saga", "checkers": ["saga"],
                            "config": {"broker": "queue", "partitions": 2}}
    d.update(extra)
    return d


def test_overrides_merge_tables_and_replace_lists() -> None:
    sc = from_dict(_base(duration_ms=1000, ray={"duration_ms": 5000, "config": {"partitions": 3},
                                                 "faults": []}))
    real = for_engine(sc, "ray")
    assert real.duration_ms == 5000 and real.config == {"broker": "queue", "partitions": 3}
    assert real.faults == () and real.ray == {}
    assert for_engine(sc, "sim") is sc


def test_unknown_ray_field_names_the_file_and_field() -> None:
    with pytest.raises(ScenarioError, match=r"x\.toml: ray: unknown field 'flaws'"):
        from_dict(_base(ray={"flaws": ["consumer_without_dedup"]}), source="x.toml")


def test_bad_ray_values_are_caught_at_load_time() -> None:
    with pytest.raises(ScenarioError, match=r"\[ray\].*duration_ms"):
        from_dict(_base(ray={"duration_ms": "long"}), source="x.toml")
    with pytest.raises(ScenarioError, match=r"\[ray\].*faults\[0\]"):
        from_dict(_base(ray={"faults": [{"at": 0, "fault": {"fault": "meteor"}}]}), source="x.toml")


def test_a_flawed_twin_inherits_its_correct_twins_ray_table() -> None:
    flawed, correct = load("broker-restart-durable-queue"), load("broker-restart-durable-queue-correct")
    assert flawed.ray == correct.ray and flawed.ray["duration_ms"] == 25000
    assert for_engine(flawed, "ray").flaws == flawed.flaws
