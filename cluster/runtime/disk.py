"""Durable storage on a real disk: an append-only record file, fsynced on demand.

Each :class:`~cluster.core.types.Ready` batch becomes one record appended to
``<dir>/wal.log``: a 4-byte length, a 4-byte CRC32 and the pickled tuple of persist ops.
``load`` replays records in order and stops at the first torn or corrupt one (a crash in
the middle of an append), truncating it away, so a restart never reads half a batch.

Why unsynced writes are kept in process memory rather than written straight to the file:
the fault the playground injects is a *process* crash (SIGKILL), and the kernel page cache
survives a process crash -- writing without fsync would make every write durable anyway
and the ``no_fsync_log`` flaw could never bite.  Holding unsynced batches in a user-space
buffer (like an unflushed stdio/application buffer) until the next synced write gives a
SIGKILL the same meaning the simulator gives a crash: everything not synced is lost, in
order.  A synced write appends the buffered batches and itself, then ``fsync``s once.

Pickle is safe here: the only reader of the file is the node that wrote it.
"""

from __future__ import annotations

import os
import pickle
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cluster.core.storage import apply_op
from cluster.core.types import PersistOp

__all__ = ["DiskStorage", "WAL_NAME"]

WAL_NAME = "wal.log"
_HEADER = struct.Struct("<II")


class DiskStorage:
    """Satisfies :class:`cluster.core.storage.Storage` with a file under ``directory``."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / WAL_NAME
        self._pending: list[bytes] = []
        self.fsyncs = 0
        self.bytes_written = 0
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    # --- Storage protocol -------------------------------------------------------------------

    def write(self, ops: Sequence[PersistOp], sync: bool) -> None:
        """Buffer ``ops`` as one record; with ``sync`` append everything buffered and fsync."""
        if ops:
            payload = pickle.dumps(tuple(ops), protocol=pickle.HIGHEST_PROTOCOL)
            self._pending.append(_HEADER.pack(len(payload), zlib.crc32(payload)) + payload)
        if sync:
            self.flush()

    def flush(self) -> None:
        """Append every buffered record and fsync once (no-op when nothing is buffered)."""
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        os.fsync(self._fd)
        self.fsyncs += 1
        self.bytes_written += len(data)

    def load(self) -> dict[str, Any]:
        """The durable image: replay every complete record (see module doc)."""
        return load_image(self.path)

    # --- extras -----------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Buffered (unsynced) batches: what a crash right now would lose."""
        return len(self._pending)

    def close(self) -> None:
        """Close the file *without* flushing: closing is not syncing."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def load_image(path: str | Path) -> dict[str, Any]:
    """Replay a WAL file into a key -> value image; truncate a torn tail."""
    p = Path(path)
    image: dict[str, Any] = {}
    if not p.exists():
        return image
    data = p.read_bytes()
    pos = 0
    good = 0
    while pos + _HEADER.size <= len(data):
        length, crc = _HEADER.unpack_from(data, pos)
        start = pos + _HEADER.size
        end = start + length
        if end > len(data):
            break
        payload = data[start:end]
        if zlib.crc32(payload) != crc:
            break
        for op in pickle.loads(payload):
            apply_op(image, op)
        pos = good = end
    if good < len(data):
        with p.open("r+b") as f:
            f.truncate(good)
    return {k: (tuple(v) if isinstance(v, list) else v) for k, v in image.items()}
