"""``splitbrain why RUN_DIR``: which fault mattered, and which one change fixes it.

The survey is library code (:mod:`scenarios.why`); this shell parses the options, shows
progress and prints the table.  The survey is saved as ``why.json`` in the run's folder and
its report is rendered again to show it (``--no-save``: print only); the reruns themselves
are not saved -- each row names the ``diff`` that saves both runs of that one change.  The
exit code is 0 once the survey is done, whatever it found (3 for bad input).
"""

from __future__ import annotations

import argparse
import os
import sys

from splitbrain.commands import Command
from splitbrain.errors import EXIT_USAGE, input_errors


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", nargs="?", help="a simulator results folder (default: store/latest)")
    p.add_argument("--seeds", type=int, default=1, metavar="N",
                   help="rerun the run and every change at N consecutive seeds (default 1: the run's own), "
                        "to tell a cause from a lucky seed")
    p.add_argument("--jobs", type=int, default=max(1, min(4, os.cpu_count() or 1)), metavar="J",
                   help="simulator runs in parallel (default: CPU count, at most 4)")
    p.add_argument("--json", action="store_true", help="print the survey as JSON")
    p.add_argument("--no-save", action="store_true",
                   help="do not write why.json into the run's folder (nor render its report again)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def _run(args: argparse.Namespace) -> int:
    try:
        return _why(args)
    except input_errors() as e:
        sys.stderr.write(f"splitbrain: error: {e}\n")
        return EXIT_USAGE


def _why(args: argparse.Namespace) -> int:
    import json

    from scenarios.counterfactual import refuse_non_sim
    from scenarios.results import load_run
    from scenarios.why import save, survey
    from splitbrain.terminal import print_why

    run = load_run(args.run_dir)
    refuse_non_sim(run, "why")
    bar = None
    progress = None
    if not args.quiet and not args.json and sys.stderr.isatty():
        from rich.progress import BarColumn, Progress, TextColumn

        bar = Progress(TextColumn("simulating the alternatives"), BarColumn(),
                       TextColumn("{task.completed:.0f}/{task.total:.0f} runs"), transient=True)
        task = bar.add_task("why", total=1)
        bar.start()

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

    try:
        s = survey(run, seeds=args.seeds, jobs=args.jobs, progress=progress)
    finally:
        if bar is not None:
            bar.stop()
    doc = {"run": str(run.dir.resolve()), **s.to_dict()}
    report = None if args.no_save else save(run, doc)
    if args.json:
        print(json.dumps(doc, indent=2, sort_keys=True))
    else:
        print_why(s, run.dir)
        if report is not None:
            print(f"saved: {run.dir.resolve() / 'why.json'}; report: {report} (section 'Which fault mattered')")
    return 0


COMMANDS = [
    Command("why", "which fault mattered, which one change fixes it: rerun a simulator run without each "
                   "fault and with each flaw flipped",
            "splitbrain why store/latest\n"
            "splitbrain why store/latest --seeds 5   # is it the cause, or a lucky seed?",
            _configure, _run),
]
