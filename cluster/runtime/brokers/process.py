"""Process supervision shared by the private broker managers.

Why this exists: a chaos playground kills things on purpose, and a broker left running
after a test (or a port left bound) makes the *next* run lie.  Brokers fork helpers that
escape process groups (Erlang's ``erl_child_setup`` and ``inet_gethost`` call
``setsid``), so killing a process group is not enough.  Instead every process we start
carries a unique environment marker, ``SPLITBRAIN_BROKER_TAG=<tag>``; environment is
inherited by every descendant, whatever session it moves to, so a sweep of
``/proc/*/environ`` finds them all.

Three layers make cleanup happen on every exit path:

* the managers are context managers (normal exit and exceptions, Ctrl-C included, since
  SIGINT raises ``KeyboardInterrupt`` which unwinds through ``__exit__``);
* an ``atexit`` hook stops whatever is still registered, and SIGTERM/SIGHUP are turned
  into ``SystemExit`` (where nobody else handles them) so they unwind the same way;
* a tiny watchdog process holds a pipe from us; if we die without cleaning up (even by
  SIGKILL) the pipe closes and the watchdog sweeps the tag.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Protocol

TAG_ENV = "SPLITBRAIN_BROKER_TAG"
LOOPBACK = "127.0.0.1"

_PORT_LOCK = threading.Lock()
_HANDED_OUT: set[int] = set()


# --- ports ------------------------------------------------------------------------------


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """True if nothing listens on ``host:port`` and we could bind it now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = LOOPBACK, *, avoid: Iterable[int] = ()) -> int:
    """A TCP port on ``host`` that is free now and not handed out before by this process.

    The kernel picks it (bind to port 0), so two concurrent runs rarely collide; we
    also remember what we handed out so one run never gets the same port twice (a broker
    that has not bound its port yet would otherwise look free).
    """
    avoid_set = set(avoid)
    with _PORT_LOCK:
        for _ in range(200):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind((host, 0))
                port = int(s.getsockname()[1])
            if port in _HANDED_OUT or port in avoid_set:
                continue
            _HANDED_OUT.add(port)
            return port
    raise OSError("no free TCP port found on " + host)


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """``count`` distinct free ports (see :func:`free_port`)."""
    ports: list[int] = []
    for _ in range(count):
        ports.append(free_port(host, avoid=ports))
    return ports


