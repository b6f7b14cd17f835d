"""What dead runs left behind, found and removed without touching a live run.

A real-engine run owns temporary folders (``sb-ray-*``: the run's data, its private Ray
session), private brokers (``splitbrain-rmq-*``, ``splitbrain-tansu-*``) and the
processes under them (Ray's GCS, raylet, agents and workers; the broker's processes).
Leaving its context removes all of it.  A run that is SIGKILLed cannot: Ray's agents and
workers linger for a minute, the folders stay for good.  So:

* every such folder is *claimed* when it is made (:func:`claim`): a small owner file
  records the owning process's pid and its start time (a pid alone is reused by the
  kernel; pid + start time is not) and the tag its processes carry in their environment
  (``SPLITBRAIN_RUN=<tag>`` for a run, ``SPLITBRAIN_BROKER_TAG=<tag>`` for a broker; the
  environment is inherited by every descendant, whatever session it moves to);
* :func:`find` lists the claimed folders whose owner is dead, with the processes that
  still carry their tag; a folder whose owner lives is *never* touched, whoever owns it;
* :func:`remove` stops those processes (SIGTERM, then SIGKILL) and deletes the folders.

The next real-engine run sweeps this way before it starts, and ``splitbrain clean``
(``--dry-run`` to only list) does it on demand.

A folder without an owner file (made by an older splitbrain) counts as dead only when no
live process uses it -- none names it on its command line, has its working directory or
an open file in it -- and it has not changed for :data:`UNCLAIMED_GRACE_S`: a run that
is just starting may not have used its folder yet.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "KINDS",
    "OWNER_FILE",
    "RUN_TAG_ENV",
    "Leftover",
    "LiveRun",
    "Sweep",
    "claim",
    "find",
    "process_start",
    "remove",
    "run_root",
    "stop",
    "sweep",
    "tagged",
]

OWNER_FILE = ".splitbrain-owner.json"
RUN_TAG_ENV = "SPLITBRAIN_RUN"
BROKER_TAG_ENV = "SPLITBRAIN_BROKER_TAG"
UNCLAIMED_GRACE_S = 120.0

KINDS: Mapping[str, str] = {
    "sb-ray-": "real-engine run",
    "sb-rt-": "Ray for tests",
    "splitbrain-rmq-": "RabbitMQ broker",
    "splitbrain-tansu-": "Tansu broker",
}
"""Folder name prefixes (under the temp dir) and what such a folder holds."""


# --- owners -------------------------------------------------------------------------------------


def process_start(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot, ``/proc/PID/stat`` field 22), or
    None when there is no such process (or it is a zombie: it holds nothing any more)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    if not fields or fields[0] == "Z":
        return None
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def claim(directory: str | Path, kind: str, *, tag_env: str, tag: str, pid: int | None = None) -> None:
    """Record that the current process (or ``pid``) owns ``directory`` and that the
    processes it starts for it carry ``tag_env=tag`` in their environment."""
    owner = pid if pid is not None else os.getpid()
    data = {"pid": owner, "start": process_start(owner), "kind": kind, "tag_env": tag_env, "tag": tag,
            "created": time.time()}
    path = Path(directory) / OWNER_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data) + "\n")
    os.replace(tmp, path)


def _owner(directory: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((directory / OWNER_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("pid"), int) else None


def _alive(owner: Mapping[str, Any]) -> bool:
    start = process_start(int(owner["pid"]))
    if start is None:
        return False
    recorded = owner.get("start")
    return recorded is None or recorded == start


# --- processes ----------------------------------------------------------------------------------


@dataclass
class _Proc:
    pid: int
    start: int | None
    env: dict[str, str]
    cmdline: str


def _processes() -> list[_Proc]:
    me = os.getpid()
    out: list[_Proc] = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        pid = int(entry.name)
        try:
            raw_env = Path(f"/proc/{pid}/environ").read_bytes()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        env: dict[str, str] = {}
        for item in raw_env.split(b"\0"):
            if item.startswith((RUN_TAG_ENV.encode(), BROKER_TAG_ENV.encode())):
                k, _, v = item.decode(errors="replace").partition("=")
                env[k] = v
        start = process_start(pid)
        if start is not None:
            out.append(_Proc(pid, start, env, cmd))
    return out


def _uses(pid: int, prefix: str) -> bool:
    """Does ``pid`` have its working directory or an open file under ``prefix``?"""
    with contextlib.suppress(OSError):
        if (os.readlink(f"/proc/{pid}/cwd") + "/").startswith(prefix):
            return True
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(prefix):
                return True
    return False


# --- finding and removing -------------------------------------------------------------------------


@dataclass(frozen=True)
class Leftover:
    """A dead run's folder and the processes still running for it."""

    path: Path
    kind: str
    owner_pid: int | None
    pids: tuple[int, ...]
    bytes: int

    def describe(self) -> str:
        owner = f"owner pid {self.owner_pid} is gone" if self.owner_pid is not None else "no owner recorded, unused"
        procs = f", {len(self.pids)} process(es) {', '.join(map(str, self.pids))}" if self.pids else ""
        return f"{self.path} ({self.kind}, {_size(self.bytes)}; {owner}{procs})"


@dataclass(frozen=True)
class LiveRun:
    """A folder that belongs to a live process: left alone."""

    path: Path
    kind: str
    owner_pid: int | None


