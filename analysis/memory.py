"""Measuring the checker's memory, so that a hard history ends in ``unknown``, not a crash.

The linearizability search memoises every configuration it has seen, and on a long,
concurrent history that table can grow by gigabytes.  A cap on the number of states is
not enough (a state holds a bitset with one bit per operation of its key, so a state of
a 50,000-operation key costs 6 KB), so the search also *measures* the process and stops
with a reason when it runs out of room:

* **resident memory** (RSS) the check adds to the process, against a budget:
  ``--max-memory``, by default the smallest of 3 GiB, half the machine's memory and 80% of
  a cgroup (container) limit (3 GiB, so that even without the address-space check below a
  4 GiB ``ulimit -v`` keeps 1 GiB spare).  The budget counts the growth since the check
  started, not the process's whole size: a long-lived process (a test suite, a sweep
  worker, ``explore``) that already holds gigabytes must get the same verdict for the same
  history as a fresh ``splitbrain check``;
* **address space** against ``RLIMIT_AS`` when one is set (``ulimit -v``): the search
  stops while an eighth of the limit (at least 64 MiB) is still free, because there a
  failed allocation raises ``MemoryError`` wherever it happens.

Both are read from ``/proc/self/statm`` (a few microseconds, through one open file
descriptor); elsewhere the peak RSS from ``getrusage`` stands in, which only errs on
the side of stopping early.
"""

from __future__ import annotations

import gc
import os
import re
import resource
import sys
from collections.abc import Iterator
from contextlib import contextmanager

GiB = 1 << 30
MiB = 1 << 20
DEFAULT_CAP = 3 * GiB

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": MiB, "g": GiB, "t": 1 << 40}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Bytes in ``"512M"``, ``"2G"``, ``"1.5GiB"``, ``"4096"``; ``ValueError`` otherwise."""
    m = _SIZE.fullmatch(text)
    if m is None:
        raise ValueError(f"{text!r} is not a size (examples: 512M, 2G, 1.5GiB)")
    n = float(m.group(1)) * _UNITS[m.group(2).lower()]
    if n < 1:
        raise ValueError(f"{text!r} is not a positive size")
    return int(n)


def fmt_size(n: float) -> str:
    """``1.5 GiB``, ``300 MiB``: how sizes are shown in reasons and help."""
    if n >= GiB:
        return f"{n / GiB:.1f} GiB"
    return f"{n / MiB:.0f} MiB"


def physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def cgroup_limit() -> int | None:
    """The memory limit of this process's cgroup (v2 ``memory.max`` or v1), if any."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 1 << 60:
            return int(text)
    return None


def address_space_limit() -> int | None:
    """The soft ``RLIMIT_AS`` in bytes, or None when unlimited."""
    try:
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    except (ValueError, OSError):
        return None
    return None if soft == resource.RLIM_INFINITY or soft <= 0 else soft


def default_budget() -> int:
    """The default resident-memory budget of one check (see the module docstring)."""
    budget = DEFAULT_CAP
    phys = physical_memory()
    if phys:
        budget = min(budget, phys // 2)
    cg = cgroup_limit()
    if cg:
        budget = min(budget, cg * 4 // 5)
    return budget


class MemoryProbe:
    """Reads this process's resident size and address-space size in bytes."""

    def __init__(self) -> None:
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self._fd: int | None = None
        if sys.platform.startswith("linux"):
            try:
                self._fd = os.open("/proc/self/statm", os.O_RDONLY)
            except OSError:
                self._fd = None

    def read(self) -> tuple[int, int]:
        """(resident bytes, address-space bytes); address space is 0 when unknown."""
        if self._fd is not None:
            try:
                fields = os.pread(self._fd, 128, 0).split()
                return int(fields[1]) * self._page, int(fields[0]) * self._page
            except (OSError, ValueError, IndexError):
                pass
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return (peak if sys.platform == "darwin" else peak * 1024), 0

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class MemoryBudget:
    """The limits one check must stay within, and the test of whether it has not."""

    def __init__(self, max_rss: int | None = None) -> None:
        self.max_rss = default_budget() if max_rss is None else max_rss
        self.as_limit = address_space_limit()
        self.as_stop = None if self.as_limit is None else self.as_limit - max(64 * MiB, self.as_limit // 8)
        self._probe = MemoryProbe()
        self.baseline_rss = self._probe.read()[0]

    def exceeded(self) -> str | None:
        """None while within budget; otherwise the reason, in words."""
        rss, vms = self._probe.read()
        grown = rss - self.baseline_rss
        if grown > self.max_rss:
            return (
                f"memory budget of {fmt_size(self.max_rss)} exceeded (the check grew the process by "
                f"{fmt_size(grown)} to {fmt_size(rss)} resident)"
            )
        if self.as_stop is not None and vms > self.as_stop:
            assert self.as_limit is not None
            return (
                f"address-space limit nearly reached ({fmt_size(vms)} of the {fmt_size(self.as_limit)} "
                "allowed by RLIMIT_AS)"
            )
        return None

    def close(self) -> None:
        self._probe.close()


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for a stretch that makes no reference cycles.

    Reading a history and checking it allocate millions of small objects, and each of
    the collector's full passes walks every one of them again -- a third of the checker's
    time on a 200,000-operation history -- to find cycles that neither makes.  Reference
    counting still frees everything as usual.  Nested uses are fine; the collector's
    state on entry is restored on exit.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
