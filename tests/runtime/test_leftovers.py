"""The sweep of dead runs' leftovers never touches a live run (no Ray: plain processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from cluster.runtime.leftovers import OWNER_FILE, RUN_TAG_ENV, claim, find, process_start, sweep


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _run_dir(root: Path, name: str = "sb-ray-x") -> Path:
    d = root / name
    d.mkdir()
    (d / "data").mkdir()
    (d / "data" / "wal.log").write_bytes(b"x" * 100)
    return d


def test_a_live_owners_folder_is_left_alone_and_a_dead_owners_is_removed(tmp_path: Path) -> None:
    mine = _run_dir(tmp_path, "sb-ray-mine")
    claim(mine, "real-engine run", tag_env=RUN_TAG_ENV, tag="t-mine")
    gone = _run_dir(tmp_path, "sb-ray-gone")
    claim(gone, "real-engine run", tag_env=RUN_TAG_ENV, tag="t-gone", pid=_dead_pid())
    listed = sweep(tmp_path, dry_run=True)
    assert [x.path for x in listed.removed] == [gone] and gone.exists()
    assert [x.path for x in listed.live] == [mine]
    done = sweep(tmp_path)
    assert [x.path for x in done.removed] == [gone]
    assert not gone.exists() and mine.exists()
    assert "owner pid" in done.removed[0].describe() and " B;" in done.removed[0].describe()


def test_a_reused_pid_is_not_a_live_owner(tmp_path: Path) -> None:
    d = _run_dir(tmp_path)
    claim(d, "real-engine run", tag_env=RUN_TAG_ENV, tag="t")
    data = json.loads((d / OWNER_FILE).read_text())
    assert data["pid"] == os.getpid() and data["start"] == process_start(os.getpid())
    data["start"] -= 1  # our pid, but another process's start time: the owner is gone
    (d / OWNER_FILE).write_text(json.dumps(data))
    dead, live = find(tmp_path)
    assert [x.path for x in dead] == [d] and not live


def test_a_dead_runs_processes_are_stopped_with_it(tmp_path: Path) -> None:
    d = _run_dir(tmp_path)
    tag = f"t-{os.getpid()}-orphan"
    orphan = subprocess.Popen(["sleep", "60"], env={**os.environ, RUN_TAG_ENV: tag})
    bystander = subprocess.Popen(["sleep", "60"], env={**os.environ, RUN_TAG_ENV: "another-live-run"})
    try:
        claim(d, "real-engine run", tag_env=RUN_TAG_ENV, tag=tag, pid=_dead_pid())
        dead, _ = find(tmp_path)
        assert dead[0].pids == (orphan.pid,)
        done = sweep(tmp_path)
        assert done.removed and not done.failed
        assert orphan.wait(timeout=10) != 0
        assert bystander.poll() is None
    finally:
        for p in (orphan, bystander):
            if p.poll() is None:
                p.kill()
                p.wait()


def test_an_unclaimed_folder_counts_as_dead_only_when_unused_and_quiet(tmp_path: Path) -> None:
    fresh = _run_dir(tmp_path, "splitbrain-rmq-fresh")
    old = _run_dir(tmp_path, "splitbrain-tansu-old")
    used = _run_dir(tmp_path, "sb-ray-used")
    other = tmp_path / "unrelated-dir"
    other.mkdir()
    hour_ago = time.time() - 3600
    for d in (old, used, other):
        os.utime(d, (hour_ago, hour_ago))
    user = subprocess.Popen(["sleep", "60"], cwd=used)  # an older splitbrain's run, still going
    try:
        dead, live = find(tmp_path)
        assert [x.path for x in dead] == [old]
        assert {x.path for x in live} == {fresh, used}
    finally:
        user.kill()
        user.wait()
    assert other.exists()
