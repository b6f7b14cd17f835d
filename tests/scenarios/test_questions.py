"""Every catalog scenario asks a question whose hidden answer is what its run shows.

The answers are checked against the runs, never trusted: at each scenario's seed, the
verdict, the anomaly word (and that no distractor word also applies, so the question has one
right choice), the fault that matters (and that the other faults offered do not), and the
follow-up's verdict after its one change.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from analysis.anomalies import VOCABULARY, tags_of
from scenarios.changes import Change, apply_change
from scenarios.lessons import lessons
from scenarios.questions import (
    THEMES,
    TOPICS,
    Answer,
    grade,
    parse_answer,
    question_of,
    topic_and_theme,
)
from scenarios.runner import run_scenario
from scenarios.spec import ScenarioError, catalog, from_dict, load

CATALOG = catalog()
NAMES = sorted(CATALOG)


def _job(job: tuple[str, str | None]) -> tuple[str, str | None, str, list[str]]:
    """(scenario, change flag or None) -> its verdict and anomaly words at the catalog seed."""
    name, flag = job
    sc = CATALOG[name]
    if flag is not None:
        from scenarios.changes import parse_change

        sc = apply_change(sc, parse_change(flag))
    out = run_scenario(sc, trace_messages=False)
    return name, flag, out.verdict, tags_of(out.results)


@pytest.fixture(scope="module")
def runs() -> Iterator[dict[tuple[str, str | None], tuple[str, list[str]]]]:
    """Every scenario as written, every follow-up change, and every fault choice removed."""
    jobs: list[tuple[str, str | None]] = []
    for name in NAMES:
        q = question_of(CATALOG[name])
        assert q is not None, f"{name} asks no question"
        jobs.append((name, None))
        if q.follow_up is not None:
            jobs.append((name, q.follow_up.change.flag()))
        if q.kind == "fault":
            jobs += [(name, f"--without-fault {c.fault}") for c in q.choices]
    with ProcessPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        done = list(pool.map(_job, jobs, chunksize=2))
    yield {(n, f): (v, t) for n, f, v, t in done}


def test_every_scenario_asks_a_question_with_a_follow_up() -> None:
    for name in NAMES:
        sc = CATALOG[name]
        q = question_of(sc)
        assert q is not None, f"{name}: no [question] table"
        assert q.topic in TOPICS and q.ask and q.why and sc.teaches, name
        assert q.follow_up is not None and q.follow_up.why, f"{name}: no follow-up"
        assert q.expected_verdict == sc.expect, name


def test_forty_lessons_across_every_topic() -> None:
    ladder = lessons()
    assert len(ladder) >= 40
    per = {t: sum(1 for le in ladder if le.topic == t) for t in TOPICS}
    assert all(n >= 4 for n in per.values()), per
    assert all(le.teaches for le in ladder)
    assert any(le.offers_ray for le in ladder)


def test_the_ladder_walks_each_topic_theme_by_theme() -> None:
    ladder = lessons()
    assert all(le.theme in THEMES[le.topic] for le in ladder), [le.name for le in ladder if le.theme is None]
    for topic, themes in THEMES.items():
        mine = [le for le in ladder if le.topic == topic]
        walked = list(dict.fromkeys(le.theme for le in mine))
        assert walked == list(themes), topic  # every theme has lessons, in THEMES order
        for theme in themes:
            levels = [le.question.level for le in mine if le.theme == theme]
            assert levels == sorted(levels), (topic, theme)


def test_topic_and_theme() -> None:
    assert topic_and_theme("10") == ("10-distributed-systems", None)
    assert topic_and_theme("10/clocks") == ("10-distributed-systems", "clocks")
    assert topic_and_theme("11-event-driven/kafka") == ("11-event-driven", "kafka")
    with pytest.raises(ScenarioError, match="unknown theme 'clocks' for 13-rpc; known: deadlines, retries"):
        topic_and_theme("13/clocks")
    with pytest.raises(ScenarioError, match="unknown topic"):
        topic_and_theme("12/clocks")


@pytest.mark.parametrize("name", NAMES)
def test_answer_matches_the_run(name: str, runs: dict[tuple[str, str | None], tuple[str, list[str]]]) -> None:
    q = question_of(CATALOG[name])
    assert q is not None
    verdict, tags = runs[(name, None)]
    assert verdict == q.expected_verdict, f"{name}: the answer says {q.answer}, the run is {verdict}"
    if q.answer.anomaly:
        assert q.answer.anomaly in tags, f"{name}: answer {q.answer}, but the run's anomalies are {tags}"
        others = [c.anomaly for c in q.choices if c.anomaly and c != q.answer and c.anomaly in tags]
        assert not others, f"{name}: distractors {others} also happened ({tags}); the question has two answers"
    if q.kind == "fault":
        assert q.answer.fault is not None
        alone, _ = runs[(name, f"--without-fault {q.answer.fault}")]
        assert alone == "valid", f"{name}: without fault {q.answer.fault} the run is still {alone}"
        for c in q.choices:
            if c != q.answer:
                v, _ = runs[(name, f"--without-fault {c.fault}")]
                assert v == "invalid", f"{name}: without fault {c.fault} the run passes too; two right answers"
    assert grade(q.answer, verdict, [{"verdict": verdict, "anomaly_tags": tags}],
                 without_fault_verdict="valid" if q.kind == "fault" else None).right


@pytest.mark.parametrize("name", NAMES)
def test_follow_up_matches_diff(name: str, runs: dict[tuple[str, str | None], tuple[str, list[str]]]) -> None:
    q = question_of(CATALOG[name])
    assert q is not None and q.follow_up is not None
    verdict, _ = runs[(name, q.follow_up.change.flag())]
    assert verdict == q.follow_up.answer, (f"{name}: follow-up {q.follow_up.change.flag()} says "
                                           f"{q.follow_up.answer}, the rerun is {verdict}")


# --- the table's validation ----------------------------------------------------------------------

BASE = {"name": "q-demo", "summary": "demo", "expect": "invalid", "flaws": ["read_from_any_node"],
        "faults": [{"at": 100, "duration": 500, "fault": {"fault": "partition", "kind": "halves"}},
                   {"at": 900, "duration": 500, "fault": {"fault": "crash", "node": "leader"}}]}
GOOD_Q = {"topic": "10-distributed-systems", "ask": "What happens?", "answer": "invalid:stale-read",
          "choices": ["valid", "invalid:stale-read", "invalid:two-leaders"], "why": "Followers lag."}


def _load(question: dict[str, object], **extra: object) -> None:
    from_dict({**BASE, **extra, "question": question}, source="demo.toml")


def test_a_good_question_loads_and_says_its_kind() -> None:
    sc = from_dict({**BASE, "question": GOOD_Q}, source="demo.toml")
    q = question_of(sc)
    assert q is not None and q.kind == "anomaly" and q.expected_verdict == "invalid"
    no_choices = {k: v for k, v in GOOD_Q.items() if k != "choices"}
    fq = question_of(from_dict({**BASE, "question": {**no_choices, "answer": "fault:1"}}, source="demo.toml"))
    assert fq is not None and fq.kind == "fault"
    assert [str(c) for c in fq.choices] == ["fault:0", "fault:1"]  # every fault, by default


@pytest.mark.parametrize(("change", "message"), [
    ({"topic": "12-networking"}, "question.topic: unknown topic '12-networking'"),
    ({"answer": "valid"}, "says the run is valid, but the scenario expects invalid"),
    ({"answer": "invalid:lost-write"}, "is not one of the choices"),
    ({"answer": "invalid:stale-reads"}, "unknown anomaly 'stale-reads'"),
    ({"answer": "fault:3", "choices": ["fault:0", "fault:3"]}, "unknown fault index 3"),
    ({"answer": "valid", "choices": None}, "says the run is valid"),
    ({"choices": None}, "an anomaly question lists its choices"),
    ({"level": 4}, "level: must be 1, 2 or 3"),
    ({"theme": "kafka"}, "question.theme: unknown theme 'kafka' for 10-distributed-systems; known: consensus"),
    ({"why": ""}, "question.why: required"),
    ({"hint": "x"}, "unknown field 'hint'"),
    ({"choices": ["valid", "valid", "invalid:stale-read"]}, "listed twice"),
    ({"follow_up": {"ask": "?", "change": "--without-fault 4", "answer": "valid", "why": "."}},
     "follow_up.change: fault 4: unknown fault index"),
    ({"follow_up": {"ask": "?", "change": "--flip-flaw no_such_flaw", "answer": "valid", "why": "."}},
     "unknown flaw 'no_such_flaw'"),
    ({"follow_up": {"ask": "?", "change": "--remove-everything", "answer": "valid", "why": "."}},
     "follow_up.change: expected one of"),
    ({"follow_up": {"ask": "?", "change": "--seed 2", "answer": "maybe", "why": "."}}, "valid or invalid"),
])
def test_bad_questions_are_one_line_naming_the_field(change: dict[str, object], message: str) -> None:
    q = {**GOOD_Q, **change}
    q = {k: v for k, v in q.items() if v is not None}
    with pytest.raises(ScenarioError) as e:
        _load(q)
    assert message in str(e.value) and "demo.toml" in str(e.value) and "\n" not in str(e.value)


def test_predict_field_is_refused_with_what_replaced_it(tmp_path: Path) -> None:
    f = tmp_path / "old.toml"
    f.write_text('name = "old"\nsummary = "s"\npredict = "invalid: stale reads"\n')
    with pytest.raises(ScenarioError, match=r"field 'predict' gave the answer away.*\[question\]"):
        load(str(f))
    saved = tmp_path / "scenario.json"  # an older results folder's copy still loads
    saved.write_text(json.dumps({"name": "old", "summary": "s", "predict": "valid"}))
    assert load(str(saved)).name == "old"


def test_questions_are_not_inherited(tmp_path: Path) -> None:
    f = tmp_path / "mine.toml"
    f.write_text('name = "mine"\nextends = "raft-follower-reads"\nsummary = "my variant"\n')
    assert load(str(f)).question == {}
    assert CATALOG["raft-follower-reads"].question["answer"] != CATALOG["raft-follower-reads-correct"].question["answer"]


def test_a_changed_setup_drops_the_question_a_new_seed_keeps_it() -> None:
    sc = CATALOG["raft-follower-reads"]
    assert sc.with_overrides(seed=sc.seed + 1, time_limit_s=5.0).question == sc.question
    assert sc.with_overrides(flaws=()).question == {}
    assert sc.with_overrides(faults=()).question == {}


def test_a_ray_table_with_its_own_faults_drops_fault_numbered_questions() -> None:
    from scenarios.spec import for_engine

    sc = CATALOG["broker-restart-durable-queue-correct"]
    assert sc.question and "faults" in sc.ray
    assert for_engine(sc, "ray").question == {}
    assert for_engine(sc, "sim").question == sc.question


# --- answers and grades ----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "want"), [
    ("valid", Answer("valid")),
    ("invalid", Answer("invalid")),
    (" invalid:two-leaders ", Answer("invalid", anomaly="two-leaders")),
    ("fault:1", Answer("invalid", fault=1)),
])
def test_parse_answer(text: str, want: Answer) -> None:
    assert parse_answer(text, faults=2) == want
    assert str(parse_answer(str(want), faults=2)) == str(want)


@pytest.mark.parametrize("text", ["Valid", "valid:stale-read", "invalid:", "fault:x", "fault:2", "maybe", ""])
def test_bad_answers(text: str) -> None:
    with pytest.raises(ScenarioError, match="--predict"):
        parse_answer(text, faults=2)


def test_grade_is_computed_from_results() -> None:
    results = [{"checker": "linearizability", "verdict": "invalid", "anomaly_tags": ["stale-read"]},
               {"checker": "raft-safety", "verdict": "valid", "anomaly_tags": []}]
    assert grade(Answer("invalid"), "invalid", results).right
    assert grade(Answer("invalid", anomaly="stale-read"), "invalid", results).right
    g = grade(Answer("invalid", anomaly="two-leaders"), "invalid", results)
    assert g.right is False and "stale-read (linearizability)" in g.found
    assert grade(Answer("valid"), "invalid", results).word == "wrong"
    assert grade(Answer("valid"), "unknown", []).word == "ungraded"
    assert grade(Answer("invalid", fault=0), "invalid", results, without_fault_verdict="valid").right
    assert not grade(Answer("invalid", fault=0), "invalid", results, without_fault_verdict="invalid").right
    with pytest.raises(ValueError):
        grade(Answer("invalid", fault=0), "invalid", results)


def test_every_anomaly_offered_is_in_the_vocabulary() -> None:
    for sc in CATALOG.values():
        q = question_of(sc)
        assert q is not None
        for c in q.choices:
            assert c.anomaly is None or c.anomaly in VOCABULARY


def test_without_fault_rerun_keeps_the_rest() -> None:
    sc = CATALOG["raft-ack-before-commit"]
    changed = apply_change(sc, Change("without-fault", fault=0))
    assert list(changed.faults) == [sc.faults[1]] and changed.question == {} and changed.seed == sc.seed
