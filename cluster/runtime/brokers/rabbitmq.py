"""A private, throw-away RabbitMQ node for scenarios and tests.

Why private: a chaos run SIGKILLs its broker and restarts it on the same data; doing that
to a shared system broker would destroy someone else's messages, and reusing its state
would make runs depend on each other.  So each :class:`RabbitMQNode` gets

* a unique node name (``sb-<pid>-<random>@localhost``),
* its own free ports on 127.0.0.1 for AMQP, Erlang distribution *and* epmd (Erlang's
  port mapper, normally one shared daemon on 4369: we run a private one in the
  foreground so it is ours to stop),
* its own data, log, config and ``HOME`` (for the Erlang cookie) under a temp dir,
* an empty plugin list (no management listener on 15672),

and everything it starts is tagged for cleanup (see :mod:`.process`).  Debian's
``/usr/sbin/rabbitmq-server`` wrapper insists on ``su rabbitmq`` and system paths, so we
run the real script from ``/usr/lib/rabbitmq/bin`` as the current user.

Stop: SIGTERM to every tagged process (the Erlang VM shuts down in order), SIGKILL
after a grace period, then wait until the ports are closed.

Crash/restart: :meth:`RabbitMQNode.kill` SIGKILLs the node (no clean shutdown, like a
power cut for the process) and :meth:`RabbitMQNode.start` boots it again on the same
data dir and ports, so durable queues and persistent, confirmed messages come back.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import string
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from cluster.runtime.leftovers import claim

from . import process
from .errors import BrokerNotInstalled, BrokerStartFailed

#: Environment override: path to the ``rabbitmq-server`` script to use.
SERVER_ENV = "SPLITBRAIN_RABBITMQ_SERVER"
INSTALL_HINT = (
    "rabbitmq-server is not installed: run `sudo apt-get install rabbitmq-server` "
    "(or bash scripts/install_brokers.sh), or pass --amqp-url to use a running broker"
)
#: Where Debian keeps the real scripts (``/usr/sbin`` holds an ``su rabbitmq`` wrapper).
DEBIAN_LIB_BIN = Path("/usr/lib/rabbitmq/bin")
#: Process names a RabbitMQ node and its Erlang runtime show in ``/proc/*/stat``.
PROCESS_NAMES = ("beam.smp", "epmd", "erl_child_setup", "inet_gethost", "rabbitmq-server")


@dataclass(frozen=True)
class RabbitMQInstall:
    """Where the binaries are: the server script, ``rabbitmqctl`` and ``epmd``."""

    server: Path
    ctl: Path
    epmd: Path


def find_rabbitmq(path: str | None = None) -> RabbitMQInstall:
    """Locate RabbitMQ, or raise :class:`BrokerNotInstalled` with the install command.

    ``path`` is the search path (default ``$PATH``); ``$SPLITBRAIN_RABBITMQ_SERVER``
    overrides the lookup (tests use it to simulate a machine without RabbitMQ).
    """
    override = os.environ.get(SERVER_ENV)
    if override:
        found: str | None = override if os.access(override, os.X_OK) else None
    else:
        found = shutil.which("rabbitmq-server", path=path)
    if not found:
        raise BrokerNotInstalled(INSTALL_HINT)
    server = Path(found)
    if not override and (DEBIAN_LIB_BIN / "rabbitmq-server").exists():
        server = DEBIAN_LIB_BIN / "rabbitmq-server"
    ctl = server.with_name("rabbitmqctl")
    if not os.access(ctl, os.X_OK):
        ctl_found = shutil.which("rabbitmqctl", path=path)
        if not ctl_found:
            raise BrokerNotInstalled(INSTALL_HINT)
        ctl = Path(ctl_found)
    epmd_found = shutil.which("epmd", path=path) or shutil.which("epmd", path="/usr/lib/erlang/bin")
    if not epmd_found:
        raise BrokerNotInstalled(INSTALL_HINT + " (epmd, from erlang-base, is missing)")
    return RabbitMQInstall(server=server, ctl=ctl, epmd=Path(epmd_found))


def _cookie() -> str:
    return "".join(secrets.choice(string.ascii_uppercase) for _ in range(20))


class RabbitMQNode:
    """One private RabbitMQ node; use as a context manager.

    >>> with RabbitMQNode() as node:        # doctest: +SKIP
    ...     publisher = open_publisher("rabbitmq", node.url, "orders")

    ``base_dir``: where data/logs/config live (default: a new temp dir, removed on
    :meth:`stop` unless ``keep_dir``).  ``start_timeout``: seconds to wait for the node
    to boot (a cold boot takes 3-6 s here; CI machines can be slower).
    """

    def __init__(
        self,
        base_dir: str | Path | None = None,
        *,
        start_timeout: float = 90.0,
        keep_dir: bool = False,
        search_path: str | None = None,
    ) -> None:
        self.install = find_rabbitmq(search_path)
        self.start_timeout = start_timeout
        self._own_dir = base_dir is None
        self.keep_dir = keep_dir
        self.dir = Path(base_dir) if base_dir else Path(tempfile.mkdtemp(prefix="splitbrain-rmq-"))
        self.tag = process.new_tag("rmq")
        if self._own_dir:  # a dead owner's folder is found and removed by the next run's sweep
            claim(self.dir, "RabbitMQ broker", tag_env=process.TAG_ENV, tag=self.tag)
        self.nodename = f"sb-{os.getpid()}-{secrets.token_hex(4)}@localhost"
        self.port, self.dist_port, self.epmd_port = process.free_ports(3)
        self._server: subprocess.Popen[bytes] | None = None
        self._epmd: subprocess.Popen[bytes] | None = None
        self._watchdog: process.Watchdog | None = None
        self._prepared = False
        self._stopped = False

    # --- public surface -------------------------------------------------------------

    @property
    def url(self) -> str:
        """AMQP URL for the adapters (the default ``guest`` user may log in from loopback)."""
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    @property
    def ports(self) -> tuple[int, int, int]:
        """(AMQP, Erlang distribution, epmd) ports, all on 127.0.0.1."""
        return (self.port, self.dist_port, self.epmd_port)

    @property
    def log_dir(self) -> Path:
        return self.dir / "log"

    def running(self) -> bool:
        return self._server is not None and self._server.poll() is None

    def start(self) -> RabbitMQNode:
        """Boot the node (again, after :meth:`kill`) and wait until it serves AMQP."""
        if self._stopped:
            raise BrokerStartFailed("this RabbitMQNode was stopped; create a new one")
        if self.running():
            return self
        first_boot = not self._prepared
        if first_boot:
            self._prepare()
        try:
            try:
                self._boot()
            except BrokerStartFailed:
                died = self._server is not None and self._server.poll() is not None
                if not (first_boot and died and self._port_conflict()):
                    raise
                # Another process took one of our ports between choosing and binding
                # it: choose again, once (only before any data exists on this node).
                process.sweep(self.tag, grace=2.0)
                process.reap(self._server)
                process.reap(self._epmd)
                self._server = self._epmd = None
                self.port, self.dist_port, self.epmd_port = process.free_ports(3)
                self._write_config()
                self._boot()
        except BaseException:
            self.stop()
            raise
        return self

    def _boot(self) -> None:
        self._start_epmd()
        self._server = process.spawn(
            [str(self.install.server)],
            env=self._env(),
            log_path=self.log_dir / "server.out",
            cwd=self.dir,
        )
        self._await_ready()

    def _port_conflict(self) -> bool:
        text = ""
        for log in self.log_dir.glob("*"):
            try:
                text += log.read_text(errors="replace")[-20000:]
            except OSError:
                pass
        return "eaddrinuse" in text.lower() or not process.port_is_free(self.port)

    def kill(self) -> None:
        """SIGKILL the node (not epmd): a crash with no chance to flush or say goodbye."""
        skip = [self._epmd.pid] if self._epmd else []
        pids = [p for p in process.tagged_pids(self.tag) if p not in skip]
        process.signal_pids(pids, signal.SIGKILL)
        process.reap(self._server, timeout=5.0)
        self._server = None
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            if not [p for p in process.tagged_pids(self.tag) if p not in skip]:
                break
            time.sleep(0.05)
        process.wait_ports_closed([self.port, self.dist_port], timeout=5.0)

    def restart(self, *, hard: bool = True) -> None:
        """Kill (``hard``) or gracefully stop the node, then start it on the same data."""
        if hard:
            self.kill()
        else:
            self._graceful_stop()
        self.start()

    def stop(self) -> None:
        """Stop everything this node started and delete its temp dir; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        try:
            if self.running():
                self._graceful_stop()
            process.sweep(self.tag)  # epmd, and anything a kill() left behind
            process.reap(self._server)
            process.reap(self._epmd)
            self._server = self._epmd = None
            process.wait_ports_closed(self.ports, timeout=5.0)
        finally:
            if self._watchdog is not None:
                self._watchdog.release()
                self._watchdog = None
            process.unregister(self)
            if self._own_dir and not self.keep_dir:
                shutil.rmtree(self.dir, ignore_errors=True)

    def ctl(self, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """Run ``rabbitmqctl -n <node> ARGS`` against this node (e.g. ``list_queues``)."""
        return subprocess.run(
            [str(self.install.ctl), "-n", self.nodename, *args],
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            check=False,
        )

    def __enter__(self) -> RabbitMQNode:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- internals ------------------------------------------------------------------

    def _prepare(self) -> None:
        for sub in ("home", "mnesia", "log", "conf", "plugins-expand"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self._write_config()
        cookie = self.dir / "home" / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text(_cookie())
            cookie.chmod(0o400)
        self._watchdog = process.Watchdog(self.tag)
        process.register(self)
        self._prepared = True

    def _write_config(self) -> None:
        conf = self.dir / "conf"
        (conf / "rabbitmq.conf").write_text(
            "\n".join(
                [
                    f"listeners.tcp.default = 127.0.0.1:{self.port}",
                    # A small disk must not put the node into a publish-blocking alarm.
                    "disk_free_limit.absolute = 50MB",
                    "log.console = false",
                    "log.file.level = info",
                    "",
                ]
            )
        )
        (conf / "enabled_plugins").write_text("[].\n")
        (conf / "rabbitmq-env.conf").write_text("# private node: ignore /etc/rabbitmq\n")

    def _env(self) -> dict[str, str]:
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("RABBITMQ_", "ERL_", "ERLANG_")) and k != process.TAG_ENV
        }
        loopback_dist = "-kernel inet_dist_use_interface {127,0,0,1}"
        return process.tagged_env(
            self.tag,
            base,
            HOME=str(self.dir / "home"),
            LANG="C.UTF-8",
            LC_ALL="C.UTF-8",
            RABBITMQ_NODENAME=self.nodename,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            ERL_EPMD_PORT=str(self.epmd_port),
            ERL_EPMD_ADDRESS="127.0.0.1",
            RABBITMQ_MNESIA_BASE=str(self.dir / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.log_dir),
            RABBITMQ_CONFIG_FILE=str(self.dir / "conf" / "rabbitmq.conf"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(self.dir / "conf" / "advanced.config"),
            RABBITMQ_CONF_ENV_FILE=str(self.dir / "conf" / "rabbitmq-env.conf"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.dir / "conf" / "enabled_plugins"),
            RABBITMQ_PLUGINS_EXPAND_DIR=str(self.dir / "plugins-expand"),
            RABBITMQ_PID_FILE=str(self.dir / "node.pid"),
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=loopback_dist,
            RABBITMQ_CTL_ERL_ARGS=loopback_dist,
        )

    def _start_epmd(self) -> None:
        if self._epmd is not None and self._epmd.poll() is None:
            return
        self._epmd = process.spawn(
            [str(self.install.epmd), "-port", str(self.epmd_port), "-address", "127.0.0.1"],
            env=self._env(),
            log_path=self.log_dir / "epmd.out",
        )
        epmd = self._epmd
        if not process.wait_for_port(
            "127.0.0.1", self.epmd_port, 10.0, alive=lambda: epmd.poll() is None
        ):
            raise BrokerStartFailed(
                f"private epmd did not listen on 127.0.0.1:{self.epmd_port}; "
                f"see {self.log_dir / 'epmd.out'}"
            )

    def _await_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        server = self._server
        assert server is not None

        def alive() -> bool:
            return server.poll() is None

        def fail(why: str) -> BrokerStartFailed:
            return BrokerStartFailed(
                f"RabbitMQ node {self.nodename} {why}; see {self.log_dir}/server.out "
                f"and {self.log_dir}/{self.nodename}.log"
            )

        # The AMQP listener opens near the end of boot: cheap to poll.  Then one AMQP
        # handshake proves the node serves clients (rabbitmqctl would boot a whole Erlang
        # VM per attempt, ~1 s of CPU on a 2-core machine).
        if not process.wait_for_port("127.0.0.1", self.port, self.start_timeout, alive=alive):
            if not alive():
                raise fail(f"exited with code {server.poll()} during boot")
            raise fail(f"did not open 127.0.0.1:{self.port} within {self.start_timeout:.0f} s")
        import pika
        import pika.exceptions

        params = pika.URLParameters(self.url)
        params.connection_attempts = 1
        params.socket_timeout = 5
        params.stack_timeout = 5
        while True:
            try:
                pika.BlockingConnection(params).close()
                return
            except Exception:
                pass  # not serving yet (pika raises a few non-AMQPError kinds here)
            if not alive():
                raise fail(f"exited with code {server.poll()} during boot")
            if time.monotonic() > deadline:
                raise fail(f"did not accept AMQP logins within {self.start_timeout:.0f} s")
            time.sleep(0.2)

    def _graceful_stop(self) -> None:
        """SIGTERM the node (Erlang turns it into an orderly ``init:stop``, which flushes
        the message store), SIGKILL after 15 s.  Not ``rabbitmqctl stop``: same effect,
        without booting a CLI VM."""
        skip = [self._epmd.pid] if self._epmd else []
        process.sweep(self.tag, grace=15.0, exclude=skip)
        process.reap(self._server)
        self._server = None
