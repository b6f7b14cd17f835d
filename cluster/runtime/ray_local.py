"""Starting, joining and stopping Ray for a run: loopback only, a private token, no orphans.

:func:`start_local` starts the private Ray instance a run (or a test session, or the
bench) uses.  What it does differently from a bare ``ray.init``, and why:

* **Nothing listens beyond loopback.**  Ray 2.60 turns ``_node_ip_address="127.0.0.1"``
  into the machine's address (``services.resolve_ip_for_localhost``) unless it believes
  clusters are disabled, and then its GCS, raylet, object manager, core workers (the
  driver and every actor) and agents listen on ``*`` or on that address.  With
  ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` -- the switch Ray uses on laptops -- the node
  address stays ``127.0.0.1`` and every one of them binds it.  The switch is set in the
  environment (the processes Ray starts inherit it) and on the already imported module.
  The dashboard is off.  ``tests/runtime/test_ray_loopback.py`` samples ``ss -ltnp``
  during a run and fails on any other listener of the run's processes.
* **A private token.**  A new local Ray enables token authentication and, without a
  token, writes one to ``~/.ray/auth_token`` (mode 0644).  Here the token is a fresh
  random one in the run's own temporary folder (mode 0600, inside a 0700 folder), handed
  to Ray through ``RAY_AUTH_MODE=token`` and ``RAY_AUTH_TOKEN_PATH``; the user's home is
  not touched.  A user who set ``RAY_AUTH_MODE`` (or a token) keeps their choice.
* **Every process carries the run's tag** (``SPLITBRAIN_RUN=<tag>`` in its environment,
  see :mod:`cluster.runtime.leftovers`), so a start that is interrupted -- Ctrl-C or
  SIGTERM while Ray is still starting, when ``ray.shutdown`` does not yet know the
  processes it spawned -- still stops all of them, and a run killed by SIGKILL leaves
  processes the next run's sweep can find.
* **SIGTERM stays the caller's.**  ``ray.init`` installs a Python SIGTERM handler of its
  own (``sys.exit(15)``), which :func:`keep_sigterm` turns into :class:`Terminated` and
  then replaces with the caller's again.  Its core worker would also install C++ failure
  handlers in the driver (``RAY_DISABLE_FAILURE_SIGNAL_HANDLER``), SIGTERM among them: a
  stack dump and an abort, exit 134, with nothing cleaned up, and SIGTERM left at its
  default after ``ray.shutdown``.  They are switched off in the driver only (Ray's own
  worker processes keep theirs); the cost is that a crash inside Ray's C++ code in the
  driver prints no C++ stack.  So SIGTERM behaves like Ctrl-C from the first instruction
  of a run to its last.

:func:`connect` joins an existing cluster instead, with one readable line when it
cannot (unreachable, or a token-authenticated cluster and no token).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cluster.runtime.errors import EngineSetupError
from cluster.runtime.leftovers import RUN_TAG_ENV, stop, tagged

__all__ = ["LOOPBACK", "Terminated", "check_terminated", "connect", "keep_sigterm", "raise_terminated", "shutdown",
           "start_local", "stop_tagged"]

LOOPBACK = "127.0.0.1"
_OBJECT_STORE_BYTES = 80 * 1024 * 1024
_CONNECT_TIMEOUT_S = 30.0
_AUTH_PROBE_TIMEOUT_S = 5.0


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C raises ``KeyboardInterrupt`` (a subclass, so every
    cleanup path that handles Ctrl-C handles SIGTERM the same way)."""


_terminated = threading.Event()


def raise_terminated(signum: int, _frame: object) -> None:
    """A SIGTERM handler: behave like Ctrl-C (install it with ``signal.signal``).  The
    request is also remembered: an exception raised inside code that swallows it (a
    logging lock release, a ``__del__``) is raised again by :func:`check_terminated`."""
    _terminated.set()
    raise Terminated(f"signal {signum}")


def check_terminated() -> None:
    """Raise :class:`Terminated` if a SIGTERM arrived whose exception got lost."""
    if _terminated.is_set():
        raise Terminated("signal 15")


def _restore_sigterm(handler: Any) -> None:
    """Put the caller's Python SIGTERM handler back (re-installing it at the C level too,
    where Ray's core worker had put its own)."""
    if handler is None or threading.current_thread() is not threading.main_thread():
        return
    with contextlib.suppress(ValueError, OSError, TypeError):
        signal.signal(signal.SIGTERM, handler)