@dataclass
class Sweep:
    """What a sweep found and did."""

    removed: list[Leftover] = field(default_factory=list)
    live: list[LiveRun] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"removed": [{"path": str(x.path), "kind": x.kind, "owner_pid": x.owner_pid, "pids": list(x.pids),
                             "bytes": x.bytes} for x in self.removed],
                "live": [{"path": str(x.path), "kind": x.kind, "owner_pid": x.owner_pid} for x in self.live],
                "failed": list(self.failed)}


_RAY_SOCKET_ROOM = 48
"""Ray puts AF_UNIX sockets at ``<run folder>/ray/session_<stamp>_<pid>/sockets/plasma_store``
(at most 107 bytes in all), so a run folder's path must stay this short."""


def run_root() -> Path:
    """Where a run makes its temporary folder: the system's temp dir, or ``/tmp`` when
    that path is too long for the sockets Ray puts inside it."""
    base = Path(tempfile.gettempdir())
    return base if len(str(base)) + len("/sb-ray-xxxxxxxx") <= _RAY_SOCKET_ROOM else Path("/tmp")


def _roots(root: str | Path | None) -> list[Path]:
    if root is not None:
        return [Path(root)]
    return sorted({Path(tempfile.gettempdir()), run_root()})


def _kind(name: str) -> str | None:
    for prefix, kind in KINDS.items():
        if name.startswith(prefix):
            return kind
    return None


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


def _du(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path, onerror=lambda _e: None):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, f)).st_size
    return total


def find(root: str | Path | None = None, *, grace_s: float = UNCLAIMED_GRACE_S) -> tuple[list[Leftover], list[LiveRun]]:
    """The leftovers of dead runs under ``root`` (default: the temp dir, and ``/tmp`` where
    runs go when that is too long: :func:`run_root`), and the folders
    that belong to live processes (see the module doc for how each is told apart)."""
    candidates: list[tuple[Path, str]] = []
    for base in _roots(root):
        with contextlib.suppress(OSError):
            for entry in os.scandir(base):
                kind = _kind(entry.name)
                if kind is not None and entry.is_dir(follow_symlinks=False):
                    candidates.append((Path(entry.path), kind))
    if not candidates:
        return [], []
    procs = _processes()
    dead: list[Leftover] = []
    live: list[LiveRun] = []
    now = time.time()
    for path, kind in sorted(candidates):
        owner = _owner(path)
        prefix = str(path) + "/"
        named = [p for p in procs if str(path) in p.cmdline]
        if owner is not None:
            if _alive(owner):
                live.append(LiveRun(path, str(owner.get("kind", kind)), int(owner["pid"])))
                continue
            tag_env, tag = str(owner.get("tag_env", "")), str(owner.get("tag", ""))
            tagged = [p for p in procs if tag and p.env.get(tag_env) == tag]
            pids = sorted({p.pid for p in tagged + named})
            dead.append(Leftover(path, str(owner.get("kind", kind)), int(owner["pid"]), tuple(pids), _du(path)))
            continue
        try:
            changed = path.stat().st_mtime
        except OSError:
            continue
        if named or now - changed < grace_s or any(_uses(p.pid, prefix) for p in procs):
            live.append(LiveRun(path, kind, None))
            continue
        dead.append(Leftover(path, kind, None, (), _du(path)))
    return dead, live


def tagged(tag_env: str, tag: str) -> dict[int, int | None]:
    """The live processes whose environment carries ``tag_env=tag``: pid -> start time."""
    return {p.pid: p.start for p in _processes() if p.env.get(tag_env) == tag}


def stop(starts: Mapping[int, int | None], *, grace_s: float = 2.0) -> list[int]:
    """SIGTERM, then SIGKILL after ``grace_s``, the processes ``starts`` names (pid ->
    start time), each only while it is still the process that was seen (same start
    time: a pid the kernel reused is left alone).  Returns those still alive."""
    return _stop(list(starts), starts, grace_s)


def _stop(pids: Iterable[int], starts: Mapping[int, int | None], grace_s: float) -> list[int]:
    pids = [p for p in pids if process_start(p) == starts.get(p)]
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 2.0)):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while pids and time.monotonic() < deadline:
            pids = [p for p in pids if process_start(p) == starts.get(p)]
            if pids:
                time.sleep(0.05)
        if not pids:
            return []
    return pids


def remove(leftovers: Iterable[Leftover], *, grace_s: float = 2.0) -> Sweep:
    """Stop each leftover's processes and delete its folder."""
    out = Sweep()
    for item in leftovers:
        starts = {pid: process_start(pid) for pid in item.pids}
        alive = _stop(item.pids, starts, grace_s)
        if alive:
            out.failed.append(f"{item.path}: processes {', '.join(map(str, alive))} would not stop")
            continue
        shutil.rmtree(item.path, ignore_errors=True)
        if item.path.exists():
            out.failed.append(f"{item.path}: could not be removed")
            continue
        out.removed.append(item)
    return out


def sweep(root: str | Path | None = None, *, dry_run: bool = False) -> Sweep:
    """Find dead runs' leftovers and (unless ``dry_run``) remove them."""
    dead, live = find(root)
    if dry_run:
        return Sweep(removed=dead, live=live)
    done = remove(dead)
    done.live = live
    return done
