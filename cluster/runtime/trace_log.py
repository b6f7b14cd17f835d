"""A node's own trace: the evidence of what it did, as durable as the state it describes.

A real node's core events used to reach the run's trace only through the node's event
stream to the driver.  A crash (SIGKILL) that lands after a batch's WAL write and before
the stream carried its events then kept the state change and lost the record of it: the
relay republishes a row whose transaction the trace never saw, and a checker calls a
correct design broken.  So every node appends each batch's trace records to an
append-only file in its data directory *before* any message, reply or broker call of
that batch leaves (:class:`NodeTraceLog`), and the run merges the nodes' files when it
ends (:func:`read_trace_log`).  The stream stays, for live progress and for the
event-triggered faults.

Why this is as durable as the WAL: a record is written with ``write(2)`` the moment its
batch is drained, so it is in the kernel's page cache, which survives the process crash
the playground injects; when the batch syncs its WAL writes, the trace file is
``fdatasync``-ed in the same step, so a synced state change never has a record that a
machine crash could lose either.  Records of unsynced batches are kept even when a crash
loses the state they describe: the event happened (messages may have left), exactly as
the simulator's trace keeps it.

Format: one JSON object per line, the same dict the run's ``trace.jsonl`` holds
(``kind``, ``node``, ``t`` and the event's data) plus ``inc``, the node's incarnation.
A crash can tear the last line; the reader skips a line that does not parse and counts it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["TRACE_NAME", "NodeTraceLog", "read_trace_log"]

TRACE_NAME = "trace.jsonl"


class NodeTraceLog:
    """The append-only trace file of one node (every incarnation appends to it)."""

    def __init__(self, directory: str | Path) -> None:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        self.path = path / TRACE_NAME
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._unsynced = False
        self.records = 0

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        """Write ``records`` now, in one ``write(2)`` (see the module doc for why now)."""
        lines = [json.dumps(r, separators=(",", ":"), default=repr) for r in records]
        if not lines or self._fd < 0:
            return
        data = ("\n".join(lines) + "\n").encode()
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        self._unsynced = True
        self.records += len(lines)

    def sync(self) -> None:
        """Make every record written so far durable (called when a batch syncs its WAL)."""
        if self._unsynced and self._fd >= 0:
            os.fdatasync(self._fd)
            self._unsynced = False

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def read_trace_log(path: str | Path) -> tuple[list[dict[str, Any]], int]:
    """The records of a node's trace file, in the order written, and how many lines were
    torn (a crash in the middle of a write leaves at most the last one)."""
    p = Path(path)
    if not p.exists():
        return [], 0
    out: list[dict[str, Any]] = []
    torn = 0
    with p.open("rb") as fh:
        for raw in fh:
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw)
            except ValueError:
                torn += 1
                continue
            if isinstance(rec, dict):
                out.append(rec)
            else:
                torn += 1
    return out, torn
