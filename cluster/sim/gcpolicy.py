"""When Python's full garbage collections run while a simulation (or its check) is going.

A simulated run and the checkers after it allocate millions of short-lived objects while
holding a large, long-lived trace and history; the collector's full passes walk all of it
to find cycles these loops do not make.  :func:`few_full_collections` holds those passes
back for the duration, process-wide and reentrant (runs in threads nest).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["few_full_collections"]

_GC_LOCK = threading.Lock()
_gc_depth = 0
_gc_saved: tuple[int, int, int] = (0, 0, 0)
_FULL_COLLECTION_EVERY = 1000  # young collections of generation 1 per full collection


@contextmanager
def few_full_collections() -> Iterator[None]:
    """While a run is in progress, Python's full (oldest-generation) collections wait.

    A run allocates millions of short-lived objects, and each full collection walks every
    container the process holds -- including the trace list, which grows by hundreds of
    thousands of records -- to find cycles that a simulation does not make: about a tenth
    of a saturating 30-s traced run went to four such walks.  Young collections still run,
    so garbage cycles are still reclaimed; the thresholds are restored when the last
    concurrent run ends.  Collection timing never affects what a run produces.
    """
    global _gc_depth, _gc_saved
    with _GC_LOCK:
        if _gc_depth == 0:
            _gc_saved = gc.get_threshold()
            young, middle, old = _gc_saved
            gc.set_threshold(young, middle, max(old, _FULL_COLLECTION_EVERY))
        _gc_depth += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _gc_depth -= 1
            if _gc_depth == 0:
                gc.set_threshold(*_gc_saved)
