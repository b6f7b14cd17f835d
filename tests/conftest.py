"""Fixtures shared across test packages."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="module")
def ray_local() -> Iterator[None]:
    """A small local Ray instance for one test module (use with ``usefixtures``); the
    real-engine runner shares a connection that is already open instead of starting one."""
    import ray

    tmp = tempfile.mkdtemp(prefix="sb-rt-")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, object_store_memory=80 * 1024 * 1024, include_dashboard=False,
             log_to_driver=False, _temp_dir=os.path.join(tmp, "ray"), configure_logging=False,
             runtime_env={"env_vars": {"GRPC_VERBOSITY": "ERROR"}})
    try:
        yield
    finally:
        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
