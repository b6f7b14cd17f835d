"""A scenario's question: what a learner predicts before running it, and the hidden answer.

A scenario file asks it in a ``[question]`` table::

    [question]
    topic = "10-distributed-systems"   # a lesson topic (TOPICS)
    theme = "consistency-models"       # optional: a theme of that topic (THEMES)
    level = 2                          # rung of the topic's ladder, 1 (first) to 3
    ask = "Clients read from whichever node they reach. What do the checkers find?"
    choices = ["valid", "invalid:stale-read", "invalid:lost-write", "invalid:two-leaders"]
    answer = "invalid:stale-read"
    why = "A follower's state is a past state of the leader: ..."

    [question.follow_up]               # one change that `splitbrain diff` can settle
    ask = "Would sending every read through the leader make the run valid?"
    change = "--flip-flaw read_from_any_node"
    answer = "valid"
    why = "..."

Three kinds of question, told apart by the answer:

* **verdict** -- ``answer = "valid"`` or ``"invalid"`` (``choices`` may be left out);
* **anomaly** -- ``answer = "invalid:WORD"``, a word of :mod:`analysis.anomalies`, among
  ``choices`` that list the distractors (``"valid"`` is usually one);
* **fault** -- ``answer = "fault:K"``: the run fails, and without fault ``K`` (0-based, in
  the order of ``faults``) it passes; ``choices`` default to every fault.

Nothing here is taken on trust: a prediction is graded from the run's checker results
(:func:`grade`), and the catalog test checks that every answer matches its scenario's run
at its seed -- the verdict, the anomaly, the fault that matters, and the follow-up's verdict
after its change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scenarios.spec import ScenarioError

if TYPE_CHECKING:
    from scenarios.changes import Change
    from scenarios.spec import Scenario

__all__ = [
    "THEMES",
    "TOPICS",
    "Answer",
    "FollowUp",
    "Grade",
    "Question",
    "check_question",
    "grade",
    "parse_answer",
    "question_of",
    "topic_and_theme",
    "topic_id",
]

TOPICS: dict[str, str] = {
    "08-idempotency": "idempotency: keys, dedup windows, retries that must not repeat effects",
    "10-distributed-systems": "distributed systems: consensus, quorums, consistency models, sagas, clocks",
    "11-event-driven": "event-driven: Kafka and RabbitMQ, outboxes, acknowledgements, redelivery",
    "13-rpc": "RPC/gRPC: deadlines, retries, request ids",
    "14-rag-ingestion": "RAG ingestion: documents to embeddings to a vector store",
}
"""Lesson topics (the interview chapters), by id; ``learn`` also accepts the number alone."""

THEMES: dict[str, dict[str, str]] = {
    "08-idempotency": {
        "keys": "idempotency keys: derived from the operation, not the attempt",
        "compensations": "compensations are messages too, and need the same dedup",
        "dedup-windows": "dedup windows and the clocks that measure them",
    },
    "10-distributed-systems": {
        "consensus": "Raft: elections, votes, commit rules, durability",
        "quorums": "leaderless quorums: R + W > N, read write-back",
        "consistency-models": "linearizable reads: followers, deposed leaders, pauses",
        "clocks": "leases and clock drift",
        "sagas": "sagas: orchestrator state, compensations",
    },
    "11-event-driven": {
        "rabbitmq": "queues (RabbitMQ): acks and redelivery",
        "kafka": "logs (Kafka): offsets, consumer groups, rebalances",
        "outbox": "dual writes, the transactional outbox and its relay",
    },
    "13-rpc": {
        "deadlines": "deadlines: an expired deadline is an unknown outcome",
        "retries": "retries: request ids, retrying through another server",
    },
    "14-rag-ingestion": {
        "delivery": "acks and at-least-once hops through the pipeline",
        "idempotent-writes": "chunk ids, inboxes and what redelivery costs",
        "versions": "reordered upserts and version checks",
    },
}
"""Themes within each topic, in ladder order: ``learn --topic 10/clocks`` walks one.  A
question may leave its theme out (it then comes after the themed lessons of its topic)."""

_KEYS = ("topic", "theme", "level", "ask", "choices", "answer", "why", "follow_up")
_FOLLOW_KEYS = ("ask", "change", "answer", "why")


@dataclass(frozen=True)
class Answer:
    """``valid``, ``invalid``, ``invalid:WORD`` or ``fault:K`` (which implies invalid)."""

    verdict: str
    anomaly: str | None = None
    fault: int | None = None

    def __str__(self) -> str:
        if self.fault is not None:
            return f"fault:{self.fault}"
        return f"{self.verdict}:{self.anomaly}" if self.anomaly else self.verdict


def parse_answer(text: str, *, faults: int | None = None, where: str = "--predict") -> Answer:
    """An answer from its spelling; ``faults`` (how many the scenario has) bounds ``fault:K``."""
    from analysis.anomalies import VOCABULARY

    raw = text.strip()
    head, _, rest = raw.partition(":")
    if head in ("valid", "invalid") and not rest and ":" not in raw:
        return Answer(head)
    if head == "invalid" and rest:
        if rest not in VOCABULARY:
            raise ScenarioError(f"{where}: unknown anomaly {rest!r}; known: {', '.join(sorted(VOCABULARY))}")
        return Answer("invalid", anomaly=rest)
    if head == "fault" and rest:
        try:
            k = int(rest)
        except ValueError:
            raise ScenarioError(f"{where}: fault:K needs a fault number, got {raw!r}") from None
        if faults is not None and not 0 <= k < faults:
            span = f"0-{faults - 1}" if faults else "none"
            raise ScenarioError(f"{where}: unknown fault index {k}; this scenario has {faults} fault(s) ({span})")
        return Answer("invalid", fault=k)
    raise ScenarioError(f"{where}: expected valid, invalid, invalid:ANOMALY or fault:K, got {raw!r}")


@dataclass(frozen=True)
class FollowUp:
    """A second prediction, settled by rerunning with one change (``splitbrain diff``)."""

    ask: str
    change: Change
    answer: str
    why: str


@dataclass(frozen=True)
class Question:
    topic: str
    theme: str | None
    level: int
    ask: str
    choices: tuple[Answer, ...]
    answer: Answer
    why: str
    follow_up: FollowUp | None

    @property
    def kind(self) -> str:
        """``verdict``, ``anomaly`` or ``fault``."""
        if self.answer.fault is not None:
            return "fault"
        return "anomaly" if self.answer.anomaly else "verdict"

    @property
    def expected_verdict(self) -> str:
        return self.answer.verdict


def question_of(sc: Scenario) -> Question | None:
    """The scenario's question, validated (``None`` when it has none)."""
    if not sc.question:
        return None
    return _parse(sc, sc.question, where=f"{sc.source or sc.name}: question")


