"""A busy machine on demand: N processes that spin a CPU each, started and stopped by the
caller (the real-engine tests' load mode and ``bench/verdicts.py --load N``).

A real-engine verdict must not depend on the machine being idle: the false alarm of
issue 11 appeared at load average 5 to 9 on two cores, when a crash triggered by an
event came through the slow path ~100 ms late.  ``BusyLoad(n)`` reproduces such a
machine: each process runs a tight Python loop at normal priority.

The loops die with their parent whatever happens to it (``PR_SET_PDEATHSIG``), so a
test or bench killed by SIGKILL does not leave CPUs spinning.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import subprocess
import sys
from types import TracebackType

__all__ = ["BusyLoad", "loadavg"]

_SPIN = "while True:\n    pass\n"
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def loadavg() -> tuple[float, float, float]:
    """The 1, 5 and 15-minute load averages."""
    with open("/proc/loadavg") as fh:
        one, five, fifteen = fh.read().split()[:3]
    return float(one), float(five), float(fifteen)


class BusyLoad:
    """``with BusyLoad(4): ...`` keeps four CPU-bound processes running meanwhile."""

    def __init__(self, processes: int) -> None:
        if processes < 0:
            raise ValueError(f"load must be >= 0 busy processes, got {processes}")
        self.processes = processes
        self._procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> BusyLoad:
        for _ in range(self.processes - len(self._procs)):
            self._procs.append(subprocess.Popen(
                [sys.executable, "-c", _SPIN], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent))  # noqa: PLW1509 - prctl only
        return self

    def stop(self) -> None:
        procs, self._procs = self._procs, []
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                p.kill()
        for p in procs:
            p.wait()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs if p.poll() is None]

    def __enter__(self) -> BusyLoad:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
