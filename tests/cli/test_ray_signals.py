"""Real-engine runs end cleanly however they are stopped (issue 11, section 3).

Each test starts ``splitbrain run ... --engine ray`` as a user would, finds the run's
temp folder by its owner record (the CLI's pid) and the run's processes by their tag,
and stops the CLI at a chosen moment:

* SIGTERM mid-run: exit 143, one line, nothing left (processes, folder), and nothing
  written to the user's home (Ray's token stays in the run's folder);
* SIGTERM and Ctrl-C while Ray is still starting: the same;
* SIGKILL: the run cannot clean up; ``splitbrain clean --dry-run`` lists what it left,
  ``splitbrain clean`` removes it, and a live run's folder is left alone.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from cluster.runtime.leftovers import OWNER_FILE, RUN_TAG_ENV, claim, process_start, tagged

ROOT = Path(__file__).resolve().parents[2]
RUN_ARGS = ("run", "raft-leader-partition", "--engine", "ray", "--duration", "60000", "--no-save", "--quiet")
pytestmark = pytest.mark.ray


class Run:
    """A ``splitbrain run`` child, its owner record and its tagged processes."""

    def __init__(self, tmp_path: Path, args: Sequence[str] = RUN_ARGS, **env_extra: str) -> None:
        self.home = tmp_path / "home"
        self.home.mkdir()
        self.temp = Path(tempfile.mkdtemp(prefix="sbt-", dir="/tmp"))  # short: Ray's socket paths live inside
        env = dict(os.environ, PYTHONPATH=str(ROOT), HOME=str(self.home), TMPDIR=str(self.temp), **env_extra)
        self.proc = subprocess.Popen([sys.executable, "-m", "splitbrain", *args], cwd=ROOT, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.dir: Path | None = None
        self.tag = ""

    def wait_until(self, ready: Callable[[dict[int, int | None]], bool], timeout: float = 150.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            if self.dir is None:
                for owner in self.temp.glob(f"sb-ray-*/{OWNER_FILE}"):
                    data = json.loads(owner.read_text())
                    if data["pid"] == self.proc.pid:
                        self.dir, self.tag = owner.parent, data["tag"]
            if self.dir is not None and ready(self.processes()):
                return
            time.sleep(0.1)
        self.proc.kill()
        raise AssertionError(f"the run never got there: {self.proc.communicate()[1][-3000:]}")

    def processes(self) -> dict[int, int | None]:
        return tagged(RUN_TAG_ENV, self.tag) if self.tag else {}

    def stop(self, sig: int) -> tuple[int, str]:
        self.proc.send_signal(sig)
        _, err = self.proc.communicate(timeout=120)
        return self.proc.returncode, err

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for pid in self.processes():
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.temp, ignore_errors=True)


def _nodes_up(procs: dict[int, int | None]) -> bool:
    return sum(1 for p in procs if "NodeActorImpl" in _cmdline(p)) >= 3


def _ray_starting(procs: dict[int, int | None]) -> bool:
    return len(procs) >= 2 and not any("NodeActorImpl" in _cmdline(p) for p in procs)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def gone(run: Run, timeout: float = 10.0) -> dict[int, int | None]:
    deadline = time.monotonic() + timeout
    while run.processes() and time.monotonic() < deadline:
        time.sleep(0.2)
    return run.processes()


@pytest.mark.parametrize("moment", ["mid-run", "while Ray starts"])
def test_sigterm_stops_the_run_like_ctrl_c(tmp_path: Path, moment: str) -> None:
    run = Run(tmp_path)
    try:
        run.wait_until(_nodes_up if moment == "mid-run" else _ray_starting)
        code, err = run.stop(signal.SIGTERM)
        assert code == 143, err[-3000:]
        assert err.strip().splitlines() == [
            "splitbrain: terminated (SIGTERM); everything the run started was stopped"], err[-3000:]
        assert not gone(run), "processes left behind"
        assert run.dir is not None and not run.dir.exists(), "temp dir left behind"
        assert not (run.home / ".ray").exists(), "Ray's token was written to the user's home"
    finally:
        run.close()


def test_ctrl_c_while_ray_starts_leaves_no_agents(tmp_path: Path) -> None:
    run = Run(tmp_path)
    try:
        run.wait_until(_ray_starting)
        code, err = run.stop(signal.SIGINT)
        assert code == 130, err[-3000:]
        assert not gone(run), "Ray agents left behind"
        assert run.dir is not None and not run.dir.exists()
    finally:
        run.close()


def test_clean_removes_what_a_sigkilled_run_left_and_nothing_live(tmp_path: Path) -> None:
    run = Run(tmp_path)
    live = run.temp / "sb-ray-live"
    try:
        live.mkdir()
        claim(live, "real-engine run", tag_env=RUN_TAG_ENV, tag="a-live-run")  # owned by this test: alive
        run.wait_until(_nodes_up)
        assert run.stop(signal.SIGKILL)[0] == -signal.SIGKILL
        assert run.dir is not None and run.dir.exists()
        clean = [sys.executable, "-m", "splitbrain", "clean", "--tmp", str(run.temp), "--json"]
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        listed = json.loads(subprocess.run([*clean, "--dry-run"], cwd=ROOT, env=env, capture_output=True, text=True,
                                           check=True).stdout)
        assert [x["path"] for x in listed["removed"]] == [str(run.dir)]
        assert listed["removed"][0]["owner_pid"] == run.proc.pid
        assert [x["path"] for x in listed["live"]] == [str(live)]
        assert run.dir.exists(), "--dry-run removed something"
        done = json.loads(subprocess.run(clean, cwd=ROOT, env=env, capture_output=True, text=True,
                                         check=True).stdout)
        assert [x["path"] for x in done["removed"]] == [str(run.dir)] and not done["failed"]
        assert not run.dir.exists() and live.exists()
        assert not gone(run, timeout=5.0), "the dead run's processes survived clean"
        assert process_start(os.getpid()) is not None
    finally:
        run.close()
