"""``splitbrain explore``: hypothesis draws runs (operations and faults) and shrinks a failure."""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
import textwrap
from pathlib import Path
from typing import Any

from splitbrain.commands import Command
from splitbrain.errors import EXIT_INVALID, EXIT_USAGE, EXIT_VALID, UsageError, input_errors
from splitbrain.plugin_args import add_plugin_argument, load_plugin_args

MINIMAL_FILE = "minimal.toml"
"""The shrunk run as a scenario file, in its results folder (``minimal.json`` when a value
has no TOML form)."""


def parse_budget(text: str, flag: str = "--budget") -> float:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min)?\s*", text)
    if not m:
        raise UsageError(f"{flag} {text!r}: expected a duration like 60s, 2m or 90")
    v = float(m.group(1))
    unit = m.group(2) or "s"
    v = v / 1000 if unit == "ms" else (v * 60 if unit in ("m", "min") else v)
    if v <= 0:
        raise UsageError(f"{flag} must be greater than 0")
    return v


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="scenario name or file")
    p.add_argument("--budget", default="60s", help="search budget, e.g. 60s or 2m (default 60s)")
    p.add_argument("--shrink-budget", default="60s",
                   help="time to shrink a failure once found, on top of the search (default 60s)")
    p.add_argument("--max-runs", type=int, metavar="N",
                   help="also stop searching after N runs (a budget in runs replays the same on any machine)")
    p.add_argument("--max-shrink-runs", type=int, metavar="N", help="also stop shrinking after N runs")
    p.add_argument("--flaw", action="append", metavar="FLAW", help="switch a flaw on (repeatable)")
    p.add_argument("--no-flaws", action="store_true", help="explore the correct design")
    p.add_argument("--keep-workload", action="store_true",
                   help="search seeds and faults over the scenario's own workload only (no drawn operations)")
    p.add_argument("--seed", type=int, default=0, help="seed for hypothesis's own search (default 0)")
    p.add_argument("--workers", type=int, metavar="K",
                   help="search with K hypothesis shards in parallel on Ray (seeds SEED..SEED+K-1); the first "
                        "failure stops the others and is shrunk where it was found")
    p.add_argument("--ray-address", metavar="ADDR",
                   help="run the shards on this Ray cluster (default with --workers: a private local Ray); "
                        "without --workers, one shard per CPU the cluster offers")
    p.add_argument("--store", metavar="DIR", help="results store (default ./store)")
    p.add_argument("--json", action="store_true")
    add_plugin_argument(p)


def _run(args: argparse.Namespace) -> int:
    try:
        return _explore(args)
    except input_errors() as e:
        sys.stderr.write(f"splitbrain: error: {e}\n")
        return EXIT_USAGE


def minimal_scenario(res: Any) -> Any:
    """The shrunk run as a scenario of its own: named ``<scenario>-minimal``, with a summary
    that says what it is and a description of how explore got there."""
    sc, minimal = res.scenario, res.minimal
    size, first = res.minimal_size, res.first_size
    ops = f"{size.operations} operation{'s' * (size.operations != 1)}"
    faults = f"{size.faults} fault{'s' * (size.faults != 1)}"
    text = (f"splitbrain explore found this failure of {sc.name} (checker {res.failing_checker}) among "
            f"{res.found_by} and shrank it from {first.operations} operations, {first.clients} clients and "
            f"{first.faults} faults over {first.simulated_ms} ms to {ops}, {size.clients} "
            f"client{'s' * (size.clients != 1)} and {faults} over {size.simulated_ms} ms. "
            f"Rerunning this file replays it exactly.")
    text = textwrap.fill(text, 92)
    description = (sc.description.rstrip() + "\n\n" + text) if sc.description else text
    return minimal.with_overrides(name=f"{sc.name}-minimal", description=description, twin=None, source=None,
                                  summary=f"the smallest failing run explore found for {sc.name}: {ops}, {faults}",
                                  expect="invalid")


