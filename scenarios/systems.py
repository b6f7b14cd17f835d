"""Systems under test, as a registry: how to build nodes, clients and workloads from data.

A :class:`System` is the one place that knows which core implements a system and what it
needs from an engine; the runner reads its typed fields and hands the engines factories
(:class:`cluster.spec.ClusterSpec`), so neither the runner nor an engine ever branches on
a system's name.  Adding a system (sagas, a pipeline, a user's own) is one module that
builds a ``System`` and calls :func:`register_system`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from cluster.session import FinalView
from cluster.spec import BrokerPlan, ClientFactory, CoreFactory, EventRecords, Workload

InertFlawRule = Callable[[str, Any, tuple[str, ...]], str | None]
"""``(flaw, config, every flaw switched on) -> why the flaw changes nothing here, or None``."""

__all__ = [
    "ClientFactory",
    "CoreFactory",
    "Export",
    "RunInfo",
    "System",
    "build_config",
    "check_flaws",
    "client_factory",
    "core_factory",
    "default_client_factory",
    "describe_flaw",
    "flaw_names",
    "get_system",
    "node_ids",
    "register_system",
    "system_names",
    "unregister_system",
]


@dataclass(frozen=True)
class RunInfo:
    """Which run an export belongs to (names the exported folder and its metadata)."""

    scenario: str
    seed: int
    engine: str


Export = Callable[[FinalView, Any, Path, RunInfo], Mapping[str, Any]]
"""``(final view, config, folder, run) -> stats``: write what a later command reads (the
pipeline's searchable vector store) under ``folder``; the returned items join the run's
stats (where it went).  Return ``{}`` when there is nothing worth exporting."""


@dataclass(frozen=True)
class System:
    """A system: its cores, clients, workload, checkers and what it asks of an engine.

    Engine-facing fields (all optional):

    * ``event_records`` -- records a node adds when its core emits an event, read from the
      core at that moment (Raft: a new leader's log, for leader completeness);
    * ``final_records`` -- records written from the final cluster state (final logs,
      undrained outboxes, the vector store's contents);
    * ``realtime_config`` -- defaults put under the scenario's ``config`` when the engine
      runs in real time (a real broker's session timeout, the real embedding model);
    * ``settle_ms`` -- a quiet tail before checking, for checkers that judge liveness;
    * ``broker`` -- ``(nodes, config) -> BrokerPlan``: which node is a message broker, so
      a real engine may run a real one there;
    * ``node_resources`` -- ``(node, nodes, config, available) -> options``: what a node
      asks of the machine (a worker's GPU share);
    * ``prepare_node`` -- ``(node, nodes, config)``: slow setup before the clock starts
      (a worker loads its model);
    * ``export`` -- see :data:`Export`;
    * ``requirements`` -- ``config -> reason or None``: what this configuration needs that
      may be missing here (a model package), said before anything starts.
    """

    name: str
    summary: str
    flaws: Any  # a class with names(), describe(name), from_names(iterable)
    config: Any  # a dataclass of the core's options
    build_core: Callable[[tuple[str, ...], Any, Any], CoreFactory]  # (nodes, config, flaws) -> factory
    build_workload: Callable[[dict[str, Any], int], Workload]  # (spec, clients) -> Workload
    check_workload: Callable[[dict[str, Any]], None]
    checkers: tuple[str, ...]
    fault_menu: tuple[dict[str, Any], ...] = ()
    triggers: tuple[str, ...] = ()
    build_client: Callable[[tuple[str, ...], Mapping[str, Any]], ClientFactory] | None = None
    event_records: EventRecords | None = None
    final_records: Callable[[FinalView], None] | None = None
    realtime_config: Mapping[str, Any] = field(default_factory=dict)
    settle_ms: int = 0
    broker: Callable[[tuple[str, ...], Any], BrokerPlan | None] | None = None
    node_resources: Callable[[str, tuple[str, ...], Any, Mapping[str, float]], Mapping[str, float]] | None = None
    prepare_node: Callable[[str, tuple[str, ...], Any], None] | None = None
    export: Export | None = None
    requirements: Callable[[Any], str | None] | None = None
    inert_flaw: InertFlawRule | None = None  # see scenarios.flawfit


_SYSTEMS: dict[str, System] = {}


def register_system(system: System) -> System:
    _SYSTEMS[system.name] = system
    return system


def unregister_system(name: str) -> None:
    """Forget a system (tests and notebooks that define throwaway systems use this)."""
    _SYSTEMS.pop(name, None)


def system_names() -> tuple[str, ...]:
    _load_builtin()
    return tuple(sorted(_SYSTEMS))


def get_system(name: str) -> System:
    _load_builtin()
    if name not in _SYSTEMS:
        raise ValueError(f"unknown system {name!r}; known: {', '.join(sorted(_SYSTEMS))}")
    return _SYSTEMS[name]


_BUILTIN_LOADED = False


def _load_builtin() -> None:
    """Import the built-in systems once.  Keyed on a flag, not on the registry being empty:
    a caller that imported one system module directly must not hide the others."""
    global _BUILTIN_LOADED
    if _BUILTIN_LOADED:
        return
    _BUILTIN_LOADED = True
    import importlib

    for mod in ("scenarios.system_kv", "scenarios.system_saga", "scenarios.system_pipeline",
                "scenarios.system_eventlog", "scenarios.system_register", "scenarios.system_lock"):
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:
                raise


def flaw_names(system: str) -> tuple[str, ...]:
    return tuple(get_system(system).flaws.names())


def describe_flaw(system: str, name: str) -> str:
    return str(get_system(system).flaws.describe(name))


def check_flaws(system: str, flaws: tuple[str, ...] | list[str]) -> None:
    known = flaw_names(system)
    for f in flaws:
        if f not in known:
            raise ValueError(f"unknown flaw {f!r} for system {system}; known flaws: {', '.join(known)}")


def build_config(system: str, overrides: Mapping[str, Any]) -> Any:
    cls = get_system(system).config
    allowed = {f.name for f in fields(cls)}
    bad = sorted(set(overrides) - allowed)
    if bad:
        raise ValueError(f"config: unknown field {bad[0]!r} for {system}; allowed: {', '.join(sorted(allowed))}")
    kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in overrides.items()}
    return cls(**kw)


def node_ids(n: int) -> tuple[str, ...]:
    return tuple(f"n{i + 1}" for i in range(n))


def core_factory(system: str, nodes: tuple[str, ...], config: Any, flaws: tuple[str, ...]) -> CoreFactory:
    s = get_system(system)
    return s.build_core(nodes, config, s.flaws.from_names(flaws))


def client_factory(system: str, nodes: tuple[str, ...], spec: Mapping[str, Any]) -> ClientFactory:
    s = get_system(system)
    if s.build_client is not None:
        return s.build_client(nodes, spec)
    return default_client_factory(nodes, spec)


def default_client_factory(nodes: tuple[str, ...], spec: Mapping[str, Any]) -> ClientFactory:
    from cluster.core.client import ClientConfig

    allowed = {f.name for f in fields(ClientConfig)}
    bad = sorted(set(spec) - allowed)
    if bad:
        raise ValueError(f"client: unknown field {bad[0]!r}; allowed: {', '.join(sorted(allowed))}")
    return _DefaultClients(nodes, ClientConfig(**dict(spec)))


class _DefaultClients:
    """The standard client core over ``nodes`` (a class, not a closure, so it pickles small)."""

    def __init__(self, nodes: tuple[str, ...], config: Any) -> None:
        self.nodes = nodes
        self.config = config

    def __call__(self, client_id: str, rng: random.Random) -> Any:
        from cluster.core.client import ClientCore

        return ClientCore(client_id, self.nodes, self.config, rng)
