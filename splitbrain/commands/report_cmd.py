"""``splitbrain report [RUN_DIR]``: (re-)render a run's self-contained HTML report.

Runs render their report when they are written; this command exists so an old folder can
be re-rendered after the report improves, and so a folder copied from CI can get one.
"""

from __future__ import annotations

import argparse
import sys

from splitbrain.commands import Command
from splitbrain.errors import EXIT_USAGE, input_errors


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", nargs="?", help="a results folder (default: store/latest)")


def _run(args: argparse.Namespace) -> int:
    from analysis.report.html import render_folder
    from scenarios.results import resolve_run

    try:
        folder = resolve_run(args.run_dir)
        out = render_folder(folder)
    except input_errors() as e:
        sys.stderr.write(f"splitbrain: error: {e}\n")
        return EXIT_USAGE
    except OSError as e:
        sys.stderr.write(f"splitbrain: error: cannot write the report: {e.strerror or e}\n")
        return EXIT_USAGE
    print(out)
    return 0


COMMANDS = [
    Command("report", "render a run's self-contained HTML report (report.html) and print its path",
            "splitbrain report                 # the latest run\n"
            "splitbrain report store/raft-follower-reads/20250101T000000Z-s3",
            _configure, _run),
]
