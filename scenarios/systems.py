"""Systems under test, as a registry: how to build nodes, clients and workloads from data.

A :class:`System` is the one place that knows which core implements a system and what it
needs from an engine; the runner reads its typed fields and hands the engines factories
(:class:`cluster.spec.ClusterSpec`), so neither the runner nor an engine ever branches on
a system's name.  Adding a system (sagas, a pipeline, a user's own) is one module that
builds a ``System`` and calls :func:`register_system` -- a built-in one in this package, a
user's one as a plugin (``docs/extending.md``), which may not take a built-in's name.

A system's factories are often one of a few shapes, kept here so that each is written
once: :class:`PeerCores` (every node runs the same core), :func:`node_role` (the role a
node plays, for a system of roles), :class:`RoutedClients` with :func:`client_timeout_ms`
(the system's own client core, routed its way).  Both classes pickle for the real engine.

Lookups (:func:`get_system`, :func:`system_names`) load the built-in systems and the
installed packages' entry points once, on first use, so a command that never asks for a
system never imports one.
"""

from __future__ import annotations

import dataclasses
import functools
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from cluster.core.types import Core
from cluster.session import FinalView
from cluster.spec import BrokerPlan, ClientCore, ClientFactory, CoreFactory, EventRecords, Workload
from faults.registry import RegistrationError, origin
from scenarios.script import OpVocabulary

InertFlawRule = Callable[[str, Any, tuple[str, ...]], str | None]
"""``(flaw, config, every flaw switched on) -> why the flaw changes nothing here, or None``."""

