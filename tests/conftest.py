"""Fixtures shared across test packages."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Iterator

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Tests that stop a child with SIGINT (Ctrl-C) need the child to receive it.  A shell
    that starts a command in the background without job control (``cmd &`` in a script, or
    under nohup) starts it with SIGINT ignored, every child inherits that, and a Python child
    then installs no KeyboardInterrupt handler: it would sleep through the test's Ctrl-C.
    With Python's own handler here, children start with the default disposition again."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="module")
def ray_local() -> Iterator[None]:
    """A small local Ray instance for one test module (use with ``usefixtures``); the
    real-engine runner shares a connection that is already open instead of starting one.
    Started like a run's own (loopback only, a private token, every process tagged), and
    its folder claimed, so a killed test session leaves nothing a later sweep misses."""
    import uuid

    from cluster.runtime.leftovers import RUN_TAG_ENV, claim
    from cluster.runtime.ray_local import start_local

    tmp = tempfile.mkdtemp(prefix="sb-rt-")
    tag = f"tests-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        claim(tmp, "Ray for tests", tag_env=RUN_TAG_ENV, tag=tag)
        with start_local(tmp, tag=tag):
            yield
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
