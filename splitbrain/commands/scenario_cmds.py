"""``splitbrain list`` and ``splitbrain show``: the scenario catalog."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from splitbrain.commands import Command
from splitbrain.errors import EXIT_USAGE, input_errors
from splitbrain.plugin_args import add_plugin_argument, load_plugin_args


def _list_configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable listing")
    add_plugin_argument(p)


def _list_run(args: argparse.Namespace) -> int:
    import json

    from rich.table import Table

    from scenarios.spec import catalog
    from splitbrain.terminal import console

    try:
        load_plugin_args(args)
        cat = catalog()
    except input_errors() as e:
        sys.stderr.write(f"splitbrain: error: {e}\n")
        return EXIT_USAGE
    if args.json:
        print(json.dumps([{"name": s.name, "summary": s.summary, "system": s.system, "flaws": list(s.flaws),
                           "expect": s.expect, "twin": s.twin, "topic": s.question.get("topic")}
                          for s in cat.values()], indent=2))
        return 0
    t = Table(show_header=True, header_style="bold", box=None)
    t.add_column("scenario", no_wrap=True, min_width=max(len(n) for n in cat))
    t.add_column("system", no_wrap=True)
    t.add_column("flaws", no_wrap=True)
    t.add_column("topic", no_wrap=True)
    t.add_column("summary")
    for s in cat.values():
        topic = str(s.question.get("topic", "-")).split("-", 1)[0]
        t.add_row(s.name, s.system, ", ".join(s.flaws) or "-", topic, s.summary)
    console().print(t)
    _print_plugins()
    return 0


def _print_plugins() -> None:
    """What each loaded plugin added (scenario files', --plugin and installed ones)."""
    from scenarios.plugins import loaded
    from splitbrain.terminal import console

    plugins = loaded()
    if plugins:
        c = console()
        c.print("\nplugins:")
        for plugin in plugins:
            c.print(f"  {plugin.summary()}", markup=False, highlight=False)


def _show_configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="scenario name or file")
    add_plugin_argument(p)
    p.add_argument("--answer", action="store_true",
                   help="also show the hidden answer, its why, the follow-up's answer and the description")


def _show_run(args: argparse.Namespace) -> int:
    from scenarios.spec import load
    from scenarios.systems import describe_flaw, flaw_names
    from splitbrain.terminal import console

    try:
        load_plugin_args(args)
        sc = load(args.name)
    except input_errors() as e:
        sys.stderr.write(f"splitbrain: error: {e}\n")
        return EXIT_USAGE
    from scenarios.questions import question_of

    c = console()
    question = question_of(sc)
    # A summary often names the outcome: with a question to answer it waits for --answer.
    if args.answer or question is None:
        c.print(f"[bold]{sc.name}[/bold]: {sc.summary}", markup=True)
    else:
        c.print(f"[bold]{sc.name}[/bold]", markup=True)
    if question is not None:
        _print_question(sc, question)
    if args.answer or question is None:
        if sc.description:
            c.print()
            c.print(sc.description.strip(), markup=False)
        if sc.teaches:
            c.print(f"\n[bold]teaches[/bold]: {sc.teaches.strip()}")
    if args.answer and question is not None:
        _print_answer(sc, question)
    c.print()
    c.print(f"system: {sc.system} ({sc.nodes} nodes, {sc.clients} clients), engines: sim, ray (--engine ray)")
    c.print(f"workload: {sc.workload or 'defaults'}")
    c.print(f"duration: {sc.duration_ms} ms simulated; time limit {sc.time_limit_s:g} s; seed {sc.seed}")
    c.print(f"config: {sc.config or 'defaults'}")
    judged = f"model {sc.model}"
    if {"isolation", "elle"} & set(sc.checkers):
        judged += f", consistency model {sc.consistency_model}"
    expected = f"; expected verdict: {sc.expect}" if args.answer or question is None else ""
    c.print(f"checkers: {', '.join(sc.checkers)} ({judged}){expected}")
    if sc.plugins:
        from scenarios.plugins import shown

        c.print(f"plugins: {', '.join(shown(p) for p in sc.plugins)}", markup=False, highlight=False)
    from faults.schedule import item_from_dict
    from scenarios.flawfit import inert_flaws

    c.print("faults (every field, defaults included):" + ("" if sc.faults else " none"))
    for i, item in enumerate(sc.faults):
        c.print(f"  {i}. {_spelled_out(item_from_dict(item).to_dict())}", markup=False)
    if sc.faults:
        c.print("  (numbered as 'run --predict fault:K' and 'diff --without-fault K' name them)")
    c.print("flaws switched on:" + ("" if sc.flaws else " none (this is the correct design)"))
    inert = {n.flaw: n.reason for n in inert_flaws(sc)}
    for f in sc.flaws:
        c.print(f"  - {f}: {describe_flaw(sc.system, f)}")
        if f in inert:
            c.print(f"    [yellow]has no effect here[/yellow]: {inert[f]}")
    others = [f for f in flaw_names(sc.system) if f not in sc.flaws]
    c.print(f"other flaws you can switch on with --flaw: {', '.join(others)}")
    if sc.twin:
        c.print(f"twin: {sc.twin}")
    if sc.ray:
        c.print("with --engine ray (real time, real processes) these override the above:")
        for k, v in sc.ray.items():
            c.print(f"  - {k}: {v}")
    return 0


