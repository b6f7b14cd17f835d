"""The ``splitbrain`` command line.

Every subcommand follows one contract, so scripts can rely on it:

=====  =============================================
exit   meaning
=====  =============================================
0      valid (or: the command succeeded)
1      invalid: a consistency violation was found
2      unknown: a checker ran out of budget
3      usage or input error (one readable line, no traceback)
4      internal error: a bug, never a verdict (one line)
=====  =============================================
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from splitbrain import __version__
from splitbrain.errors import EXIT_INTERNAL, EXIT_USAGE, UsageError

Handler = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """argparse that exits 3 (usage error) with one line instead of 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"splitbrain: error: {message} (see 'splitbrain {self.prog.split()[-1]} --help')\n")
        raise SystemExit(EXIT_USAGE)


def _fmt(epilog: str) -> str:
    return "example:\n  " + "\n  ".join(epilog.strip().splitlines())


def build_parser() -> argparse.ArgumentParser:
    from splitbrain.commands import registry

    p = _Parser(
        prog="splitbrain",
        description="A distributed-systems chaos playground: run failure scenarios, check histories, read what broke.",
        epilog="exit codes: 0 valid, 1 invalid, 2 unknown, 3 usage or input error, 4 internal error",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"splitbrain {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for cmd in registry():
        sp = sub.add_parser(
            cmd.name,
            help=cmd.summary,
            description=cmd.summary,
            epilog=_fmt(cmd.example),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        cmd.configure(sp)
        sp.set_defaults(_handler=cmd.run)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "_handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return handler(args)
    except UsageError as e:
        sys.stderr.write(f"splitbrain: error: {e}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("splitbrain: interrupted\n")
        return 130
    except Exception as e:  # noqa: BLE001 - the one place a bug becomes exit 4, never a verdict
        if os.environ.get("SPLITBRAIN_DEBUG"):
            raise
        sys.stderr.write(
            f"splitbrain: internal error: {type(e).__name__}: {e}{_origin(e)} "
            "(a bug in splitbrain, not a verdict; SPLITBRAIN_DEBUG=1 shows the traceback)\n"
        )
        return EXIT_INTERNAL


def _origin(e: BaseException) -> str:
    """Where an exception was raised, as ``file.py:line``: enough to report the bug."""
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return ""
    return f" at {Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno}"


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