def wait_for_port(host: str, port: int, timeout: float, *, alive: Alive | None = None) -> bool:
    """Poll until ``host:port`` accepts a TCP connection; False on timeout or death."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            return False
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class Alive(Protocol):
    def __call__(self) -> bool: ...


def listening_ports() -> set[int]:
    """TCP ports in LISTEN state on this machine, read from ``/proc/net/tcp{,6}``."""
    ports: set[int] = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 3 and parts[3] == "0A":  # 0A = TCP_LISTEN
                ports.add(int(parts[1].rsplit(":", 1)[1], 16))
    return ports


def wait_ports_closed(ports: Iterable[int], timeout: float) -> set[int]:
    """Wait until none of ``ports`` listens; return those still listening at the end."""
    wanted = set(ports)
    deadline = time.monotonic() + timeout
    while True:
        left = wanted & listening_ports()
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.05)


# --- tagged processes -------------------------------------------------------------------


def new_tag(prefix: str) -> str:
    """A tag unique to one broker instance (pid + random, so parallel runs never clash)."""
    return f"{prefix}-{os.getpid()}-{uuid.uuid4().hex[:10]}"


def tagged_pids(tag: str) -> list[int]:
    """Pids of live processes whose environment carries ``SPLITBRAIN_BROKER_TAG=tag``.

    Zombies have an empty environ and are skipped: they hold no ports and vanish once
    reaped.
    """
    needle = f"{TAG_ENV}={tag}".encode()
    me = os.getpid()
    found: list[int] = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        if pid == me:
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                env = fh.read()
        except OSError:
            continue
        if needle in env.split(b"\0"):
            found.append(pid)
    return found


def all_tagged_pids() -> list[int]:
    """Pids of every live process started by any splitbrain broker manager."""
    needle = f"{TAG_ENV}=".encode()
    found: list[int] = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as fh:
                env = fh.read()
        except OSError:
            continue
        if any(item.startswith(needle) for item in env.split(b"\0")):
            found.append(int(entry.name))
    return found


def process_names(names: Iterable[str]) -> list[tuple[int, str]]:
    """(pid, comm) of live, non-zombie processes whose ``comm`` is one of ``names``."""
    wanted = set(names)
    found: list[tuple[int, str]] = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        comm = stat[stat.find("(") + 1 : stat.rfind(")")]
        state = stat[stat.rfind(")") + 2 : stat.rfind(")") + 3]
        if comm in wanted and state != "Z":
            found.append((int(entry.name), comm))
    return found


def signal_pids(pids: Iterable[int], sig: int) -> None:
    """Send ``sig`` to each pid, ignoring ones that are already gone."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def sweep(tag: str, *, grace: float = 3.0, exclude: Iterable[int] = ()) -> list[int]:
    """SIGTERM every process tagged ``tag``, then SIGKILL what is left after ``grace``.

    Returns the pids still alive at the end (normally none).
    """
    skip = set(exclude)
    pids = [p for p in tagged_pids(tag) if p not in skip]
    if not pids:
        return []
    signal_pids(pids, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        pids = [p for p in tagged_pids(tag) if p not in skip]
        if not pids:
            return []
        time.sleep(0.05)
    signal_pids(pids, signal.SIGKILL)
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        pids = [p for p in tagged_pids(tag) if p not in skip]
        if not pids:
            return []
        time.sleep(0.05)
    return pids


def tagged_env(tag: str, base: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
    """A child environment: ``base`` (default ``os.environ``) plus the tag and ``extra``."""
    env = dict(os.environ if base is None else base)
    env.update(extra)
    env[TAG_ENV] = tag
    return env


def spawn(
    argv: list[str], *, env: Mapping[str, str], log_path: Path, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own session (so Ctrl-C in a terminal reaches only us), with
    stdout and stderr appended to ``log_path`` and stdin closed."""
    log = open(log_path, "ab")  # noqa: SIM115 - the child owns it; closed below
    try:
        return subprocess.Popen(
            argv,
            env=dict(env),
            cwd=str(cwd) if cwd else None,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    finally:
        log.close()


def reap(proc: subprocess.Popen[bytes] | None, timeout: float = 1.0) -> None:
    """Collect a direct child's exit status so it does not linger as a zombie."""
    if proc is None:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=timeout)


# --- watchdog ---------------------------------------------------------------------------

_WATCHDOG_CODE = """
import os, sys, time
sys.stdin.buffer.read()  # returns at EOF: our parent is gone or closed the pipe
tag = sys.argv[1]
needle = ("SPLITBRAIN_BROKER_TAG=" + tag).encode()
def pids():
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open("/proc/%s/environ" % name, "rb") as fh:
                if needle in fh.read().split(b"\\0"):
                    out.append(int(name))
        except OSError:
            pass
    return out
for sig, wait in ((15, 3.0), (9, 2.0)):
    for pid in pids():
        try:
            os.kill(pid, sig)
        except OSError:
            pass
    end = time.time() + wait
    while pids() and time.time() < end:
        time.sleep(0.05)
"""


class Watchdog:
    """Kills a tag's processes when the owning Python process dies, however it dies.

    The watchdog itself is *not* tagged (it must survive its own sweep); it blocks on a
    pipe whose only writer is us, so it wakes exactly when we exit or call
    :meth:`release`.
    """

    def __init__(self, tag: str) -> None:
        env = {k: v for k, v in os.environ.items() if k != TAG_ENV}
        self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG_CODE, tag],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
            close_fds=True,
        )

    def release(self, timeout: float = 6.0) -> None:
        """Close the pipe (the watchdog sweeps, normally nothing) and wait for it."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            reap(proc)


# --- exit hooks -------------------------------------------------------------------------


class Stoppable(Protocol):
    def stop(self) -> None: ...


_LIVE: dict[int, Stoppable] = {}
_LIVE_LOCK = threading.Lock()
_HOOKS_INSTALLED = False


def register(obj: Stoppable) -> None:
    """Stop ``obj`` at interpreter exit or on SIGTERM/SIGHUP unless stopped before."""
    _install_hooks()
    with _LIVE_LOCK:
        _LIVE[id(obj)] = obj


def unregister(obj: Stoppable) -> None:
    with _LIVE_LOCK:
        _LIVE.pop(id(obj), None)


def stop_all() -> None:
    """Stop every registered manager (newest first); errors are swallowed on purpose,
    because this runs while the interpreter is going down."""
    with _LIVE_LOCK:
        items = list(_LIVE.values())[::-1]
        _LIVE.clear()
    for obj in items:
        with contextlib.suppress(Exception):
            obj.stop()


def _raise_exit(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _install_hooks() -> None:
    global _HOOKS_INSTALLED
    if _HOOKS_INSTALLED:
        return
    _HOOKS_INSTALLED = True
    atexit.register(stop_all)
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        # Only where nobody else (Ray, pytest-timeout, a CLI) installed a handler.
        if signal.getsignal(sig) is signal.SIG_DFL:
            with contextlib.suppress(ValueError, OSError):
                signal.signal(sig, _raise_exit)