@contextmanager
def keep_sigterm(*, check: bool = True) -> Iterator[None]:
    """Around a Ray call that would replace the SIGTERM handler (``ray.init``,
    ``ray.shutdown``): Ray's ``set_sigterm_handler`` is held off meanwhile and the
    caller's handler is put back afterwards; a ``sys.exit(15)`` from Ray's handler (if it
    got in) is raised as :class:`Terminated`, and so is a SIGTERM whose exception the
    call swallowed (unless ``check`` is false: cleanup that must run to its end)."""
    main = threading.current_thread() is threading.main_thread()
    handler = signal.getsignal(signal.SIGTERM) if main else None
    try:
        with _ray_sigterm_handler_held_off():
            yield
    except SystemExit as e:
        if e.code == signal.SIGTERM:
            raise Terminated("signal 15") from None
        raise
    finally:
        _restore_sigterm(handler)
    if check:
        check_terminated()


@contextmanager
def _ray_sigterm_handler_held_off() -> Iterator[None]:
    """``ray.init`` starts by installing ``sys.exit`` as the SIGTERM handler; the exit it
    raises can land inside code that swallows it (Ray's logging lock release) and the
    SIGTERM is lost.  The caller's handler stays in place instead."""
    try:
        import ray._private.utils as ray_utils
    except ImportError:  # pragma: no cover - Ray's layout changed: its handler is then undone afterwards
        yield
        return
    original = getattr(ray_utils, "set_sigterm_handler", None)
    if original is None:  # pragma: no cover
        yield
        return
    ray_utils.set_sigterm_handler = lambda _handler: None  # type: ignore[assignment]
    try:
        yield
    finally:
        ray_utils.set_sigterm_handler = original


@contextmanager
def _loopback_only() -> Iterator[None]:
    """Make Ray keep ``127.0.0.1`` as the node address (see the module doc) while a local
    Ray starts, and no longer: left set, the switch would also stop a later ``ray start``
    this process spawns (a user's or a test's multi-node cluster) from joining its head."""
    import ray._private.ray_constants as ray_constants

    before = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        with _environ({"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}):
            yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = before


def _no_driver_failure_handlers() -> None:
    """Keep Ray's C++ failure signal handlers out of this (driver) process (see the
    module doc: its SIGTERM handler aborts without cleanup)."""
    import ray._private.ray_constants as ray_constants

    ray_constants.RAY_DISABLE_FAILURE_SIGNAL_HANDLER = True


def _auth_env(tmp: Path) -> dict[str, str]:
    """The environment that gives a new local Ray a private token (or the user's choice)."""
    if os.environ.get("RAY_AUTH_MODE"):
        return {}
    if os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return {"RAY_AUTH_MODE": "token"}
    path = tmp / "ray_auth_token"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32))
    return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(path)}


def _reset_token_cache() -> None:
    """Make this process's Ray (its C++ config and token loader, both cached at first use)
    read the authentication environment again, as Ray's own ``_enable_token_auth`` does."""
    with contextlib.suppress(Exception):
        from ray._raylet import AuthenticationTokenLoader, Config  # type: ignore[attr-defined]

        Config.initialize("")
        AuthenticationTokenLoader.instance().reset_cache()


@contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def start_local(tmp: str | Path, *, tag: str, num_cpus: int = 2,
                runtime_env: dict[str, Any] | None = None) -> Iterator[None]:
    """A private local Ray for the duration of the context (see the module doc); its
    session lives in ``tmp/ray``.  Leaving it shuts Ray down and stops every process
    that carries ``tag``, whatever state the start reached."""
    import ray

    tmp = Path(tmp)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    _no_driver_failure_handlers()
    env = {RUN_TAG_ENV: tag, **_auth_env(tmp)}
    try:
        with _loopback_only(), _environ(env):
            _reset_token_cache()
            with keep_sigterm():
                ray.init(
                    num_cpus=num_cpus,
                    object_store_memory=_OBJECT_STORE_BYTES,
                    include_dashboard=False,
                    log_to_driver=False,
                    _node_ip_address=LOOPBACK,
                    _temp_dir=str(tmp / "ray"),
                    configure_logging=False,
                    runtime_env=runtime_env or {"env_vars": {"GRPC_VERBOSITY": "ERROR"}},
                )
            yield
    finally:
        shutdown()
        _reset_token_cache()
        stop_tagged(tag)


