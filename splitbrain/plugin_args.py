"""``--plugin PATH_OR_MODULE``: the one flag every command that reads scenarios takes.

Defining the flag imports nothing of splitbrain's library (building the parser must stay
cheap for every command); the plugins load when the command runs, before it looks anything
up, through :func:`scenarios.plugins.load_plugins`.  A command that runs a scenario records
them in it (:func:`scenarios.plugins.with_plugins`) so its results folder loads them again.
"""

from __future__ import annotations

import argparse


def add_plugin_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--plugin`` (repeatable) to a command's parser."""
    parser.add_argument(
        "--plugin", action="append", default=[], metavar="PATH_OR_MODULE",
        help="load a plugin first: a .py file (relative to the current folder) or a module name; "
             "repeatable (see docs/extending.md)",
    )


def load_plugin_args(args: argparse.Namespace) -> tuple[str, ...]:
    """Load the ``--plugin`` flags; the names as scenarios record them (absolute paths,
    module names).  A broken plugin raises :class:`scenarios.plugins.PluginError`."""
    if not getattr(args, "plugin", None):
        return ()
    from scenarios.plugins import load_plugins

    return load_plugins(args.plugin, where="--plugin")
