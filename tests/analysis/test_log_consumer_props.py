"""Property tests of the log checker: a history generated from a correct log (partitions,
acknowledged sends, a consumer group polling with commits, crashes and rebalances that
resume from committed offsets, an auditor with final polls) has no finding; one mutation
(drop a polled record, swap two offsets, duplicate a value) gives the expected one."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from analysis.history import Event, History
from analysis.log_consumer import check
from analysis.log_generate import log_history

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

histories = st.builds(
    lambda seed, n, keys, groups, named, auditor: log_history(
        n, seed=seed, keys=keys, groups=groups, named_groups=named, auditor=auditor,
        consumers=2 + groups,
    ),
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(10, 160),
    keys=st.integers(1, 4),
    groups=st.integers(1, 2),
    named=st.booleans(),
    auditor=st.booleans(),
)


def run(events: list[Event]) -> dict[str, Any]:
    return check(History.from_events(events), rebalances_recorded=True)


def poll_result(ev: Event) -> dict[str, list[list[Any]]] | None:
    """The ``{key: [[offset, value], ...]}`` of an ok poll completion (either spelling)."""
    if ev.type != "ok" or ev.f != "poll" or ev.value is None:
        return None
    if isinstance(ev.value, dict):
        return ev.value  # type: ignore[no-any-return]
    return ev.value[0][1]  # type: ignore[no-any-return]


def with_result(ev: Event, result: dict[str, list[list[Any]]]) -> Event:
    return replace(ev, value=result if isinstance(ev.value, dict) else [["poll", result]])


def rebalanced(ev: Event) -> set[str]:
    log = dict(ev.extra).get("rebalance_log", [])
    return {k for entry in log for k in entry["keys"]}


def acked(events: list[Event]) -> dict[tuple[str, Any], int]:
    """(key, value) -> offset of every acknowledged send."""
    out = {}
    for ev in events:
        if ev.type == "ok" and ev.f == "send":
            mops = ev.value if isinstance(ev.value[0], list) else [["send", *ev.value]]
            for _, k, (o, v) in mops:
                out[(k, v)] = o
    return out


@SETTINGS
@given(histories)
def test_a_correct_log_has_no_findings(events: list[Event]) -> None:
    r = run(events)
    assert r["verdict"] in ("valid", "unknown"), r["explanation"]
    assert r["violation_count"] == 0 and r["allowed"] == {}


@SETTINGS
@given(histories, st.data())
def test_dropping_a_record_inside_a_poll_is_a_poll_skip(events: list[Event], data: st.DataObject) -> None:
    sent = acked(events)
    # a record in the middle of a poll, whose offset its acknowledgement also tells
    spots = [(i, k) for i, ev in enumerate(events) if (res := poll_result(ev))
             for k, recs in res.items()
             if len(recs) >= 3 and k not in rebalanced(ev) and sent.get((k, recs[1][1])) == recs[1][0]]
    assume(spots)
    i, k = data.draw(st.sampled_from(spots))
    res = copy.deepcopy(poll_result(events[i]))
    assert res is not None
    del res[k][1]
    events[i] = with_result(events[i], res)
    r = run(events)
    assert r["verdict"] == "invalid"
    assert "int-poll-skip" in r["anomaly_types"]


@SETTINGS
@given(histories, st.data())
def test_dropping_every_read_of_an_acknowledged_value_is_a_lost_write(
    events: list[Event], data: st.DataObject
) -> None:
    sent = acked(events)
    seen: dict[str, list[tuple[int, Any]]] = {}
    for ev in events:
        for k, recs in (poll_result(ev) or {}).items():
            seen.setdefault(k, []).extend((o, v) for o, v in recs)
    # a value acknowledged at some offset, below another value some poll read
    spots = sorted({(k, v) for k, recs in seen.items() for o, v in recs
                    if sent.get((k, v)) == o and any(o2 > o and v2 != v for o2, v2 in recs)})
    assume(spots)
    k, v = data.draw(st.sampled_from(spots))
    for i, ev in enumerate(events):
        res = poll_result(ev)
        if res and any(v2 == v for _, v2 in res.get(k, [])):
            res = copy.deepcopy(res)
            res[k] = [[o, v2] for o, v2 in res[k] if v2 != v]
            events[i] = with_result(ev, res)
    r = run(events)
    assert "lost-write" in r["anomaly_types"]
    assert any(c["value"] == v and c["key"] == k and c["group"] is None
               for c in r["anomalies"]["lost-write"]["cases"])


@SETTINGS
@given(histories, st.data())
def test_swapping_two_offsets_is_an_inconsistent_offset(events: list[Event], data: st.DataObject) -> None:
    sent = acked(events)
    spots = [(i, k) for i, ev in enumerate(events) if (res := poll_result(ev))
             for k, recs in res.items() if len(recs) >= 2 and sent.get((k, recs[0][1])) == recs[0][0]]
    assume(spots)
    i, k = data.draw(st.sampled_from(spots))
    res = copy.deepcopy(poll_result(events[i]))
    assert res is not None
    (o1, v1), (o2, v2) = res[k][0], res[k][1]
    res[k][0], res[k][1] = [o2, v1], [o1, v2]
    events[i] = with_result(events[i], res)
    r = run(events)
    assert "inconsistent-offsets" in r["anomaly_types"]
    assert any(c["key"] == k and c["offset"] in (o1, o2) for c in r["anomalies"]["inconsistent-offsets"]["cases"])


@SETTINGS
@given(histories, st.data())
def test_duplicating_a_value_is_a_duplicate(events: list[Event], data: st.DataObject) -> None:
    top: dict[str, int] = {}
    for ev in events:
        for k, recs in (poll_result(ev) or {}).items():
            for o, _ in recs:
                top[k] = max(top.get(k, -1), o)
    for (k, _), o in acked(events).items():
        top[k] = max(top.get(k, -1), o)
    spots = [(i, k) for i, ev in enumerate(events) if (res := poll_result(ev)) for k, recs in res.items() if recs]
    assume(spots)
    i, k = data.draw(st.sampled_from(spots))
    res = copy.deepcopy(poll_result(events[i]))
    assert res is not None
    v = res[k][0][1]
    res[k].append([top[k] + 1, v])
    events[i] = with_result(events[i], res)
    r = run(events)
    assert "duplicate" in r["anomaly_types"]
    assert any(c["key"] == k and c["value"] == v for c in r["anomalies"]["duplicate"]["cases"])