def shutdown() -> None:
    """``ray.shutdown()``, keeping the caller's SIGTERM handler and never raising (it
    runs while a run is being cleaned up, perhaps because of a SIGTERM)."""
    import ray

    with contextlib.suppress(Exception), keep_sigterm(check=False):
        ray.shutdown()


def stop_tagged(tag: str, *, grace_s: float = 3.0, rounds: int = 5) -> list[int]:
    """Stop every process whose environment carries ``SPLITBRAIN_RUN=tag`` (SIGTERM,
    then SIGKILL after ``grace_s``); returns those still alive (normally none).  Ray's
    agents, spawned by the raylet, outlive a ``ray.shutdown`` that came before the start
    finished; this is what stops them.  A raylet that is being stopped may still spawn
    an agent, so the processes are looked up again until none is left."""
    left: list[int] = []
    for _ in range(rounds):
        found = tagged(RUN_TAG_ENV, tag)
        if not found:
            return []
        left = stop(found, grace_s=grace_s)
    return left


# --- joining a cluster -------------------------------------------------------------------------


def _token_available() -> bool:
    if os.environ.get("RAY_AUTH_TOKEN"):
        return True
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    if path:
        return Path(path).is_file()
    return (Path.home() / ".ray" / "auth_token").is_file()


def _needs_token(target: str) -> bool:
    """Does the GCS at ``host:port`` refuse an unauthenticated call?  (Asking takes
    milliseconds; letting ``ray.init`` find out takes 20 s of retried warnings.)"""
    import grpc

    channel = grpc.insecure_channel(target)
    try:
        call = channel.unary_unary("/ray.rpc.NodeInfoGcsService/CheckAlive",
                                   request_serializer=lambda b: b, response_deserializer=lambda b: b)
        call(b"", timeout=_AUTH_PROBE_TIMEOUT_S)
    except grpc.RpcError as e:
        return e.code() == grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]
    finally:
        channel.close()
    return False


def connect(address: str) -> None:
    """Connect to an existing cluster, or fail with one clear line within 30 s.

    A cluster started with token authentication needs ``RAY_AUTH_MODE=token`` on this
    side too: when a token is at hand (``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH`` or
    ``~/.ray/auth_token``) the mode is set for the connection; when none is, and the
    cluster refuses unauthenticated calls, the error says so and how to fix it."""
    import ray

    target = address[len("ray://"):] if address.startswith("ray://") else address
    env: dict[str, str] = {}
    if address != "auto":
        host, _, port = target.rpartition(":")
        try:
            with socket.create_connection((host or LOOPBACK, int(port)), timeout=5.0):
                pass
        except (OSError, ValueError) as e:
            raise EngineSetupError(f"cannot reach the Ray cluster at {address!r}: {e}") from None
        if not os.environ.get("RAY_AUTH_MODE") and not address.startswith("ray://"):
            if _token_available():
                env["RAY_AUTH_MODE"] = "token"
            elif _needs_token(f"{host or LOOPBACK}:{port}"):
                raise EngineSetupError(
                    f"the Ray cluster at {address!r} requires token authentication and no token was found: "
                    "copy the cluster's token (`ray get-auth-token` on its head node) into a file and set "
                    "RAY_AUTH_TOKEN_PATH=<file> (or RAY_AUTH_TOKEN=<token>) and RAY_AUTH_MODE=token")
    box: dict[str, BaseException | None] = {"error": None}

    def go() -> None:
        try:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        except BaseException as e:  # noqa: BLE001 - reported below as one line
            box["error"] = e

    os.environ.update(env)
    _reset_token_cache()
    _no_driver_failure_handlers()
    t = threading.Thread(target=go, daemon=True)
    with keep_sigterm():
        t.start()
        t.join(_CONNECT_TIMEOUT_S)
    if t.is_alive():
        raise EngineSetupError(f"cannot connect to the Ray cluster at {address!r}: no answer in {_CONNECT_TIMEOUT_S:.0f} s")
    if box["error"] is not None:
        msg = str(box["error"]).strip().splitlines()[0] if str(box["error"]).strip() else type(box["error"]).__name__
        raise EngineSetupError(f"cannot connect to the Ray cluster at {address!r}: {msg}")
