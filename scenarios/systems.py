"""Systems under test, as a registry: how to build nodes, clients and workloads from data.

A :class:`System` is the one place that knows which core implements a system; the runner,
the engines and ``explore`` only see its factories.  Adding a system (sagas, a pipeline)
is one module that builds a ``System`` and calls :func:`register_system`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from cluster.core.types import Core

CoreFactory = Callable[[str, Mapping[str, Any] | None, random.Random], Core]
ClientFactory = Callable[[str, random.Random], Any]
InertFlawRule = Callable[[str, Any, tuple[str, ...]], str | None]
"""``(flaw, config, every flaw switched on) -> why the flaw changes nothing here, or None``."""


@dataclass(frozen=True)
class System:
    name: str
    summary: str
    flaws: Any  # a class with names(), describe(name), from_names(iterable)
    config: Any  # a dataclass of the core's options
    build_core: Callable[[tuple[str, ...], Any, Any], CoreFactory]  # (nodes, config, flaws) -> factory
    build_workload: Callable[[dict[str, Any], int], Any]  # (spec, clients) -> Workload
    check_workload: Callable[[dict[str, Any]], None]
    checkers: tuple[str, ...]
    fault_menu: tuple[dict[str, Any], ...] = ()
    triggers: tuple[str, ...] = ()
    build_client: Callable[[tuple[str, ...], Mapping[str, Any]], ClientFactory] | None = None
    on_setup: Callable[[Any], None] | None = None  # e.g. install trace snapshot hooks on the engine
    on_finish: Callable[[Any], None] | None = None  # e.g. record final logs
    inert_flaw: InertFlawRule | None = None  # see scenarios.flawfit
    extra: dict[str, Any] = field(default_factory=dict)


_SYSTEMS: dict[str, System] = {}


def register_system(system: System) -> System:
    _SYSTEMS[system.name] = system
    return system


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

    for mod in ("scenarios.system_kv", "scenarios.system_saga", "scenarios.system_pipeline"):
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
    from cluster.core.client import ClientConfig, ClientCore

    allowed = {f.name for f in fields(ClientConfig)}
    bad = sorted(set(spec) - allowed)
    if bad:
        raise ValueError(f"client: unknown field {bad[0]!r}; allowed: {', '.join(sorted(allowed))}")
    cfg = ClientConfig(**dict(spec))

    def make_client(client_id: str, rng: random.Random) -> Any:
        return ClientCore(client_id, nodes, cfg, rng)

    return make_client
