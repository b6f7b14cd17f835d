"""Plugin sources the plugin tests write into temporary folders, and a fixture that forgets
every plugin a test loaded (registries are per process; other tests must not see them)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

HICCUP = '''"""A user's fault: a short pause under another name."""

from dataclasses import dataclass
from typing import ClassVar

from faults.base import Applied, FaultBase, ledger_for, resolve_one
from faults.engine import Engine
from faults.registry import register


@register
@dataclass(frozen=True)
class Hiccup(FaultBase):
    """Freeze a node for a moment."""

    name: ClassVar[str] = "hiccup"
    node: str = "random"

    def apply(self, engine: Engine) -> Applied:
        got = resolve_one(engine, self.node)
        engine.pause(got.nodes[0])
        return Applied(targets=got.nodes, token=ledger_for(engine).token(), notes=got.notes())

    def heal(self, engine: Engine, applied: Applied) -> None:
        engine.resume(applied.targets[0])

    def describe(self, applied: Applied) -> str:
        return f"hiccup on {applied.named(applied.targets[0])}"
'''

SCENARIO = '''name = "hiccups"
summary = "the leader hiccups twice"
plugins = ["{plugin}"]
system = "raft-kv"
nodes = 3
clients = 3
duration_ms = 3000
seed = 4
checkers = ["linearizability", "raft-safety"]
faults = [
  {{ at = 800, duration = 300, fault = {{ fault = "hiccup", node = "leader" }} }},
  {{ at = 2000, duration = 300, fault = {{ fault = "hiccup", node = "leader" }} }},
]
'''

TINY_SYSTEM = '''"""A user's system: one node keeping a dict, its core shipped to Ray workers by value."""

import functools
import os
from dataclasses import dataclass

from cluster.core.types import ClientReply, ClientRequest, CoreEvent, Put, ReadyBuilder
from scenarios.systems import System, register_system
from scenarios.workloads import KINDS, RegisterOps, check_workload, make_workload

OPS = RegisterOps("read", "write", False, "the tiny register")


class TinyRegister:
    def __init__(self, node_id, durable):
        self.node_id = node_id
        self.values = dict(durable or {})
        self.out = ReadyBuilder()

    def tick(self, now_ms):
        pass

    def step(self, m):
        if not isinstance(m, ClientRequest):
            return
        value = None
        if m.op == "write":
            self.values[m.key] = m.value
            self.out.persist.append(Put(m.key, m.value))
            self.out.events.append(CoreEvent(self.node_id, "tiny-write", {"pid": os.getpid()}))
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
    return lambda node_id, durable, rng: TinyRegister(node_id, durable)


register_system(System(
    name="tiny-register", summary="one node, one dict", flaws=TinyFlaws, config=TinyConfig,
    build_core=build_core, build_workload=functools.partial(make_workload, OPS),
    check_workload=functools.partial(check_workload, OPS), checkers=("linearizability",),
    workload_kinds=KINDS,
))
'''

TINY_SCENARIO = '''name = "tiny"
summary = "a user's one-node system, paused once"
plugins = ["tiny_system.py", "hiccup.py"]
system = "tiny-register"
nodes = 1
clients = 2
duration_ms = 3000
time_limit_s = 90
model = "kv-register"
checkers = ["linearizability"]
workload = {{ keys = 2, read_ratio = 0.5, cas_ratio = 0.0 }}
client = {{ timeout_ms = 1000 }}
faults = [{{ at = 1000, duration = 400, fault = {{ fault = "hiccup", node = "n1" }} }}]
'''


@pytest.fixture
def forget_plugins() -> Iterator[None]:
    """Unload every plugin the test loads, and what it registered."""
    from scenarios.plugins import loaded, unload

    before = {p.name for p in loaded()}
    try:
        yield
    finally:
        for plugin in loaded():
            if plugin.name not in before:
                unload(plugin.name)