def save_minimal(sc: Any, folder: Path) -> Path:
    """Write ``sc`` into ``folder`` as TOML (JSON if it holds a value TOML cannot)."""
    try:
        path, body = folder / MINIMAL_FILE, sc.to_toml()
    except ValueError:
        path, body = folder / "minimal.json", sc.to_json() + "\n"
    path.write_text(body, encoding="utf-8")
    return path


def _size_rows(res: Any) -> list[tuple[str, str, str]]:
    a, b = res.first_size, res.minimal_size
    return [("operations", str(a.operations), str(b.operations)), ("clients", str(a.clients), str(b.clients)),
            ("faults applied", str(a.faults), str(b.faults)),
            ("fault schedule entries", str(a.fault_entries), str(b.fault_entries)),
            ("simulated time", f"{a.simulated_ms} ms", f"{b.simulated_ms} ms")]


def _explore(args: argparse.Namespace) -> int:
    from analysis.records import json_default
    from scenarios.explore import explore
    from scenarios.flawfit import flaw_flags, inert_flaws
    from scenarios.plugins import with_plugins
    from scenarios.results import check_store, write_run
    from scenarios.runner import effective, run_scenario
    from scenarios.spec import load
    from splitbrain.terminal import console, print_results

    budget = parse_budget(args.budget)
    shrink_budget = parse_budget(args.shrink_budget, "--shrink-budget")
    for flag, n in (("--max-runs", args.max_runs), ("--max-shrink-runs", args.max_shrink_runs)):
        if n is not None and n < 1:
            raise UsageError(f"{flag} must be at least 1, got {n}")
    sc = with_plugins(load(args.name), load_plugin_args(args))
    check_store(Path(args.store) if args.store else None)  # before the search spends its budget
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers {args.workers}: need at least 1 worker")
    flaws = flaw_flags(no_flaws=args.no_flaws, flaws=args.flaw)
    sc = effective(sc, seed=None, flaws=flaws, time_limit_s=None)
    for notice in inert_flaws(sc):
        sys.stderr.write(notice.line() + "\n")
    c = console()
    status = None
    if not args.json and sys.stderr.isatty():
        status = c.status(f"exploring {sc.name} (budget {budget:g}s)")
        status.start()
    found = [False]

    def on_run(n: int, elapsed: float, bad: bool) -> None:
        found[0] = found[0] or bad
        if status is not None:
            phase = f"shrinking (budget {shrink_budget:g}s)" if found[0] else f"searching (budget {budget:g}s)"
            status.update(f"{phase} {sc.name}: run {n}, {elapsed:.0f}s")

    sharded = None
    try:
        if args.workers is not None or args.ray_address:
            sharded = _explore_sharded(sc, args, budget, shrink_budget, status)
            res = sharded.result
        else:
            res = explore(sc, budget_s=budget, shrink_budget_s=shrink_budget, seed=args.seed, on_run=on_run,
                          draw_workload=False if args.keep_workload else None, max_runs=args.max_runs,
                          max_shrink_runs=args.max_shrink_runs)
    finally:
        if status is not None:
            status.stop()
    out: dict[str, Any] = {"scenario": sc.name, "flaws": list(sc.flaws), "found": res.found, "runs": res.runs,
                           "elapsed_s": round(res.elapsed_s, 2), "first_found_s": res.first_found_s,
                           "shrink_runs": res.shrink_runs, "shrink_s": round(res.shrink_s, 2),
                           "shrink_complete": res.shrink_complete, "drew_workload": res.drew_workload,
                           "found_by": res.found_by}
    if sharded is not None:
        out.update({"workers": sharded.workers, "found_by_shard": sharded.found_by, "cancelled": sharded.cancelled,
                    "shards": [r.to_dict() for r in sharded.shards]})
    if not res.found or res.minimal is None or res.first_size is None or res.minimal_size is None:
        if args.json:
            print(json.dumps(out, indent=2))
        else:
            c.print(f"[bold green]no violation found[/bold green] in {res.runs} runs ({res.elapsed_s:.1f}s) of "
                    f"{sc.name} with flaws: {', '.join(sc.flaws) or 'none'}" + _shard_words(sharded) + ".")
        return EXIT_VALID
    minimal = minimal_scenario(res)
    # Run it once more with every wire record, for the report: the same bytes as `splitbrain run` gives.
    outcome = run_scenario(minimal)
    run_dir = write_run(outcome, root=Path(args.store) if args.store else None)
    saved = save_minimal(minimal, run_dir)
    out.update({"dir": str(run_dir), "scenario_file": str(saved), "seed": minimal.seed,
                "failing_checker": res.failing_checker, "faults": list(minimal.faults),
                "before": res.first_size.to_dict(), "after": res.minimal_size.to_dict(),
                "script": list(minimal.workload.get("script", [])), "checkers": outcome.results})
    if args.json:
        print(json.dumps(out, indent=2, default=json_default))
        return EXIT_INVALID
    _print_found(c, res, minimal, run_dir, saved, sharded)
    print_results(outcome.results)
    c.print(f"saved: {saved}")
    c.print(f"replay: splitbrain run {saved}")
    c.print(f"report: {run_dir / 'report.html'}")
    return EXIT_INVALID


