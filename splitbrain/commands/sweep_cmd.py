"""``splitbrain sweep``: run one scenario over many seeds on Ray and summarise the campaign.

The work is library code (:mod:`scenarios.sweep`, :mod:`scenarios.campaign`,
:mod:`analysis.campaign`); this shell parses flags, draws the progress bar, prints the
summary and maps the campaign's verdict to the exit code: 0 every seed valid, 1 any
invalid, 2 any unknown (and none invalid), 3 bad input, 130 interrupted (what finished
is kept and summarised).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from splitbrain.commands import Command
from splitbrain.errors import EXIT_USAGE, VERDICT_EXIT, UsageError, input_errors
from splitbrain.plugin_args import add_plugin_argument, load_plugin_args

EXIT_INTERRUPTED = 130


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="scenario name (see 'splitbrain list') or a scenario .toml/.json file")
    p.add_argument("--seeds", default="100", metavar="N|A..B",
                   help="seeds 1..N, or A..B (both included); default 100")
    p.add_argument("--workers", type=int, metavar="K",
                   help="runs at once (default: the CPUs Ray sees; more than that shares them)")
    p.add_argument("--ray-address", metavar="ADDR",
                   help="run the seeds on this Ray cluster (host:port, auto, ray://...) instead of a private local Ray")
    p.add_argument("--flaw", action="append", metavar="FLAW", help="switch a flaw on (repeatable); replaces the scenario's flaws")
    p.add_argument("--no-flaws", action="store_true", help="sweep the correct design (switch every flaw off)")
    p.add_argument("--extra-faults", metavar="MIX",
                   help="add a named fault mix to every seed's schedule: 'random' (partitions, crashes, pauses, "
                        "lossy links; the mix the catalog's tests use)")
    p.add_argument("--keep", choices=("all", "first", "none"), default="all",
                   help="results folders kept for failing seeds: all (default), first (the smallest seed of each "
                        "signature), none")
    p.add_argument("--time-limit", type=float, metavar="S", help="wall-clock limit of each seed's run, in seconds")
    add_plugin_argument(p)
    p.add_argument("--store", metavar="DIR", help="results store (default: ./store or $SPLITBRAIN_STORE); "
                                                  "the campaign goes to DIR/sweeps/")
    p.add_argument("--json", action="store_true", help='print {"runs": [...], "summary": {...}} as JSON')
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def _run(args: argparse.Namespace) -> int:
    try:
        return _sweep(args)
    except input_errors() as e:
        sys.stderr.write(f"splitbrain: error: {e}\n")
        return EXIT_USAGE


def _plan(args: argparse.Namespace) -> Any:
    from scenarios.fault_mixes import with_fault_mix
    from scenarios.flawfit import flaw_flags, inert_flaws
    from scenarios.runner import effective
    from scenarios.spec import load
    from scenarios.sweep import SweepPlan, expectation, parse_seeds

    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers {args.workers}: need at least 1 worker")
    seeds = parse_seeds(args.seeds)
    from scenarios.plugins import with_plugins

    base = with_plugins(load(args.name), load_plugin_args(args))
    if "sim" not in base.engines:
        raise UsageError(f"{base.name}: sweep runs the simulator, and this scenario runs only on "
                         f"{', '.join(base.engines)}")
    flaws = flaw_flags(no_flaws=args.no_flaws, flaws=args.flaw)
    sc = effective(base, seed=None, flaws=flaws, time_limit_s=args.time_limit)
    for notice in inert_flaws(sc):
        sys.stderr.write(notice.line() + "\n")
    if args.extra_faults:
        sc = with_fault_mix(sc, args.extra_faults)
    return SweepPlan(sc, seeds, expectation(base, flaws), keep=args.keep, extra_faults=args.extra_faults)


def _sweep(args: argparse.Namespace) -> int:
    from scenarios.sweep import run_sweep

    plan = _plan(args)
    show_bar = not args.quiet and not args.json and sys.stderr.isatty()
    bar = _Bar(plan.scenario.name, len(plan.seeds)) if show_bar else None
    on_start = bar.start if bar else None
    if not args.json and not show_bar and not args.quiet:
        def on_start(info: dict[str, Any]) -> None:  # once Ray is up: bad input stays one line
            sys.stderr.write(f"sweeping {plan.scenario.name}: {len(plan.seeds)} seeds on {info.get('workers')} "
                             f"worker(s) ...\n")
    try:
        # Ray writes worker notices on stdout; keep stdout for the result (--json stays parseable)
        with contextlib.redirect_stdout(sys.stderr):
            res = run_sweep(plan, workers=args.workers, address=args.ray_address,
                            store=Path(args.store) if args.store else None,
                            progress=bar.update if bar else None, on_start=on_start)
    finally:
        if bar is not None:
            bar.stop()
    if args.json:
        print(json.dumps({"runs": res.runs, "summary": res.summary}, indent=2, sort_keys=True))
    else:
        _print_summary(res.summary, res.folder, res.notes)
    if res.interrupted:
        sys.stderr.write(f"splitbrain: interrupted; kept the {len(res.runs)} finished seed(s) in {res.folder}\n")
        return EXIT_INTERRUPTED
    return VERDICT_EXIT[res.summary["verdict"]]


class _Bar:
    """The rich progress bar: done / failed / rate / ETA."""

    def __init__(self, name: str, total: int) -> None:
        self.name = name
        self.total = total
        self._progress: Any = None
        self._task: Any = None
        self._t0 = time.monotonic()

    def start(self, info: dict[str, Any]) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn(f"sweep {self.name}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("[red]{task.fields[failed]} failed[/red]"), TextColumn("{task.fields[rate]} runs/min"),
            TextColumn("ETA"), TimeRemainingColumn(),
            console=Console(stderr=True), transient=True)
        self._task = self._progress.add_task("sweep", total=self.total, failed=0, rate="-")
        self._progress.start()
        self._t0 = time.monotonic()
        sys.stderr.write(f"{info['workers']} workers on {len(info['ray_nodes'])} Ray node(s); "
                         f"campaign: {info['folder']}\n")

    def update(self, done: int, failed: int, total: int) -> None:
        if self._progress is None:
            return
        elapsed = time.monotonic() - self._t0
        rate = f"{done / elapsed * 60:.0f}" if done and elapsed > 0 else "-"
        self._progress.update(self._task, completed=done, failed=failed, rate=rate)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def _print_summary(s: dict[str, Any], folder: Path, notes: list[str]) -> None:
    from rich.text import Text

    from splitbrain.terminal import console, verdict_text

    c = console()
    counts = s["verdicts"]
    flaws = ", ".join(s.get("flaws") or []) or "none (correct design)"
    head = Text(f"sweep {s['scenario']}  seeds={s['done']}/{s['planned']}  flaws={flaws}  "
                f"extra faults={s.get('extra_faults') or 'none'}  ", style="bold")
    head.append_text(verdict_text(s["verdict"]))
    c.print(head)
    c.print(f"  valid {counts['valid']}, invalid {counts['invalid']}, unknown {counts['unknown']}"
            + ("  (interrupted)" if s.get("interrupted") else ""))
    det = s["detection"]
    lo, hi = det["ci95"]
    if s["expect"] == "invalid":
        c.print(f"  detection rate {_pct(det['rate'])} ({det['count']} of {det['runs']}), "
                f"95% interval {_pct(lo)} to {_pct(hi)} (Wilson)")
        if s["misses"]:
            c.print(f"  missed at {s['misses']} seed(s): {', '.join(map(str, s['missed_seeds'][:20]))}")
    else:
        style = "bold red" if s["false_alarms"] else "green"
        c.print(Text(f"  false alarms: {s['false_alarms']} in {det['runs']} runs of a design that should pass "
                     f"(95% interval for the rate {_pct(lo)} to {_pct(hi)})", style=style))
    if s["unknown_seeds"]:
        c.print(f"  unknown at seed(s): {', '.join(map(str, s['unknown_seeds'][:20]))}")
    for err in s.get("errors", [])[:3]:
        c.print(f"  seed {err['seed']}: {err['error']}")
    if s["signatures"]:
        c.print("signatures (checker: anomaly @ fault active):")
        for g in s["signatures"][:10]:
            where = f"  {folder / g['example_dir']}" if g.get("example_dir") else ""
            c.print(f"  {g['count']:>6}  {g['text']}  (e.g. seed {g['example_seed']}){where}")
        if len(s["signatures"]) > 10:
            c.print(f"  ... and {len(s['signatures']) - 10} more (summary.json)")
    slow = s.get("slowest") or []
    if slow:
        c.print("slowest: " + ", ".join(f"seed {r['seed']} {r['wall_s']:.2f}s" for r in slow[:3]))
    t = s.get("timing", {})
    nodes = s.get("nodes") or {}
    c.print(f"{t.get('workers', '?')} workers, {len(nodes)} Ray node(s): wall {t.get('wall_s', 0):.1f} s, "
            f"{t.get('runs_per_min') or 0:.1f} runs/min, {t.get('cpu_s', 0):.1f} CPU s in runs")
    for n in notes:
        c.print(f"note: {n}")
    c.print(f"campaign: {folder}")
    c.print(f"page:     {folder / 'index.html'}")
    c.print(f"rerun:    {s['rerun']}")


COMMANDS = [
    Command("sweep", "run a scenario over many seeds on Ray; detection rate, false alarms, grouped failures",
            "splitbrain sweep raft-figure8 --seeds 300\n"
            "splitbrain sweep raft-leader-partition --seeds 1..10000 --no-flaws --extra-faults random --keep first\n"
            "splitbrain sweep raft-split-brain-reads --seeds 500 --ray-address head:6379 --json",
            _configure, _run),
]
