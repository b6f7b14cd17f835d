"""A core, a system and a fault defined in a user's module -- a file splitbrain cannot import
-- run on the Ray engine with no edit in splitbrain (marked ``ray``).

The module is loaded from a temporary folder that is not on any worker's path.  Its core
factory reaches the node actors only because the module is registered with
:func:`cluster.runtime.launch.ship_by_value` (cloudpickle pickles what it defines by value);
the first test shows a worker cannot import it otherwise.  The fault runs on the driver,
where the module is loaded, like every fault.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from scenarios.spec import Scenario

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("ray_local")]

PLUGIN = '''
"""A user's own system: one register node that answers from memory, and a fault."""

import functools
import os
from dataclasses import dataclass
from typing import ClassVar

from cluster.core.types import ClientReply, ClientRequest, CoreEvent, Put, ReadyBuilder
from faults.base import Applied, FaultBase, ledger_for
from faults.registry import register
from scenarios.systems import System, register_system
from scenarios.workloads import RegisterOps, check_workload, make_workload


class TinyRegister:
    """Keeps every key in memory and on disk; with one node that is a linearizable register."""

    def __init__(self, node_id, durable, rng):
        self.node_id = node_id
        self.values = dict(durable or {})
        self.out = ReadyBuilder()

    def tick(self, now_ms, wall_ms=None):
        pass

    def step(self, m):
        if not isinstance(m, ClientRequest):
            return
        if m.op == "write":
            self.values[m.key] = m.value
            self.out.persist.append(Put(m.key, m.value))
            self.out.events.append(CoreEvent(self.node_id, "tiny-write", {"key": m.key, "pid": os.getpid()}))
            value = None
        else:
            value = self.values.get(m.key)
        self.out.replies.append(ClientReply(self.node_id, m.client_id, m.client_id, m.seq, "ok", value))

    def ready(self):
        return self.out.take()


@dataclass(frozen=True)
class TinyConfig:
    pass


class TinyFlaws:
    @staticmethod
    def names():
        return ()

    @staticmethod
    def describe(name):
        return ""

    @staticmethod
    def from_names(names):
        return TinyFlaws()


def build_core(nodes, config, flaws):
    return lambda node_id, durable, rng: TinyRegister(node_id, durable, rng)


OPS = RegisterOps("read", "write", False, "the tiny register")

register_system(System(
    name="tiny-register", summary="one node, one dict", flaws=TinyFlaws, config=TinyConfig,
    build_core=build_core, build_workload=functools.partial(make_workload, OPS),
    check_workload=functools.partial(check_workload, OPS), checkers=("linearizability",),
))


@register
@dataclass(frozen=True)
class Hiccup(FaultBase):
    """Freeze a node for a moment (a user's fault: a pause under another name)."""

    name: ClassVar[str] = "hiccup"
    node: str = "n1"

    def apply(self, engine):
        engine.pause(self.node)
        return Applied(targets=(self.node,), token=ledger_for(engine).token())

    def heal(self, engine, applied):
        engine.resume(self.node)

    def describe(self, applied):
        return f"hiccup on {self.node}"
'''


@pytest.fixture
def plugin(tmp_path: Path) -> Iterator[ModuleType]:
    path = tmp_path / "sb_user_plugin.py"
    path.write_text(PLUGIN)
    spec = importlib.util.spec_from_file_location("sb_user_plugin", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        from faults.registry import unregister
        from scenarios.systems import unregister_system

        unregister("hiccup")
        unregister_system("tiny-register")
        sys.modules.pop("sb_user_plugin", None)


def _core_class_name(factory: Any) -> str:
    import ray

    @ray.remote(num_cpus=0)
    def build(f: Any) -> str:
        import random

        return type(f("n1", None, random.Random(0))).__name__

    return str(ray.get(build.remote(factory)))


def test_a_worker_cannot_import_a_module_loaded_from_a_file(plugin: ModuleType) -> None:
    import ray.cloudpickle as cloudpickle

    factory = plugin.build_core(("n1",), plugin.TinyConfig(), None)
    with pytest.raises(Exception, match="sb_user_plugin"):
        _core_class_name(factory)
    from cluster.runtime.launch import ship_by_value

    ship_by_value(plugin)
    try:
        assert _core_class_name(factory) == "TinyRegister"
    finally:
        cloudpickle.unregister_pickle_by_value(plugin)


def test_a_user_system_and_fault_run_on_the_ray_engine(plugin: ModuleType) -> None:
    import ray.cloudpickle as cloudpickle

    from cluster.runtime.launch import RayLauncher, ship_by_value
    from scenarios.runner import run_scenario

    ship_by_value(plugin)
    try:
        sc = Scenario(
            name="user-plugin", summary="a user's system on Ray", system="tiny-register", engines=("ray",),
            nodes=1, clients=2, duration_ms=3000, time_limit_s=60.0, seed=1, model="kv-register",
            checkers=("linearizability",), workload={"keys": 2, "read_ratio": 0.5, "cas_ratio": 0.0},
            client={"timeout_ms": 1000},
            faults=({"at": 1000, "duration": 400, "fault": {"fault": "hiccup", "node": "n1"}},),
        )
        out = run_scenario(sc, RayLauncher())
    finally:
        cloudpickle.unregister_pickle_by_value(plugin)
    assert out.verdict == "valid", out.results
    assert out.stats["ok"] > 10
    writes = [r for r in out.trace if r.get("kind") == "tiny-write"]
    assert writes and all(r["pid"] != os.getpid() for r in writes), "the core must run in a node actor"
    assert [r["description"] for r in out.trace if r.get("kind") == "fault-start"] == ["hiccup on n1"]
    assert any(r.get("kind") == "pause" and r.get("node") == "n1" for r in out.trace)