def check_question(sc: Scenario, *, source: str) -> Question:
    """Validate ``sc``'s question; errors name ``source`` (the file being loaded)."""
    return _parse(sc, sc.question, where=f"{source}: question")


def topic_id(text: str) -> str | None:
    """A topic id from its id or its number (``"10"`` -> ``"10-distributed-systems"``)."""
    if text in TOPICS:
        return text
    return next((t for t in TOPICS if t.split("-", 1)[0] == text.strip()), None)


def topic_and_theme(text: str, *, where: str = "--topic") -> tuple[str, str | None]:
    """``10``, ``10-distributed-systems``, ``10/clocks`` -> (topic id, theme or ``None``)."""
    head, sep, theme = text.strip().partition("/")
    topic = topic_id(head)
    if topic is None:
        raise ScenarioError(f"{where} {text}: unknown topic; known: {', '.join(TOPICS)} (or their numbers)")
    if not sep:
        return topic, None
    if theme not in THEMES.get(topic, {}):
        raise ScenarioError(f"{where} {text}: unknown theme {theme!r} for {topic}; known: "
                            f"{', '.join(THEMES.get(topic, {})) or 'none'}")
    return topic, theme


def _parse(sc: Scenario, d: dict[str, Any], *, where: str) -> Question:
    from scenarios.changes import apply_change, parse_change

    unknown = sorted(set(d) - set(_KEYS))
    if unknown:
        raise ScenarioError(f"{where}: unknown field {unknown[0]!r}; allowed: {', '.join(_KEYS)}")
    for req in ("topic", "ask", "answer", "why"):
        if not isinstance(d.get(req), str) or not str(d[req]).strip():
            raise ScenarioError(f"{where}.{req}: required, a non-empty string")
    topic = str(d["topic"])
    if topic not in TOPICS:
        raise ScenarioError(f"{where}.topic: unknown topic {topic!r}; known: {', '.join(TOPICS)}")
    theme = d.get("theme")
    if theme is not None and theme not in THEMES.get(topic, {}):
        known = ", ".join(THEMES.get(topic, {})) or "none"
        raise ScenarioError(f"{where}.theme: unknown theme {theme!r} for {topic}; known: {known}")
    level = d.get("level", 1)
    if not isinstance(level, int) or isinstance(level, bool) or not 1 <= level <= 3:
        raise ScenarioError(f"{where}.level: must be 1, 2 or 3, got {level!r}")
    n = len(sc.faults)
    answer = parse_answer(str(d["answer"]), faults=n, where=f"{where}.answer")
    raw_choices = d.get("choices")
    if raw_choices is None:
        if answer.anomaly:
            raise ScenarioError(f"{where}.choices: an anomaly question lists its choices, e.g. "
                                f"[\"valid\", \"{answer}\", \"invalid:lost-write\"]")
        raw_choices = [f"fault:{k}" for k in range(n)] if answer.fault is not None else ["valid", "invalid"]
    if not isinstance(raw_choices, list) or len(raw_choices) < 2 or not all(isinstance(c, str) for c in raw_choices):
        raise ScenarioError(f"{where}.choices: a list of at least two answers, got {raw_choices!r}")
    choices = tuple(parse_answer(c, faults=n, where=f"{where}.choices") for c in raw_choices)
    if len(set(choices)) != len(choices):
        raise ScenarioError(f"{where}.choices: a choice is listed twice")
    if answer not in choices:
        raise ScenarioError(f"{where}.answer: {answer} is not one of the choices ({', '.join(map(str, choices))})")
    if answer.verdict != sc.expect:
        raise ScenarioError(f"{where}.answer: {answer} says the run is {answer.verdict}, but the scenario "
                            f"expects {sc.expect}")
    follow: FollowUp | None = None
    f = d.get("follow_up")
    if f is not None:
        fw = f"{where}.follow_up"
        if not isinstance(f, dict):
            raise ScenarioError(f"{fw}: must be a table")
        bad = sorted(set(f) - set(_FOLLOW_KEYS))
        if bad:
            raise ScenarioError(f"{fw}: unknown field {bad[0]!r}; allowed: {', '.join(_FOLLOW_KEYS)}")
        for req in _FOLLOW_KEYS:
            if not isinstance(f.get(req), str) or not str(f[req]).strip():
                raise ScenarioError(f"{fw}.{req}: required, a non-empty string")
        if f["answer"] not in ("valid", "invalid"):
            raise ScenarioError(f"{fw}.answer: the verdict after the change, valid or invalid; got {f['answer']!r}")
        change = parse_change(str(f["change"]), where=f"{fw}.change")
        try:
            apply_change(sc.with_overrides(question={}), change)
        except ScenarioError as e:
            raise ScenarioError(f"{fw}.change: {e}") from None
        follow = FollowUp(_words(f["ask"]), change, str(f["answer"]), _words(f["why"]))
    return Question(topic, theme, level, _words(d["ask"]), choices, answer, _words(d["why"]), follow)


