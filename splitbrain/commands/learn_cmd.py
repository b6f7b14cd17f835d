"""``splitbrain learn``: the lesson loop -- read the setup, predict, run, see why, predict
what one change would do, and let ``diff`` settle it.

Everything it asks is read from standard input with rich prompts, line by line, so a lesson
can be scripted (``printf '10\\n2\\nvalid\\nn\\n' | splitbrain learn``) and is tested that way.
End of input ends the session cleanly.  The lessons, the grading and the progress file are
library code (:mod:`scenarios.lessons`, :mod:`scenarios.questions`, :mod:`scenarios.predict`,
:mod:`scenarios.counterfactual`, :mod:`scenarios.progress`); this module only talks.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from splitbrain.commands import Command
from splitbrain.errors import EXIT_USAGE, UsageError, input_errors

if TYPE_CHECKING:
    from rich.console import Console

    from scenarios.lessons import Lesson
    from scenarios.progress import Progress


class _EndOfInput(Exception):
    """Standard input ran out: the learner (or the script) is done."""


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--list", action="store_true", help="one lesson a line: topic, state (new/right/wrong), name")
    p.add_argument("--status", action="store_true", help="progress per topic")
    p.add_argument("--topic", metavar="T", help="walk this topic (08, 10, 11, 13, 14 or its full id), or one theme "
                                               "of it (10/clocks; see --list)")
    p.add_argument("--lesson", metavar="NAME", help="start with this lesson (a scenario name)")
    p.add_argument("--store", metavar="DIR", help="where the lesson's runs are saved (default: ./store or $SPLITBRAIN_STORE)")
    p.add_argument("--json", action="store_true", help="with --list or --status: machine-readable output")


def _run(args: argparse.Namespace) -> int:
    try:
        return _learn(args)
    except input_errors() as e:
        sys.stderr.write(f"splitbrain: error: {e}\n")
        return EXIT_USAGE


def _learn(args: argparse.Namespace) -> int:
    from scenarios.lessons import lessons
    from scenarios.progress import Progress
    from scenarios.questions import topic_and_theme

    if args.list and args.status:
        raise UsageError("--list and --status are two views; pick one")
    all_lessons = lessons()
    progress = Progress.load()
    if args.list:
        return _list(all_lessons, progress, as_json=args.json)
    if args.status:
        return _status(all_lessons, progress, as_json=args.json)
    if args.json:
        raise UsageError("--json goes with --list or --status")
    topic = theme = None
    if args.topic is not None:
        topic, theme = topic_and_theme(args.topic)
    first = None
    if args.lesson is not None:
        first = next((le for le in all_lessons if le.name == args.lesson), None)
        if first is None:
            raise UsageError(f"--lesson {args.lesson}: no lesson of that name (see 'splitbrain learn --list')")
        if topic is not None and (topic != first.topic or (theme is not None and theme != first.theme)):
            where = first.topic + (f"/{first.theme}" if first.theme else "")
            raise UsageError(f"--lesson {args.lesson} is in {where}, not in --topic {args.topic}")
        topic = first.topic
    return _Session(all_lessons, progress, Path(args.store) if args.store else None).run(topic, theme, first)


# --- the two views -------------------------------------------------------------------------------


def _list(all_lessons: list[Lesson], progress: Progress, *, as_json: bool) -> int:
    import json

    rows: list[dict[str, Any]] = [{"topic": le.topic, "theme": le.theme, "state": progress.state(le.name), "lesson": le.name, "level": le.question.level,
             "follow_up": progress.follow_up_state(le.name), "teaches": le.teaches, "question": le.question.ask}
            for le in all_lessons]
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["lesson"]) for r in rows)
    tw = max(len(r["theme"] or "-") for r in rows)
    for r in rows:
        # A new lesson shows its question; what it teaches would give the answer away.
        text = _clip(r["question"], 100) if r["state"] == "new" else f"teaches: {r['teaches']}"
        print(f"{r['topic']:<24} {r['state']:<5}  {r['theme'] or '-':<{tw}}  {r['lesson']:<{width}}  {text}")
    return 0


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def _status(all_lessons: list[Lesson], progress: Progress, *, as_json: bool) -> int:
    import json

    from rich.table import Table

    from scenarios.questions import TOPICS
    from splitbrain.terminal import console

    def zero() -> dict[str, int]:
        return {"lessons": 0, "right": 0, "wrong": 0, "new": 0, "follow_ups_right": 0}

    per: dict[str, dict[str, int]] = {t: zero() for t in TOPICS}
    themes: dict[str, dict[str, dict[str, int]]] = {t: {} for t in TOPICS}
    for le in all_lessons:
        rows = [per[le.topic], themes[le.topic].setdefault(le.theme or "-", zero())]
        for row in rows:
            row["lessons"] += 1
            row[progress.state(le.name)] += 1
            row["follow_ups_right"] += progress.follow_up_state(le.name) == "right"
    if as_json:
        print(json.dumps({"progress_file": str(progress.path), "topics": per, "themes": themes}, indent=2))
        return 0
    t = Table(show_header=True, header_style="bold", box=None)
    for col in ("topic", "lessons", "right", "wrong", "new", "follow-ups right", "score"):
        t.add_column(col, no_wrap=True)
    def cells(row: dict[str, int]) -> list[str]:
        done = row["right"] + row["wrong"]
        score = f"{row['right'] + row['follow_ups_right']}/{2 * row['lessons']}"
        return [str(row["lessons"]), str(row["right"]), str(row["wrong"]), str(row["new"]),
                str(row["follow_ups_right"]), score if done else "-"]

    for topic, row in per.items():
        t.add_row(topic, *cells(row), style="bold")
        for theme, trow in themes[topic].items():
            t.add_row(f"  {topic.split('-', 1)[0]}/{theme}", *cells(trow))
    c = console()
    c.print(t)
    c.print(f"first predictions count: right {sum(r['right'] for r in per.values())}, wrong "
            f"{sum(r['wrong'] for r in per.values())}, new {sum(r['new'] for r in per.values())} "
            f"(progress file: {progress.path})", markup=False)
    return 0


# --- the interactive loop ------------------------------------------------------------------------


class _Session:
    """One sitting: pick a topic, then lessons one after another until the learner stops."""

    def __init__(self, all_lessons: list[Lesson], progress: Progress, store: Path | None) -> None:
        from splitbrain.terminal import console

        self.lessons = all_lessons
        self.progress = progress
        self.store = store
        self.c: Console = console()
        self.points = 0
        self.possible = 0

    # -- input

    def ask(self, prompt: str, *, choices: list[str] | None = None, default: str | None = None,
            show_choices: bool = True) -> str:
        from rich.prompt import Prompt

        try:
            if default is None:
                answer = Prompt.ask(prompt, console=self.c, choices=choices, show_choices=show_choices)
            else:
                answer = Prompt.ask(prompt, console=self.c, choices=choices, default=default,
                                    show_choices=show_choices)
        except EOFError:
            raise _EndOfInput from None
        if not sys.stdin.isatty():
            self.c.print(str(answer), markup=False, highlight=False)  # a piped answer is not echoed
        return str(answer).strip()

    def yes(self, prompt: str, *, default: bool) -> bool:
        return self.ask(prompt, choices=["y", "n"], default="y" if default else "n") == "y"

    # -- flow

    def run(self, topic: str | None, theme: str | None, first: Lesson | None) -> int:
        try:
            if topic is None:
                topic, theme = self.pick_topic()
            lesson = first or self.next_lesson(topic, theme)
            while lesson is not None:
                self.teach(lesson)
                if not self.yes("\nnext lesson?", default=True):
                    break
                lesson = self.next_lesson(topic, theme)
        except _EndOfInput:
            self.c.print("\n(end of input)")
        if self.possible:
            self.c.print(f"\nsession score: {self.points}/{self.possible}. "
                         f"'splitbrain learn --status' shows your progress per topic.", markup=False)
        return 0

    def pick_topic(self) -> tuple[str, str | None]:
        """A topic (its number) or one theme of it (``10/clocks``)."""
        from scenarios.questions import TOPICS, topic_and_theme

        self.c.print("[bold]topics[/bold]")
        numbers = []
        accepted = []
        default = None
        for topic, words in TOPICS.items():
            mine = [le for le in self.lessons if le.topic == topic]
            n = topic.split("-", 1)[0]
            numbers.append(n)
            accepted.append(n)
            new = self._count(mine, "new")
            if default is None and new:
                default = n
            self.c.print(f"  {n}  {words}  ({len(mine)} lessons: {self._count(mine, 'right')} right, {new} new)",
                         markup=False)
            themes = list(dict.fromkeys(le.theme for le in mine if le.theme))
            parts = []
            for th in themes:
                ours = [le for le in mine if le.theme == th]
                parts.append(f"{n}/{th} ({self._count(ours, 'new')}/{len(ours)} new)")
                accepted.append(f"{n}/{th}")
            if parts:
                self.c.print("      " + ", ".join(parts), markup=False)
        self.c.print(f"pick a topic ({'/'.join(numbers)}) or one theme of it (e.g. 10/clocks)", markup=False)
        chosen = self.ask("topic", choices=accepted, default=default or numbers[0], show_choices=False)
        return topic_and_theme(chosen)

    def _count(self, some: list[Lesson], state: str) -> int:
        return sum(self.progress.state(le.name) == state for le in some)

    def next_lesson(self, topic: str, theme: str | None = None) -> Lesson | None:
        mine = [le for le in self.lessons if le.topic == topic and (theme is None or le.theme == theme)]
        fresh = next((le for le in mine if self.progress.state(le.name) == "new"), None)
        if fresh is not None:
            return fresh
        where = topic + (f"/{theme}" if theme else "")
        self.c.print(f"\nevery lesson of {where} has a first prediction; pick one to try again:")
        for i, le in enumerate(mine, 1):
            self.c.print(f"  {i:>2}. {le.name} ({self.progress.state(le.name)})", markup=False)
        pick = self.ask("lesson", choices=[str(i) for i in range(1, len(mine) + 1)])
        return mine[int(pick) - 1]

    def teach(self, lesson: Lesson) -> None:
        from scenarios.questions import TOPICS

        sc, q = lesson.scenario, lesson.question
        mine = [le.name for le in self.lessons if le.topic == lesson.topic]
        theme = f" · {lesson.theme}" if lesson.theme else ""
        self.c.rule(f"{lesson.topic} · lesson {mine.index(lesson.name) + 1} of {len(mine)} · level {q.level}{theme}")
        # The question carries the setup; a scenario's summary often names the outcome.
        self.c.print(f"[bold]{sc.name}[/bold] ({TOPICS[lesson.topic]})", markup=True)
        self.print_setup(lesson)
        choices = self.print_question(lesson)
        predicted = self.read_prediction(lesson, choices)
        outcome, run_dir, judged = self.run_lesson(lesson, predicted)
        got = 1 if judged.grade.right else 0
        if lesson.offers_ray:
            self.offer_ray(lesson)
        if q.follow_up is not None:
            got += self.follow_up(lesson, run_dir)
        possible = 2 if q.follow_up is not None else 1
        self.points += got
        self.possible += possible
        self.c.print(f"\n[bold]lesson score: {got}/{possible}[/bold]")

    def print_setup(self, lesson: Lesson) -> None:
        from scenarios.changes import describe_fault_item
        from scenarios.systems import describe_flaw

        sc = lesson.scenario
        self.c.print(f"\nsetup: {sc.system}, {sc.nodes} nodes, {sc.clients} clients, {sc.duration_ms} ms simulated, "
                     f"seed {sc.seed}", markup=False)
        for f in sc.flaws:
            self.c.print(f"  flaw switched on: {f}: {describe_flaw(sc.system, f)}", markup=False)
        for key, value in sorted(sc.client.items()):
            self.c.print(f"  client.{key} = {value}", markup=False)
        for k, item in enumerate(sc.faults):
            self.c.print(f"  fault {k}: {describe_fault_item(item)}", markup=False)
        if not sc.faults:
            self.c.print("  no faults", markup=False)

    def print_question(self, lesson: Lesson) -> list[str]:
        from analysis.anomalies import VOCABULARY
        from scenarios.changes import describe_fault_item

        q = lesson.question
        self.c.print(f"\n[bold]question[/bold]: {q.ask}", markup=True)
        texts = []
        for i, choice in enumerate(q.choices, 1):
            if choice.fault is not None:
                meaning = describe_fault_item(lesson.scenario.faults[choice.fault])
            elif choice.anomaly:
                meaning = VOCABULARY[choice.anomaly]
            else:
                meaning = {"valid": "every checker passes", "invalid": "some checker finds a violation"}[choice.verdict]
            self.c.print(f"  {i}. {choice} -- {meaning}", markup=False)
            texts.append(str(choice))
        return texts

    def read_prediction(self, lesson: Lesson, choices: list[str]) -> Any:
        from scenarios.predict import parse_prediction
        from scenarios.spec import ScenarioError

        while True:
            raw = self.ask("your prediction (a number or the answer)")
            if raw.isdigit() and 1 <= int(raw) <= len(choices):
                raw = choices[int(raw) - 1]
            try:
                return parse_prediction(raw, lesson.scenario)
            except ScenarioError as e:
                self.c.print(f"[yellow]{e}[/yellow]", markup=True)

    def run_lesson(self, lesson: Lesson, predicted: Any) -> tuple[Any, Path, Any]:
        from scenarios.predict import judge
        from scenarios.results import write_run
        from scenarios.runner import run_scenario
        from splitbrain.terminal import print_prediction, print_results, verdict_text

        sc = lesson.scenario
        self.c.print(f"\nrunning {sc.name} in the simulator (seed {sc.seed}) ...", markup=False)
        outcome = run_scenario(sc)
        judged = judge(sc, sc, predicted, outcome)
        doc = judged.document(sc, "sim", recorded=True)
        run_dir = write_run(outcome, root=self.store, extra={"prediction.json": doc})
        first = self.progress.record(lesson.name, str(predicted), judged.grade.word, seed=sc.seed, engine="sim",
                                     run_dir=str(run_dir))
        self.progress.save()
        line = verdict_text(outcome.verdict)
        self.c.print("verdict ", end="")
        self.c.print(line)
        print_results(outcome.results)
        note = ("your first prediction for this lesson: it counts" if first else
                f"the first prediction counts; this lesson stays {self.progress.state(lesson.name)}")
        print_prediction(doc, note)
        self.c.print(f"this lesson teaches: {lesson.teaches}", markup=False)
        self.c.print(f"the run: {run_dir} (open report.html in a browser)", markup=False)
        if sc.faults or sc.flaws:
            self.c.print(f"which fault or flaw mattered? later: splitbrain why {run_dir}", markup=False)
        return outcome, run_dir, judged

    def offer_ray(self, lesson: Lesson) -> None:
        cmd = f"splitbrain run {lesson.name} --engine ray"
        self.c.print(f"\nthis lesson also runs on real processes (Ray actors over gRPC): {cmd}", markup=False)
        if not self.yes("now see it on real processes?", default=False):
            return
        from cluster.runtime.launch import RayLauncher, RayOptions
        from scenarios.results import write_run
        from scenarios.runner import run_scenario
        from splitbrain.terminal import print_results, verdict_text

        self.c.print("starting Ray (this takes a few seconds) ...")
        try:
            outcome = run_scenario(lesson.scenario, RayLauncher(RayOptions()))
        except input_errors() as e:
            self.c.print(f"[yellow]could not run on real processes: {e}[/yellow]")
            return
        run_dir = write_run(outcome, root=self.store)
        self.c.print("verdict on real processes ", end="")
        self.c.print(verdict_text(outcome.verdict))
        print_results(outcome.results)
        self.c.print(f"the run: {run_dir}", markup=False)

    def follow_up(self, lesson: Lesson, run_dir: Path) -> int:
        from scenarios.counterfactual import run_diff
        from scenarios.results import load_run
        from splitbrain.terminal import print_diff

        f = lesson.question.follow_up
        assert f is not None
        self.c.print(f"\n[bold]follow-up[/bold]: {f.ask}", markup=True)
        self.c.print(f"  the change: {f.change.describe(lesson.scenario)}", markup=False)
        predicted = self.ask("after the change the run is", choices=["valid", "invalid"])
        self.c.print(f"settling it: splitbrain diff {run_dir} {f.change.flag()}", markup=False)
        run = load_run(run_dir)
        d = run_diff(run, f.change)
        summary, second_dir = d.save(run, self.store)
        print_diff(d.base, summary, second_dir)
        right = predicted == d.second.verdict
        grade = "right" if right else ("ungraded" if d.second.verdict == "unknown" else "wrong")
        self.progress.record_follow_up(lesson.name, predicted, grade)
        self.progress.save()
        word = {"right": "[bold green]right[/bold green]", "wrong": "[bold red]wrong[/bold red]"}.get(grade, grade)
        self.c.print(f"follow-up: {word}", markup=True)
        self.c.print(f"  why: {f.why}", markup=False)
        return 1 if right else 0


COMMANDS = [
    Command("learn", "lessons: predict a scenario's outcome, run it, see why, then predict one change (graded)",
            "splitbrain learn                 # pick a topic, then lesson after lesson\n"
            "splitbrain learn --topic 10\n"
            "splitbrain learn --topic 10/clocks  # one theme of a topic\n"
            "splitbrain learn --list          # every lesson: topic, state (new/right/wrong)\n"
            "splitbrain learn --status        # progress per topic",
            _configure, _run),
]
