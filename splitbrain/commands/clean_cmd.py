"""``splitbrain clean``: remove what dead real-engine runs left behind.

A run stopped by SIGKILL (or a crash of the machine's session) cannot clean up: its Ray
agents and workers linger, its private brokers' processes may too, and its temporary
folders (``/tmp/sb-ray-*``, ``/tmp/splitbrain-rmq-*``, ``/tmp/splitbrain-tansu-*``) stay.
Every real-engine run already sweeps them before it starts; this command does it on
demand.  It never touches a live run: a folder whose recorded owner process still runs
is listed as such and left alone (see :mod:`cluster.runtime.leftovers`).
"""

from __future__ import annotations

import argparse
import json
import sys

from splitbrain.commands import Command


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    p.add_argument("--tmp", metavar="DIR", help="where runs keep their temporary folders (default: the system's)")
    p.add_argument("--json", action="store_true", help="print what was found and done as JSON")


def _run(args: argparse.Namespace) -> int:
    from cluster.runtime.leftovers import sweep

    done = sweep(args.tmp, dry_run=args.dry_run)
    if args.json:
        print(json.dumps({"dry_run": args.dry_run, **done.to_dict()}, indent=2))
        return 0
    verb = "would remove" if args.dry_run else "removed"
    for item in done.removed:
        print(f"{verb} {item.describe()}")
    for line in done.failed:
        sys.stderr.write(f"splitbrain: could not clean {line}\n")
    for live in done.live:
        who = f"pid {live.owner_pid}" if live.owner_pid is not None else "a running process"
        print(f"left alone {live.path} ({live.kind}; in use by {who})")
    if not done.removed and not done.failed:
        print("nothing to clean: no leftovers of dead runs")
    return 0


COMMANDS = [
    Command("clean", "remove the temporary folders, Ray processes and brokers that dead real-engine runs left",
            "splitbrain clean --dry-run   # list them\n"
            "splitbrain clean             # remove them (live runs are never touched)",
            _configure, _run),
]
