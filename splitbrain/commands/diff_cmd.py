"""``splitbrain diff RUN_DIR``: rerun a simulator run with exactly one change and say what
it changed -- where the two runs first part, and what that did to the verdict.

The work is library code (:mod:`scenarios.counterfactual`, :mod:`scenarios.changes`); this
shell parses the one change, saves both runs and prints.  The exit code is the second run's
verdict (0 valid, 1 invalid, 2 unknown), so a script can ask "does this change fix it?".
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from splitbrain.commands import Command
from splitbrain.errors import EXIT_USAGE, VERDICT_EXIT, UsageError, input_errors


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", nargs="?", help="a simulator results folder (default: store/latest)")
    one = p.add_mutually_exclusive_group(required=True)
    one.add_argument("--without-fault", type=int, metavar="K", help="remove fault K (0-based, as 'show' numbers them)")
    one.add_argument("--move-fault", type=int, metavar="K", help="start timed fault K at another time (with --at MS)")
    one.add_argument("--flip-flaw", metavar="NAME", help="switch flaw NAME on if it was off, off if it was on")
    one.add_argument("--set", metavar="KEY=VALUE", dest="set_",
                     help="change one setting: config.K, workload.K, client.K, network.K, nodes, clients, "
                          "duration_ms or tick_ms (e.g. config.read_mode=lease, workload.read_ratio=0.9)")
    one.add_argument("--seed", type=int, metavar="S", help="the same run at another seed")
    p.add_argument("--at", type=int, metavar="MS", help="with --move-fault: the new start, in simulated ms")
    p.add_argument("--store", metavar="DIR", help="where to save the runs (default: ./store or $SPLITBRAIN_STORE)")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")


def _run(args: argparse.Namespace) -> int:
    try:
        return _diff(args)
    except input_errors() as e:
        sys.stderr.write(f"splitbrain: error: {e}\n")
        return EXIT_USAGE


def change_from_args(args: argparse.Namespace) -> object:
    from scenarios.changes import Change, parse_set

    if args.at is not None and args.move_fault is None:
        raise UsageError("--at goes with --move-fault K")
    if args.without_fault is not None:
        return Change("without-fault", fault=args.without_fault)
    if args.move_fault is not None:
        if args.at is None:
            raise UsageError("--move-fault K needs --at MS (the new start time)")
        return Change("move-fault", fault=args.move_fault, at_ms=args.at)
    if args.flip_flaw is not None:
        return Change("flip-flaw", flaw=args.flip_flaw)
    if args.set_ is not None:
        key, value = parse_set(args.set_)
        return Change("set", key=key, value=value)
    return Change("seed", seed=args.seed)


def _diff(args: argparse.Namespace) -> int:
    import json

    from analysis.records import json_default
    from scenarios.changes import Change
    from scenarios.counterfactual import refuse_non_sim, run_diff
    from scenarios.results import load_run
    from splitbrain.terminal import print_diff

    run = load_run(args.run_dir)
    refuse_non_sim(run)
    change = change_from_args(args)
    assert isinstance(change, Change)
    d = run_diff(run, change)
    summary, second_dir = d.save(run, Path(args.store) if args.store else None)
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True, default=json_default))
    else:
        print_diff(d.base, summary, second_dir)
    return VERDICT_EXIT[d.second.verdict]


COMMANDS = [
    Command("diff", "rerun a simulator run with one change; show where the runs part and how the verdict moves",
            "splitbrain diff store/latest --flip-flaw read_from_any_node\n"
            "splitbrain diff store/latest --without-fault 0\n"
            "splitbrain diff store/latest --move-fault 1 --at 2500\n"
            "splitbrain diff store/latest --set config.read_mode=lease\n"
            "splitbrain diff store/latest --seed 4",
            _configure, _run),
]