def _words(text: Any) -> str:
    """A TOML multi-line string as one paragraph (its line breaks are only for the file)."""
    return " ".join(str(text).split())


# --- grading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grade:
    """How a prediction fared against a run: ``right`` is ``None`` when the run could not
    decide (a checker ran out of budget).  ``found`` says what the run showed."""

    predicted: Answer
    right: bool | None
    verdict: str
    anomalies: tuple[str, ...]
    found: str

    @property
    def word(self) -> str:
        return "ungraded" if self.right is None else ("right" if self.right else "wrong")

    def to_dict(self) -> dict[str, Any]:
        return {"predicted": str(self.predicted), "grade": self.word, "verdict": self.verdict,
                "anomaly_tags": list(self.anomalies), "found": self.found}


def grade(predicted: Answer, verdict: str, results: list[dict[str, Any]],
          *, without_fault_verdict: str | None = None) -> Grade:
    """Grade ``predicted`` against a run's folded ``verdict`` and checker ``results``.

    A ``fault:K`` prediction also needs the verdict of the same run without fault ``K``
    (``without_fault_verdict``): it is right when the run fails and that one passes.
    """
    from analysis.anomalies import tags_of

    tags = tuple(tags_of(results))
    by = {str(r.get("checker")): r.get("anomaly_tags") or [] for r in results if r.get("verdict") == "invalid"}
    if verdict == "invalid":
        found = "INVALID: " + "; ".join(f"{', '.join(t) or 'no anomaly named'} ({c})" for c, t in by.items())
    else:
        found = verdict.upper()
    if verdict == "unknown":
        return Grade(predicted, None, verdict, tags, found + " (a checker could not decide, so nothing is graded)")
    if predicted.fault is not None:
        if without_fault_verdict is None:
            raise ValueError("a fault prediction needs the verdict of the run without that fault")
        found += f"; without fault {predicted.fault} the run is {without_fault_verdict.upper()}"
        return Grade(predicted, verdict == "invalid" and without_fault_verdict == "valid", verdict, tags, found)
    right = predicted.verdict == verdict and (predicted.anomaly is None or predicted.anomaly in tags)
    return Grade(predicted, right, verdict, tags, found)
