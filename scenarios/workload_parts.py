"""What several systems' own workloads share: checks of the ``workload`` table's common
fields, and each client slot's operation budget.

Each system's ``check_workload`` says which fields and kind it accepts; the fields that mean
the same thing everywhere (an operation budget, a ratio, ``think_ms``) are checked here, so
a mistake in any system's scenario file reads the same.  Every check raises ``ValueError``
with one line that names the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from typing import Any

__all__ = ["check_fields", "check_kind", "check_positive_int", "check_ratio", "check_think_ms", "take_turn"]


def check_fields(spec: Mapping[str, Any], allowed: Set[str]) -> None:
    """No field outside ``allowed`` (the first unknown one is named, with what is allowed)."""
    bad = sorted(set(spec) - allowed)
    if bad:
        raise ValueError(f"workload: unknown field {bad[0]!r}; allowed: {', '.join(sorted(allowed))}")


def check_kind(spec: Mapping[str, Any], system: str, kind: str) -> None:
    """``kind``, when set, is the one kind the ``system``'s workload has."""
    if spec.get("kind", kind) != kind:
        raise ValueError(f"workload: the {system} system's only kind is {kind!r}, got {spec.get('kind')!r}")


def check_positive_int(spec: Mapping[str, Any], name: str) -> None:
    """``name``, when set, is a whole number >= 1 (``true`` is not a number here)."""
    n = spec.get(name)
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
        raise ValueError(f"workload: {name} must be a positive integer, got {n!r}")


def check_ratio(spec: Mapping[str, Any], name: str, default: float) -> None:
    """``name`` (``default`` when unset) is a fraction from 0 to 1."""
    r = spec.get(name, default)
    if not isinstance(r, (int, float)) or not 0 <= r <= 1:
        raise ValueError(f"workload: {name} must be between 0 and 1, got {r!r}")


def check_think_ms(spec: Mapping[str, Any]) -> None:
    """``think_ms`` (a client's pause between operations, ``[0, 20]`` when unset) is
    ``[min, max]`` whole milliseconds, ``0 <= min <= max``."""
    think = spec.get("think_ms", [0, 20])
    if (not isinstance(think, (list, tuple)) or len(think) != 2
            or not all(isinstance(x, int) and x >= 0 for x in think) or think[0] > think[1]):
        raise ValueError(f"workload: think_ms must be [min, max] milliseconds, got {think!r}")


def take_turn(issued: dict[int, int], slot: int, ops_per_client: int | None) -> int | None:
    """Count one more operation for client ``slot`` in ``issued`` and return how many it had
    issued before; ``None`` (nothing counted) once it has issued ``ops_per_client`` (``None``:
    no limit).  Budgets are per slot, not per process, so a client that replaces a crashed
    one goes on with its slot's budget."""
    n = issued.get(slot, 0)
    if ops_per_client is not None and n >= ops_per_client:
        return None
    issued[slot] = n + 1
    return n
