"""``splitbrain explore``: search fault schedules with hypothesis and shrink a failure."""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
from pathlib import Path
from typing import Any

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
    p.add_argument("--workers", type=int, metavar="K",
                   help="search with K hypothesis shards in parallel on Ray (seeds SEED..SEED+K-1); the first "
                        "failure stops the others and is shrunk where it was found")
    p.add_argument("--ray-address", metavar="ADDR",
                   help="run the shards on this Ray cluster (default with --workers: a private local Ray); "
                        "without --workers, one shard per CPU the cluster offers")
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
    from scenarios.results import write_run
    from scenarios.runner import effective
    from scenarios.spec import load
    from splitbrain.terminal import console, print_results

    budget = parse_budget(args.budget)
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers {args.workers}: need at least 1 worker")
    sc = load(args.name)
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
    sharded = None
    try:
        if args.workers is not None or args.ray_address:
            sharded = _explore_sharded(sc, args, budget, status)
            res = sharded.result
        else:
            res = explore(sc, budget_s=budget, seed=args.seed, on_run=on_run)
    finally:
        if status is not None:
            status.stop()
    out: dict[str, object] = {"scenario": sc.name, "flaws": list(sc.flaws), "found": res.found, "runs": res.runs,
                              "elapsed_s": round(res.elapsed_s, 2), "first_found_s": res.first_found_s,
                              "shrink_runs": res.shrink_runs}
    if sharded is not None:
        out.update({"workers": sharded.workers, "found_by": sharded.found_by, "cancelled": sharded.cancelled,
                    "shards": [r.to_dict() for r in sharded.shards]})
    if not res.found or res.minimal is None or res.outcome is None:
        if args.json:
            print(json.dumps(out, indent=2))
        else:
            c.print(f"[bold green]no violation found[/bold green] in {res.runs} runs ({res.elapsed_s:.1f}s) of {sc.name}"
                    f" with flaws: {', '.join(sc.flaws) or 'none'}" + _shard_words(sharded) + ".")
        return EXIT_VALID
    run_dir = write_run(res.outcome, root=Path(args.store) if args.store else None)
    scenario_file = run_dir / "scenario.json"
    out.update({"dir": str(run_dir), "scenario_file": str(scenario_file), "seed": res.minimal.seed,
                "faults": list(res.minimal.faults), "checkers": res.outcome.results})
    if args.json:
        print(json.dumps(out, indent=2, default=str))
        return EXIT_INVALID
    c.print(f"[bold red]violation found[/bold red] in {sc.name} after {res.first_found_s:.1f}s; "
            f"shrunk over {res.shrink_runs} more runs ({res.runs} runs, {res.elapsed_s:.1f}s in all)"
            + _shard_words(sharded) + ".")
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


def _explore_sharded(sc: Any, args: argparse.Namespace, budget: float, status: Any) -> Any:
    """``--workers`` / ``--ray-address``: hypothesis shards on Ray."""
    from scenarios.explore_shards import explore_sharded

    def on_status(runs: int, elapsed: float, found: bool, shards: int) -> None:
        if status is not None:
            phase = "shrinking" if found else "searching"
            status.update(f"{phase} {sc.name}: {runs} runs on {shards} shards, {elapsed:.0f}s of {budget:g}s")

    # Ray writes worker notices on stdout; keep stdout for the result (--json stays parseable).
    # Without --workers (only --ray-address): one shard per CPU the cluster offers.
    with contextlib.redirect_stdout(sys.stderr):
        return explore_sharded(sc, workers=args.workers, budget_s=budget, seed=args.seed,
                               address=args.ray_address, status=on_status)


def _shard_words(sharded: Any) -> str:
    if sharded is None:
        return ""
    from scenarios.explore_shards import finder

    nodes = sorted({r.node for r in sharded.shards})
    words = f"; {sharded.workers} shards on {len(nodes)} Ray node(s)"
    hit = finder(sharded)
    if hit is not None:
        words += f", found by shard {hit.shard} (hypothesis seed {hit.seed}, on {hit.node})"
    return words


COMMANDS = [
    Command("explore", "search fault schedules with hypothesis until a checker fails, then shrink it",
            "splitbrain explore raft-stale-read --budget 60s\n"
            "splitbrain explore raft-leader-partition --flaw ack_before_commit --budget 2m\n"
            "splitbrain explore raft-figure8 --workers 4 --budget 5m   # 4 hypothesis shards on Ray",
            _configure, _run),
]
