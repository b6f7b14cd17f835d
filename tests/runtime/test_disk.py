"""DiskStorage: synced writes survive a crash, unsynced ones do not, torn tails are cut."""

from __future__ import annotations

from pathlib import Path

from cluster.core.raft_messages import Entry
from cluster.core.types import Put, Splice
from cluster.runtime.disk import DiskStorage, load_image


def test_synced_survives_unsynced_is_lost(tmp_path: Path) -> None:
    s = DiskStorage(tmp_path)
    s.write([Put("hard_state", (1, "n1")), Splice("log", 0, (Entry(1), Entry(1)))], sync=True)
    s.write([Splice("log", 2, (Entry(1),))], sync=False)
    assert s.pending == 1
    s.close()  # a SIGKILL: the buffer dies with the process, nothing is flushed
    image = DiskStorage(tmp_path).load()
    assert image == {"hard_state": (1, "n1"), "log": (Entry(1), Entry(1))}


def test_a_synced_write_makes_earlier_unsynced_ones_durable_in_order(tmp_path: Path) -> None:
    s = DiskStorage(tmp_path)
    s.write([Splice("log", 0, (Entry(1), Entry(1)))], sync=False)
    s.write([Splice("log", 1, (Entry(2),))], sync=False)
    s.write([Put("hard_state", (2, None))], sync=True)
    assert s.pending == 0 and s.fsyncs == 1
    assert load_image(s.path) == {"log": (Entry(1), Entry(2)), "hard_state": (2, None)}


def test_torn_tail_is_truncated(tmp_path: Path) -> None:
    s = DiskStorage(tmp_path)
    s.write([Put("a", 1)], sync=True)
    s.write([Put("b", 2)], sync=True)
    size = s.path.stat().st_size
    with s.path.open("r+b") as f:
        f.truncate(size - 3)  # a crash in the middle of the second append
    assert load_image(s.path) == {"a": 1}
    assert s.path.stat().st_size < size - 3
    s2 = DiskStorage(tmp_path)
    s2.write([Put("c", 3)], sync=True)
    assert s2.load() == {"a": 1, "c": 3}


def test_empty_directory_loads_empty(tmp_path: Path) -> None:
    assert DiskStorage(tmp_path / "fresh").load() == {}
