"""Subcommands.  Each module exposes one :class:`Command`; adding a command is one module
plus one line in :func:`registry`."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    name: str
    summary: str
    example: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def registry() -> list[Command]:
    from splitbrain.commands import check

    cmds = [check.COMMAND]
    for mod in ("scenario_cmds", "run_cmd", "sweep_cmd", "diff_cmd", "why_cmd", "learn_cmd", "explore_cmd", "report_cmd", "query_cmd", "new_cmd", "clean_cmd"):
        try:
            m = __import__(f"splitbrain.commands.{mod}", fromlist=["COMMANDS"])
        except ImportError:
            continue
        cmds.extend(m.COMMANDS)
    return cmds
