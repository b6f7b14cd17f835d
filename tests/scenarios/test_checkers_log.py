"""The log checker registered as a scenario checker (``kafka`` / ``log-consumer``)."""

from __future__ import annotations

from analysis.history import Event, History
from scenarios.checkers import _log_consumer, get_checker


def _history() -> History:
    evs = [
        Event(0, "invoke", "send", ["x", "a"], time=1_000_000),
        Event(0, "ok", "send", ["x", [0, "a"]], time=2_000_000),
        Event(0, "invoke", "send", ["x", "b"], time=3_000_000),
        Event(0, "ok", "send", ["x", [1, "b"]], time=4_000_000),
        Event(1, "invoke", "poll", None, time=5_000_000),
        Event(1, "ok", "poll", {"x": [[1, "b"]]}, time=9_000_000),
    ]
    return History.from_events(evs)


def test_both_names_are_registered() -> None:
    assert get_checker("kafka") is _log_consumer
    assert get_checker("log-consumer") is _log_consumer


def test_scenario_checker_quotes_the_trace() -> None:
    trace = [{"t": 3, "kind": "fault-start", "id": 1, "fault": "crash", "description": "crash n1"},
             {"t": 8, "kind": "fault-end", "id": 1}]
    r = get_checker("kafka")(None, _history(), trace, 10.0)
    assert r["checker"] == "kafka" and r["verdict"] == "invalid"
    lost = r["anomalies"]["lost-write"]["cases"][0]
    assert lost["value"] == "a" and lost["t"] == 9
    assert "crash n1 (3-8 ms)" in lost["context"]