__all__ = [
    "ClientFactory",
    "CoreFactory",
    "Export",
    "PeerCores",
    "RoutedClients",
    "RunInfo",
    "System",
    "build_config",
    "check_flaws",
    "check_workload",
    "client_factory",
    "client_timeout_ms",
    "core_factory",
    "default_client_factory",
    "describe_flaw",
    "flaw_names",
    "get_system",
    "node_ids",
    "node_role",
    "register_system",
    "system_names",
    "unregister_system",
    "workload_factory",
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

    ``script`` says what its clients can be scripted to do (``[[workload.script]]``) and
    how ``explore`` draws operations (:class:`scenarios.script.OpVocabulary`); a system
    without one runs only its generated workload, and ``explore`` searches faults only.
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
    workload_kinds: tuple[str, ...] = ()
    """The ``workload.kind`` values the system's own workload accepts (its first is the
    default); a plugin's workload kind may add others but never reuse these."""
    script: OpVocabulary | None = None


_SYSTEMS: dict[str, System] = {}

_CALLABLES = ("build_core", "build_workload", "check_workload")
_OPTIONAL_CALLABLES = ("build_client", "event_records", "final_records", "broker", "node_resources",
                       "prepare_node", "export", "requirements", "inert_flaw")
_NAME_TUPLES = ("checkers", "triggers", "workload_kinds")


def register_system(system: System) -> System:
    """Make ``system`` runnable by its name.  Refused (:class:`RegistrationError`, naming
    the field) when a field cannot work, or when another module already registered the
    name: a plugin never silently replaces a built-in system, or another plugin's."""
    system = _checked(system)
    _load_builtin()
    existing = _SYSTEMS.get(system.name)
    if existing is not None and existing is not system and _module_of(existing) != _module_of(system):
        raise RegistrationError(
            f"system name {system.name!r} is already taken, {origin(_module_of(existing))}; "
            "a plugin may not replace another system: choose another name"
        )
    _SYSTEMS[system.name] = system
    return system


def _module_of(system: System) -> str | None:
    """The module that defined the system: where its core factory is defined."""
    fn: Any = system.build_core
    while isinstance(fn, functools.partial):
        fn = fn.func
    return getattr(fn, "__module__", None)


def _checked(system: Any) -> System:
    """``system`` with its fields checked (lists become tuples); the first bad field is a
    :class:`RegistrationError` that names it."""
    if not isinstance(system, System):
        raise RegistrationError(f"register_system takes a scenarios.systems.System, got {type(system).__name__}")
    name = system.name
    if not isinstance(name, str) or not name.strip():
        raise RegistrationError(f"a system needs a non-empty name, got {name!r}")

    def bad(field_name: str, what: str) -> RegistrationError:
        got = getattr(system, field_name)
        return RegistrationError(f"system {name!r}: field {field_name!r} must be {what}, got {got!r}")

    if not isinstance(system.summary, str):
        raise bad("summary", "a string")
    for method in ("names", "describe", "from_names"):
        if not callable(getattr(system.flaws, method, None)):
            raise bad("flaws", f"a class with names(), describe(name) and from_names(names) (no {method})")
    if not (isinstance(system.config, type) and dataclasses.is_dataclass(system.config)):
        raise bad("config", "a dataclass class (the core's options)")
    for f in _CALLABLES:
        if not callable(getattr(system, f)):
            raise bad(f, "callable")
    for f in _OPTIONAL_CALLABLES:
        if getattr(system, f) is not None and not callable(getattr(system, f)):
            raise bad(f, "callable or None")
    fixed: dict[str, Any] = {}
    for f in _NAME_TUPLES:
        v = getattr(system, f)
        if not isinstance(v, list | tuple) or not all(isinstance(x, str) and x for x in v):
            raise bad(f, "a list of names")
        fixed[f] = tuple(v)
    menu = system.fault_menu
    if not isinstance(menu, list | tuple) or not all(isinstance(m, Mapping) and "fault" in m for m in menu):
        raise bad("fault_menu", "a list of fault tables, each with a 'fault' name")
    fixed["fault_menu"] = tuple(menu)
    if not isinstance(system.realtime_config, Mapping):
        raise bad("realtime_config", "a table of config defaults")
    if isinstance(system.settle_ms, bool) or not isinstance(system.settle_ms, int) or system.settle_ms < 0:
        raise bad("settle_ms", "a whole number of milliseconds >= 0")
    return dataclasses.replace(system, **fixed)


def unregister_system(name: str) -> None:
    """Forget a system (tests and notebooks that define throwaway systems use this)."""
    _SYSTEMS.pop(name, None)


def system_names() -> tuple[str, ...]:
    _load_builtin()
    _load_installed()
    return tuple(sorted(_SYSTEMS))


def get_system(name: str) -> System:
    _load_builtin()
    if name not in _SYSTEMS:
        _load_installed()
    if name not in _SYSTEMS:
        raise ValueError(f"unknown system {name!r}; known: {', '.join(sorted(_SYSTEMS))}")
    return _SYSTEMS[name]


def _load_installed() -> None:
    from scenarios.plugins import load_installed

    load_installed()


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


def _plugin_workload(system: str, spec: Mapping[str, Any]) -> Any:
    """The plugin workload kind ``spec`` names for ``system``, or None for the system's own.
    ``ValueError`` when the kind is unknown here (listing the kinds that are)."""
    from scenarios.workloads import workload_kinds

    s = get_system(system)
    kind = spec.get("kind")
    if kind is None or kind in s.workload_kinds:
        return None
    kinds = workload_kinds()
    if kind in kinds and kinds[kind].suits(system):
        return kinds[kind]
    if kind in kinds:
        raise ValueError(f"workload: kind {kind!r} is for {', '.join(kinds[kind].systems)}, not {system}")
    if not s.workload_kinds:
        return None  # the system's own check says what it accepts
    known = [*s.workload_kinds, *(n for n, k in kinds.items() if k.suits(system))]
    raise ValueError(f"workload: unknown kind {kind!r} for {system}; known: {', '.join(known)}")


def check_workload(system: str, spec: dict[str, Any]) -> None:
    """Check a scenario's ``workload`` table for ``system`` (its own workload or a plugin's
    kind); ``ValueError`` names the field."""
    kind = _plugin_workload(system, spec)
    if kind is None:
        get_system(system).check_workload(spec)
    else:
        kind.check(spec, system)


def workload_factory(system: str, spec: dict[str, Any], clients: int) -> Callable[[], Any]:
    """A picklable ``() -> workload`` for ``system`` and the ``workload`` table ``spec``."""
    kind = _plugin_workload(system, spec)
    if kind is None:
        return functools.partial(get_system(system).build_workload, dict(spec), clients)
    return functools.partial(kind.build, dict(spec), clients, system)


def node_ids(n: int) -> tuple[str, ...]:
    return tuple(f"n{i + 1}" for i in range(n))


def node_role(system: str, roles: Mapping[str, str], node_id: str) -> str:
    """The role ``node_id`` plays in a system whose ``roles`` maps each role to its node;
    ``ValueError`` naming the system when it plays none (the scenario has more nodes)."""
    for role, node in roles.items():
        if node == node_id:
            return role
    raise ValueError(f"node {node_id} has no role in the {system} system (it uses {len(roles)} nodes)")


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


@dataclass(frozen=True, eq=False)
class PeerCores:
    """A core factory for a system whose every node runs the same core over all the nodes
    (a Raft group, a quorum register): ``core(node, nodes, config, rng, durable=, flaws=)``.
    A class, not a closure, so it pickles small for the real engine's node actors."""

    core: Callable[..., Core]
    nodes: tuple[str, ...]
    config: Any
    flaws: Any

    def __call__(self, node_id: str, durable: Mapping[str, Any] | None, rng: random.Random) -> Core:
        return self.core(node_id, self.nodes, self.config, rng, durable=durable, flaws=self.flaws)


def client_timeout_ms(spec: Mapping[str, Any], default_ms: int) -> int:
    """The ``client`` table of a system with its own client core, whose one field is
    ``timeout_ms``: the timeout (``default_ms`` when unset); ``ValueError`` names a bad field."""
    bad = sorted(set(spec) - {"timeout_ms"})
    if bad:
        raise ValueError(f"client: unknown field {bad[0]!r}; allowed: timeout_ms")
    timeout = spec.get("timeout_ms", default_ms)
    if not isinstance(timeout, int) or timeout < 1:
        raise ValueError(f"client: timeout_ms must be a positive integer, got {timeout!r}")
    return timeout


@dataclass(frozen=True, eq=False)
class RoutedClients:
    """A client factory for a system with its own client core: every client is
    ``make(client_id, route, rng, timeout_ms=...)``, where ``route`` is what the system
    routes by (the replicas, the workers, which node takes which operation).  A class, not a
    closure, so it pickles for the real engine's client process; ``make`` is a class or a
    module-level function (or a ``functools.partial`` of one) for the same reason."""

    make: Callable[..., ClientCore]
    route: Any
    timeout_ms: int

    def __call__(self, client_id: str, rng: random.Random) -> ClientCore:
        return self.make(client_id, self.route, rng, timeout_ms=self.timeout_ms)
