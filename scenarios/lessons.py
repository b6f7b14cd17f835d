"""The lesson ladder: every catalog scenario with a question is a lesson.

A lesson is nothing more than a scenario plus its ``[question]`` table (topic, rung,
question, hidden answer, follow-up), so a new scenario joins the ladder by asking a
question -- there is no second list to keep in step.  Lessons are ordered by topic, then by
theme (in :data:`~scenarios.questions.THEMES` order; lessons without one last), then by
rung (``level`` 1 to 3), then by name, and each one names what it teaches (the scenario's
``teaches`` line).

A lesson offers "now see it on real processes" (``--engine ray``) when its scenario says
it runs there: ``engines`` lists ``ray``, or it has a ``[ray]`` table tuned for real time.
"""

from __future__ import annotations

from dataclasses import dataclass

from scenarios.questions import THEMES, TOPICS, Question, question_of
from scenarios.spec import Scenario, catalog

__all__ = ["Lesson", "lessons", "lessons_in"]


@dataclass(frozen=True)
class Lesson:
    scenario: Scenario
    question: Question

    @property
    def name(self) -> str:
        return self.scenario.name

    @property
    def topic(self) -> str:
        return self.question.topic

    @property
    def theme(self) -> str | None:
        return self.question.theme

    @property
    def teaches(self) -> str:
        return " ".join(self.scenario.teaches.split())

    @property
    def offers_ray(self) -> bool:
        return "ray" in self.scenario.engines or bool(self.scenario.ray)


def lessons() -> list[Lesson]:
    """Every lesson of the catalog, in ladder order."""
    out = []
    for sc in catalog().values():
        q = question_of(sc)
        if q is not None:
            out.append(Lesson(sc, q))
    order = list(TOPICS)

    def rank(le: Lesson) -> tuple[int, int, int, str]:
        themes = list(THEMES.get(le.topic, {}))
        theme = themes.index(le.theme) if le.theme in themes else len(themes)
        return order.index(le.topic), theme, le.question.level, le.name

    out.sort(key=rank)
    return out


def lessons_in(topic: str, theme: str | None = None) -> list[Lesson]:
    return [le for le in lessons() if le.topic == topic and (theme is None or le.theme == theme)]