def _print_found(c: Any, res: Any, minimal: Any, run_dir: Path, saved: Path, sharded: Any = None) -> None:
    from rich.table import Table

    from analysis.report.loading import load_run
    from analysis.report.story import render_text, story

    shrunk = "shrunk" if res.shrink_complete else "shrunk until the shrink budget ran out"
    c.print(f"[bold red]violation found[/bold red] in {res.scenario.name} after {res.first_found_s:.1f}s "
            f"(checker {res.failing_checker}; {res.found_by}); {shrunk} in {res.shrink_s:.1f}s over "
            f"{res.shrink_runs} more runs ({res.runs} runs in all){_shard_words(sharded)}.", highlight=False)
    t = Table(box=None, pad_edge=False)
    t.add_column("size")
    t.add_column("found", justify="right")
    t.add_column("shrunk", justify="right")
    for row in _size_rows(res):
        t.add_row(*row)
    c.print(t)
    c.print(f"minimal failing run: seed {minimal.seed}, {len(minimal.faults)} fault schedule entr"
            f"{'y' if len(minimal.faults) == 1 else 'ies'}:")
    for f in minimal.faults:
        c.print(f"  - {json.dumps(f, sort_keys=True)}", markup=False)
    lines = render_text(story(load_run(run_dir)))
    if lines:
        c.print("what happened, in order:")
        for line in lines:
            c.print(f"  {line}", markup=False, highlight=False)


def _explore_sharded(sc: Any, args: argparse.Namespace, budget: float, shrink_budget: float, status: Any) -> Any:
    """``--workers`` / ``--ray-address``: hypothesis shards on Ray."""
    from scenarios.explore_shards import explore_sharded

    def on_status(runs: int, elapsed: float, found: bool, shards: int) -> None:
        if status is not None:
            phase = "shrinking" if found else "searching"
            status.update(f"{phase} {sc.name}: {runs} runs on {shards} shards, {elapsed:.0f}s of {budget:g}s")

    # Ray writes worker notices on stdout; keep stdout for the result (--json stays parseable).
    # Without --workers (only --ray-address): one shard per CPU the cluster offers.
    with contextlib.redirect_stdout(sys.stderr):
        return explore_sharded(sc, workers=args.workers, budget_s=budget, shrink_budget_s=shrink_budget,
                               seed=args.seed, address=args.ray_address, status=on_status,
                               draw_workload=False if args.keep_workload else None)


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
    Command("explore", "let hypothesis draw runs (operations and faults) until a checker fails, then shrink it",
            "splitbrain explore raft-split-brain-reads --budget 60s\n"
            "splitbrain explore raft-leader-partition --flaw ack_before_commit --budget 2m --shrink-budget 2m\n"
            "splitbrain explore quorum-partial-r1w1 --keep-workload   # faults only, the scenario's workload\n"
            "splitbrain explore raft-figure8 --workers 4 --budget 5m   # 4 hypothesis shards on Ray",
            _configure, _run),
]
