"""``splitbrain new fault NAME`` and ``splitbrain new scenario NAME --from EXISTING``: write a
working, commented starting point into the current folder (library: scenarios/starter.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from splitbrain.commands import Command
from splitbrain.errors import EXIT_USAGE, input_errors
from splitbrain.plugin_args import add_plugin_argument, load_plugin_args


def _configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="what", metavar="WHAT", required=True, parser_class=type(p))
    fault = sub.add_parser("fault", help="a fault plugin NAME.py and a scenario NAME.toml that uses it",
                           description="Write NAME.py (a fault called NAME, as a plugin) and NAME.toml (a "
                                       "scenario that loads it and applies it to the leader).")
    fault.add_argument("name", help="the fault's name, e.g. slow-disk")
    add_plugin_argument(fault)
    scenario = sub.add_parser("scenario", help="NAME.toml: a copy of a scenario with every field written out",
                              description="Write NAME.toml: EXISTING with every field written out and explained.")
    scenario.add_argument("name", help="the new scenario's name, e.g. my-partition")
    scenario.add_argument("--from", dest="base", default="raft-leader-partition", metavar="EXISTING",
                          help="a catalog scenario or a scenario file to start from (default: raft-leader-partition)")
    add_plugin_argument(scenario)


def _run(args: argparse.Namespace) -> int:
    from scenarios.starter import fault_starter, scenario_starter, write

    folder = Path.cwd()
    try:
        load_plugin_args(args)
        if args.what == "fault":
            starter = fault_starter(args.name)
        else:
            from scenarios.spec import load

            starter = scenario_starter(args.name, load(args.base), folder=folder)
        written = write(starter, folder)
    except input_errors() as e:
        sys.stderr.write(f"splitbrain: error: {e}\n")
        return EXIT_USAGE
    for path in written:
        print(f"wrote {path.name}")
    print("next:")
    for step in starter.next_steps:
        print(f"  {step}")
    return 0


COMMANDS = [
    Command("new", "write a working, commented starting point: a fault plugin, or a copy of a scenario",
            "splitbrain new fault slow-disk          # slow_disk.py + slow-disk.toml\n"
            "splitbrain run ./slow-disk.toml\n"
            "splitbrain new scenario my-split --from raft-leader-partition",
            _configure, _run),
]
