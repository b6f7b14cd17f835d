"""``splitbrain explore``: search fault schedules with hypothesis and shrink a failure."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from splitbrain.commands import Command
from splitbrain.errors import EXIT_INVALID, EXIT_USAGE, EXIT_VALID, UsageError, input_errors


def parse_budget(text: str) -> float:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min)?\s*", text)
    if not m:
        raise UsageError(f"--budget {text!r}: expected a duration like 60s, 2m or 90")
    v = float(m.group(1))
    unit = m.group(2) or "s"
    v = v / 1000 if unit == "ms" else (v * 60 if unit in ("m", "min") else v)
    if v <= 0:
        raise UsageError("--budget must be greater than 0")
    return v


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="scenario name or file")
    p.add_argument("--budget", default="60s", help="time budget, e.g. 60s or 2m (default 60s)")
    p.add_argument("--flaw", action="append", metavar="FLAW", help="switch a flaw on (repeatable)")
    p.add_argument("--no-flaws", action="store_true", help="explore the correct design")
    p.add_argument("--seed", type=int, default=0, help="seed for hypothesis's own search (default 0)")
    p.add_argument("--store", metavar="DIR", help="results store (default ./store)")
    p.add_argument("--json", action="store_true")


def _run(args: argparse.Namespace) -> int:
    try:
        return _explore(args)
    except input_errors() as e:
        sys.stderr.write(f"splitbrain: error: {e}\n")
        return EXIT_USAGE


def _explore(args: argparse.Namespace) -> int:
    from scenarios.explore import explore
    from scenarios.flawfit import flaw_flags, inert_flaws
    from scenarios.results import check_store, write_run
    from scenarios.runner import effective
    from scenarios.spec import load
    from splitbrain.terminal import console, print_results

    budget = parse_budget(args.budget)
    sc = load(args.name)
    check_store(Path(args.store) if args.store else None)  # before the search spends its budget
    flaws = flaw_flags(no_flaws=args.no_flaws, flaws=args.flaw)
    sc = effective(sc, seed=None, flaws=flaws, time_limit_s=None)
    for notice in inert_flaws(sc):
        sys.stderr.write(notice.line() + "\n")
    c = console()
    status = None
    if not args.json and sys.stderr.isatty():
        status = c.status(f"exploring {sc.name} (budget {budget:g}s)")
        status.start()

    def on_run(n: int, elapsed: float, bad: bool) -> None:
        if status is not None:
            phase = "shrinking" if res_found[0] or bad else "searching"
            status.update(f"{phase} {sc.name}: run {n}, {elapsed:.0f}s of {budget:g}s")
        if bad:
            res_found[0] = True

    res_found = [False]
    try:
        res = explore(sc, budget_s=budget, seed=args.seed, on_run=on_run)
    finally:
        if status is not None:
            status.stop()
    out: dict[str, object] = {"scenario": sc.name, "flaws": list(sc.flaws), "found": res.found, "runs": res.runs,
                              "elapsed_s": round(res.elapsed_s, 2), "first_found_s": res.first_found_s,
                              "shrink_runs": res.shrink_runs}
    if not res.found or res.minimal is None or res.outcome is None:
        if args.json:
            print(json.dumps(out, indent=2))
        else:
            c.print(f"[bold green]no violation found[/bold green] in {res.runs} runs ({res.elapsed_s:.1f}s) of {sc.name}"
                    f" with flaws: {', '.join(sc.flaws) or 'none'}.")
        return EXIT_VALID
    run_dir = write_run(res.outcome, root=Path(args.store) if args.store else None)
    scenario_file = run_dir / "scenario.json"
    out.update({"dir": str(run_dir), "scenario_file": str(scenario_file), "seed": res.minimal.seed,
                "faults": list(res.minimal.faults), "checkers": res.outcome.results})
    if args.json:
        print(json.dumps(out, indent=2, default=str))
        return EXIT_INVALID
    c.print(f"[bold red]violation found[/bold red] in {sc.name} after {res.first_found_s:.1f}s; "
            f"shrunk over {res.shrink_runs} more runs ({res.runs} runs, {res.elapsed_s:.1f}s in all).")
    c.print(f"minimal failing run: seed {res.minimal.seed}, {len(res.minimal.faults)} fault(s):")
    for f in res.minimal.faults:
        c.print(f"  - {json.dumps(f, sort_keys=True)}")
    print_results(res.outcome.results)
    if res.outcome.coverage:
        c.print("did the faults matter?")
        for line in res.outcome.coverage[:6]:
            c.print(f"  - {line}")
    c.print(f"saved: {scenario_file}")
    c.print(f"replay: splitbrain run {scenario_file}")
    return EXIT_INVALID


COMMANDS = [
    Command("explore", "search fault schedules with hypothesis until a checker fails, then shrink it",
            "splitbrain explore raft-split-brain-reads --budget 60s\n"
            "splitbrain explore raft-leader-partition --flaw ack_before_commit --budget 2m",
            _configure, _run),
]
