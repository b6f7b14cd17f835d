"""Which nodes a fault description names, so a scenario can be checked before it runs.

Faults resolve their targets when they apply, and a target that does not exist then is a
``fault-skipped`` record (a chaos run should keep going when a *selector* finds nothing to
hit).  A literal node id that the cluster does not have is different: it is a typo or a
scenario written for a bigger cluster, and it would make the run silently weaker than the
scenario says.  :func:`unknown_nodes` finds such ids in a fault or a schedule item so the
loader can reject them with the field's name.

Fields that name nodes, by convention across fault models (plugins included): ``node``,
``target``, ``src``, ``dst`` (a node id, a selector or ``"*"``) and ``groups`` (lists of
node ids).  A trigger's ``where`` names nodes in its ``node`` and ``candidate`` fields.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

from faults.base import SELECTORS

NODE_FIELDS: tuple[str, ...] = ("node", "target", "src", "dst")
"""Fault fields holding one node id, a selector or ``"*"``."""

GROUP_FIELDS: tuple[str, ...] = ("groups",)
"""Fault fields holding lists of node ids."""

TRIGGER_NODE_FIELDS: tuple[str, ...] = ("node", "candidate")
"""Fields of a trigger's ``where`` that hold a node id."""

WILDCARDS: frozenset[str] = frozenset({*SELECTORS, "*"})


def named_nodes(fault: Any) -> Iterator[tuple[str, str]]:
    """``(field, node id)`` for every literal node id in a fault object (selectors skipped)."""
    if not dataclasses.is_dataclass(fault):
        return
    for f in dataclasses.fields(fault):
        value = getattr(fault, f.name)
        if f.name in NODE_FIELDS and isinstance(value, str) and value not in WILDCARDS:
            yield f.name, value
        elif f.name in GROUP_FIELDS and isinstance(value, tuple | list):
            for group in value:
                for node in group if isinstance(group, tuple | list) else (group,):
                    if isinstance(node, str):
                        yield f.name, node


def _trigger_nodes(where: Mapping[str, Any], field: str = "on") -> Iterator[tuple[str, str]]:
    for key in TRIGGER_NODE_FIELDS:
        value = where.get(key)
        if isinstance(value, str) and value not in WILDCARDS:
            yield f"{field}.where.{key}", value


def unknown_nodes(item: Any, nodes: tuple[str, ...]) -> list[tuple[str, str]]:
    """``(field path, node id)`` of every node id in a fault or schedule item not in ``nodes``."""
    from faults.schedule import At, EventTrigger, OnEvent

    found: list[tuple[str, str]] = []
    if isinstance(item, At | OnEvent):
        found += [(f"fault.{name}", node) for name, node in named_nodes(item.fault)]
        if isinstance(item, OnEvent) and isinstance(item.trigger, EventTrigger):
            found += list(_trigger_nodes(item.trigger.where))
        if isinstance(item.until, EventTrigger):
            found += list(_trigger_nodes(item.until.where, "until"))
    else:
        found += list(named_nodes(item))
    return [(path, node) for path, node in found if node not in nodes]
