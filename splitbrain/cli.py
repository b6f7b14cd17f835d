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
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from splitbrain import __version__
from splitbrain.errors import EXIT_INTERNAL, EXIT_USAGE, UsageError

Handler = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """argparse that exits 3 (usage error) with one line instead of 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        words = self.prog.split()
        command = " ".join(["splitbrain", *words[1:]])
        sys.stderr.write(f"splitbrain: error: {message} (see '{command} --help')\n")
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


class _PipeSafeStdout:
    """``sys.stdout`` that stops writing, silently, once the reader has gone away.

    ``splitbrain run X --json | head`` closes the pipe early.  Without this the next write
    raises ``BrokenPipeError`` in whichever command is printing, and the exit code says
    nothing about the verdict.  Here the first broken write points the file descriptor at
    ``/dev/null`` (so the interpreter's final flush cannot fail either) and later output is
    dropped, so the command finishes and its exit code still follows the contract above.
    """

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner
        self.broken = False

    def _gone(self) -> None:
        self.broken = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._inner.fileno())
            os.close(devnull)
        except (OSError, ValueError):  # no real descriptor (a test's capture buffer)
            pass

    def write(self, text: str) -> int:
        if self.broken:
            return len(text)
        try:
            return self._inner.write(text)
        except BrokenPipeError:
            self._gone()
            return len(text)

    def flush(self) -> None:
        if self.broken:
            return
        try:
            self._inner.flush()
        except BrokenPipeError:
            self._gone()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "_handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_USAGE
    real_stdout = sys.stdout
    sys.stdout = _PipeSafeStdout(real_stdout)  # type: ignore[assignment]
    restore = _sigterm_like_ctrl_c()
    try:
        code = handler(args)
        sys.stdout.flush()
        return code
    except UsageError as e:
        sys.stderr.write(f"splitbrain: error: {e}\n")
        return EXIT_USAGE
    except KeyboardInterrupt as e:
        if _is_sigterm(e):
            sys.stderr.write("splitbrain: terminated (SIGTERM); everything the run started was stopped\n")
            return 128 + signal.SIGTERM
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
    finally:
        sys.stdout = real_stdout
        restore()


_sigterm_seen = threading.Event()


def _on_sigterm(signum: int, frame: Any) -> None:
    """Raise the engine layer's ``Terminated`` (a ``KeyboardInterrupt`` its cleanups and its
    re-raise after swallowed exceptions know).  Imported here, not at the top, so that
    commands that never touch an engine (``--version``, ``check``) do not load it."""
    from cluster.runtime.ray_local import raise_terminated

    _sigterm_seen.set()
    raise_terminated(signum, frame)


def _is_sigterm(e: KeyboardInterrupt) -> bool:
    """Whether the interrupt was a SIGTERM: ours, or Ray's own handler's exit turned into
    ``Terminated`` by the engine layer (then that layer is loaded)."""
    ray_local = sys.modules.get("cluster.runtime.ray_local")
    return _sigterm_seen.is_set() or (ray_local is not None and isinstance(e, ray_local.Terminated))


def _sigterm_like_ctrl_c() -> Callable[[], None]:
    """SIGTERM raises ``Terminated``, a ``KeyboardInterrupt``: every command cleans up
    after it exactly as after Ctrl-C (a real-engine run stops its Ray, brokers and temp
    folders); returns what puts the previous handler back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.signal(signal.SIGTERM, _on_sigterm)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


def _origin(e: BaseException) -> str:
    """Where an exception was raised, as ``file.py:line``: enough to report the bug."""
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return ""
    return f" at {Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno}"


def entry() -> None:
    """The console script: :func:`main`, then exit with its code.  After an interrupted
    real-engine run everything is stopped already, but Ray's C++ threads can crash the
    interpreter's teardown (SIGSEGV), which would turn the exit code into a lie: then the
    process leaves without that teardown."""
    code = main()
    if code in (130, 128 + signal.SIGTERM) and "ray" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    raise SystemExit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()
