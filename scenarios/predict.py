"""Grading a prediction against a finished run: ``splitbrain run NAME --predict ANSWER``.

The grade is computed from the run, never looked up: the verdict, the anomaly words the
checkers attached to their results (:mod:`analysis.anomalies`), and for ``fault:K`` a second
simulator run without fault ``K``.  The scenario's question supplies what the learner reads
afterwards (the hidden answer and its why), and decides whether the attempt counts for the
lesson: only a run of the lesson as written (its flaws and duration; any seed) is recorded
in the progress file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scenarios.questions import Answer, Grade, Question, grade, parse_answer, question_of
from scenarios.runner import RunOutcome
from scenarios.spec import Scenario

__all__ = ["Judged", "judge", "parse_prediction"]


def parse_prediction(text: str, sc: Scenario) -> Answer:
    """``--predict`` as an :class:`Answer` (fault numbers checked against ``sc``)."""
    return parse_answer(text, faults=len(sc.faults), where="--predict")


@dataclass(frozen=True)
class Judged:
    """A graded prediction and what to tell the learner."""

    grade: Grade
    question: Question | None
    lesson: str | None
    """The lesson this attempt counts for (``None``: the run changed the lesson's setup)."""
    note: str

    def document(self, sc: Scenario, engine: str, *, recorded: bool) -> dict[str, Any]:
        """``prediction.json`` of the results folder."""
        q = self.question
        return {
            "scenario": sc.name,
            "seed": sc.seed,
            "engine": engine,
            **self.grade.to_dict(),
            "question": None if q is None else {"ask": q.ask, "kind": q.kind,
                                                 "choices": [str(c) for c in q.choices]},
            "answer": None if q is None else str(q.answer),
            "why": None if q is None or self.lesson is None else q.why,
            "lesson": self.lesson,
            "recorded": recorded,
            "note": self.note,
        }


def judge(lesson_sc: Scenario, run_sc: Scenario, predicted: Answer, outcome: RunOutcome) -> Judged:
    """Grade ``predicted`` for ``outcome``, a run of ``run_sc`` (``lesson_sc`` with the
    command line's overrides)."""
    without = None
    if predicted.fault is not None:
        from scenarios.changes import Change, apply_change
        from scenarios.runner import run_scenario

        rerun = run_scenario(apply_change(run_sc, Change("without-fault", fault=predicted.fault)),
                             trace_messages=False)
        without = rerun.verdict
    g = grade(predicted, outcome.verdict, outcome.results, without_fault_verdict=without)
    q = question_of(lesson_sc)
    same_setup = tuple(run_sc.flaws) == tuple(lesson_sc.flaws) and run_sc.duration_ms == lesson_sc.duration_ms
    if q is None:
        return Judged(g, None, None, "this scenario asks no question, so nothing is recorded")
    if not same_setup:
        return Judged(g, q, None, "this run changed the lesson's flaws or duration, so it is graded but not "
                                  "recorded, and the lesson's explanation may not apply")
    return Judged(g, q, lesson_sc.name, "")
