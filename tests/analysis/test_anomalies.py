"""The learner's anomaly vocabulary: every checker names what it found in shared words."""

from __future__ import annotations

import pytest

from analysis.anomalies import VOCABULARY, check_tags, register_anomaly, tags_of
from analysis.idempotency import Findings
from analysis.isolation.checker import learner_word
from analysis.log_consumer import TAG, TYPES
from analysis.raft_safety import ANOMALY


def test_every_checker_mapping_uses_known_words() -> None:
    for word in [*ANOMALY.values(), *TAG.values()]:
        assert word in VOCABULARY, word
    assert set(TAG) == set(TYPES), "every log-consumer anomaly type has a word"
    for typ in ("G0", "G1c-realtime", "G-single-process", "G2-item", "G2-cycle-exists", "internal"):
        assert learner_word(typ) in VOCABULARY, typ
    assert learner_word("G-single-realtime") == "read-skew"
    assert learner_word("G2-item") == "write-skew"


def test_findings_collect_words_past_the_violation_cap() -> None:
    f = Findings("demo", [])
    for i in range(30):
        f.add("at-most-once", i, "applied twice", anomaly="duplicate-effect")
    f.add("at-least-once", 40, "never arrived", anomaly="lost-message")
    r = f.result("fine", {})
    assert r["verdict"] == "invalid"
    assert r["anomaly_tags"] == ["duplicate-effect", "lost-message"]
    assert len(r["violations"]) < 31


def test_check_tags_refuses_unknown_words_and_sorts() -> None:
    assert check_tags("x", ["stale-read", "lost-write", "stale-read"]) == ["lost-write", "stale-read"]
    with pytest.raises(ValueError, match="'stale-reads'.*not in the vocabulary"):
        check_tags("lin", ["stale-reads"])
    with pytest.raises(ValueError, match="expected a list"):
        check_tags("lin", "stale-read")


def test_tags_of_only_counts_invalid_results() -> None:
    results: list[dict[str, object]] = [{"verdict": "invalid", "anomaly_tags": ["two-leaders"]},
               {"verdict": "valid", "anomaly_tags": ["stale-read"]},
               {"verdict": "invalid"}]
    assert tags_of(results) == ["two-leaders"]


def test_register_anomaly_for_a_plugin() -> None:
    register_anomaly("torn-page", "a page was half written when the node crashed")
    try:
        assert check_tags("plugin", ["torn-page"]) == ["torn-page"]
        register_anomaly("torn-page", "a page was half written when the node crashed")  # same meaning: fine
        with pytest.raises(ValueError, match="another meaning"):
            register_anomaly("torn-page", "something else")
        with pytest.raises(ValueError, match="lower-case"):
            register_anomaly("Torn Page", "x")
    finally:
        VOCABULARY.pop("torn-page", None)