def _print_question(sc: Any, q: Any) -> None:
    """The question and its choices, never the answer."""
    from analysis.anomalies import VOCABULARY
    from scenarios.changes import describe_fault_item
    from scenarios.questions import TOPICS
    from splitbrain.terminal import console

    c = console()
    c.print(f"\n[bold]question[/bold] ({q.kind}; topic {q.topic}: {TOPICS[q.topic]}; level {q.level}):")
    c.print(f"  {q.ask}", markup=False)
    for choice in q.choices:
        if choice.fault is not None:
            meaning = describe_fault_item(sc.faults[choice.fault])
        elif choice.anomaly:
            meaning = VOCABULARY[choice.anomaly]
        else:
            meaning = {"valid": "every checker passes", "invalid": "some checker finds a violation"}[choice.verdict]
        c.print(f"  - {choice}: {meaning}", markup=False)
    c.print(f"  predict, then run: splitbrain run {sc.source or sc.name} --predict CHOICE", markup=False)
    c.print(f"  (or read the answer: splitbrain show {sc.source or sc.name} --answer)", markup=False)


def _print_answer(sc: Any, q: Any) -> None:
    from splitbrain.terminal import console

    c = console()
    c.print(f"\n[bold]answer[/bold]: {q.answer}")
    c.print(f"expected verdict: {q.expected_verdict}")
    c.print(f"why: {q.why}", markup=False)
    f = q.follow_up
    if f is not None:
        c.print(f"\n[bold]follow-up[/bold]: {f.ask}")
        c.print(f"  settle it with: splitbrain diff RUN_DIR {f.change.flag()}", markup=False)
        c.print(f"  answer: {f.answer} -- {f.why}", markup=False)


def _spelled_out(d: dict[str, object]) -> dict[str, object]:
    """A fault item with every default written out (a link's loss 0.0 included), minus the
    fields that are unset (None) or empty, which only add noise."""
    out: dict[str, object] = {}
    for k, v in d.items():
        if v is None or v == []:
            continue
        out[k] = _spelled_out(v) if isinstance(v, dict) else v
    return out


COMMANDS = [
    Command("list", "list the named scenarios with one-line summaries", "splitbrain list", _list_configure, _list_run),
    Command("show", "describe a scenario and ask its question (--answer: the answer and what it teaches)",
            "splitbrain show raft-follower-reads\nsplitbrain show raft-follower-reads --answer",
            _show_configure, _show_run),
]
