"""Systems under test: how to build a node core and a client for each, from scenario data.

This is the only place that knows which core implements which system; the runner and the
engines only see ``make_core(node_id, durable, rng)`` and ``make_client(client_id, rng)``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any

from cluster.core.types import Core


def _flaw_class(system: str) -> Any:
    if system == "raft-kv":
        from cluster.core.raft import RaftFlaws

        return RaftFlaws
    if system == "quorum":
        from cluster.core.quorum import QuorumFlaws

        return QuorumFlaws
    raise ValueError(f"unknown system {system!r}")


def _config_class(system: str) -> Any:
    if system == "raft-kv":
        from cluster.core.raft import RaftConfig

        return RaftConfig
    from cluster.core.quorum import QuorumConfig

    return QuorumConfig


def flaw_names(system: str) -> tuple[str, ...]:
    return tuple(_flaw_class(system).names())


def describe_flaw(system: str, name: str) -> str:
    return str(_flaw_class(system).describe(name))


def check_flaws(system: str, flaws: tuple[str, ...] | list[str]) -> None:
    known = flaw_names(system)
    for f in flaws:
        if f not in known:
            raise ValueError(f"unknown flaw {f!r} for system {system}; known flaws: {', '.join(known)}")


def build_config(system: str, overrides: Mapping[str, Any], nodes: int) -> Any:
    cls = _config_class(system)
    allowed = {f.name for f in fields(cls)}
    bad = sorted(set(overrides) - allowed)
    if bad:
        raise ValueError(f"config: unknown field {bad[0]!r} for {system}; allowed: {', '.join(sorted(allowed))}")
    kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in overrides.items()}
    return cls(**kw)


def node_ids(n: int) -> tuple[str, ...]:
    return tuple(f"n{i + 1}" for i in range(n))


def core_factory(
    system: str, nodes: tuple[str, ...], config: Any, flaws: tuple[str, ...]
) -> Callable[[str, Mapping[str, Any] | None, random.Random], Core]:
    fl = _flaw_class(system).from_names(flaws)
    if system == "raft-kv":
        from cluster.core.raft import RaftNode

        def make_raft(node_id: str, durable: Mapping[str, Any] | None, rng: random.Random) -> Core:
            return RaftNode(node_id, nodes, config, rng, durable=durable, flaws=fl)

        return make_raft
    from cluster.core.quorum import QuorumNode

    def make_quorum(node_id: str, durable: Mapping[str, Any] | None, rng: random.Random) -> Core:
        return QuorumNode(node_id, nodes, config, rng, durable=durable, flaws=fl)

    return make_quorum


def client_factory(nodes: tuple[str, ...], spec: Mapping[str, Any]) -> Callable[[str, random.Random], Any]:
    from cluster.core.client import ClientConfig, ClientCore

    allowed = {f.name for f in fields(ClientConfig)}
    bad = sorted(set(spec) - allowed)
    if bad:
        raise ValueError(f"client: unknown field {bad[0]!r}; allowed: {', '.join(sorted(allowed))}")
    cfg = ClientConfig(**dict(spec))

    def make_client(client_id: str, rng: random.Random) -> Any:
        return ClientCore(client_id, nodes, cfg, rng)

    return make_client
