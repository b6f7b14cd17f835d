"""Name -> fault class, and plain data <-> faults and schedule items.

Scenarios are saved as JSON, so every fault and schedule item has a dict form.  Adding a fault
model is one module plus ``@register`` (see ``docs/faults.md``); the registry then builds it
from ``{"fault": "<name>", <field>: <value>, ...}`` with type checks derived from the
dataclass annotations, and errors say exactly which name or field is wrong.

Dict forms::

    {"fault": "partition", "kind": "isolate-leader"}                       # a fault
    {"at": 2000, "duration": 3000, "fault": {...}}                          # At
    {"on": "leader-elected", "duration": 2000, "delay": 0, "times": 1,      # OnEvent
     "fault": {...}}
    {"on": {"kind": "role", "where": {"role": "leader"}, "bind_leader": "node"}, ...}
    {"random": 0.5, "mean_duration": 2000, "kinds": ["crash", "partition:halves"],
     "start": 0, "stop": 30000, "max_concurrent": 1}                       # RandomFaults

Times are milliseconds; ``"duration": null`` means "until the run ends"; ``"times": null``
means "every time".
"""

from __future__ import annotations

import dataclasses
import importlib
import types
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, Union

from faults.base import Fault, FaultSpecError

if TYPE_CHECKING:
    from faults.schedule import ScheduleItem

__all__ = [
    "FaultSpecError",
    "register",
    "unregister",
    "get",
    "known",
    "from_dict",
    "fault_from_dict",
    "item_from_dict",
    "items_from_list",
    "to_dict",
]

_REGISTRY: dict[str, type[Any]] = {}

_BUILTIN_MODULES = ("faults.partition", "faults.clock", "faults.process", "faults.link")
"""Imported on first lookup so ``get("crash")`` works without importing every module first."""

T = TypeVar("T", bound=type[Any])


def register(cls: T) -> T:
    """Class decorator: make ``cls`` buildable by its ``name`` (a ``ClassVar[str]``).

    Put ``@register`` *above* ``@dataclass`` so the class it sees is already a dataclass.
    """
    name = getattr(cls, "name", "")
    if not isinstance(name, str) or not name:
        raise TypeError(f"{cls.__name__} needs a non-empty `name: ClassVar[str]` to be registered")
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls.__name__} must be a dataclass (put @register above @dataclass)")
    for method in ("apply", "heal", "describe", "to_dict"):
        if not callable(getattr(cls, method, None)):
            raise TypeError(f"{cls.__name__} lacks {method}(); subclass faults.base.FaultBase")
    existing = _REGISTRY.get(name)
    if existing is not None and existing.__qualname__ != cls.__qualname__:
        raise TypeError(f"fault name {name!r} is already taken by {existing.__name__}")
    _REGISTRY[name] = cls
    return cls


def unregister(name: str) -> None:
    """Forget a fault name (tests and notebooks that define throwaway faults use this)."""
    _REGISTRY.pop(name, None)


def _ensure_builtins() -> None:
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)


def known() -> tuple[str, ...]:
    """Registered fault names, sorted, for error messages and ``--help`` style listings."""
    _ensure_builtins()
    return tuple(sorted(_REGISTRY))


def get(name: str) -> type[Any]:
    """The fault class registered as ``name``; :class:`FaultSpecError` lists the known ones."""
    _ensure_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise FaultSpecError(f"unknown fault {name!r}; known: {', '.join(known())}") from None


# --- dict -> objects ------------------------------------------------------------------------


def from_dict(data: Mapping[str, Any]) -> Fault | ScheduleItem:
    """Build a schedule item (has "at", "on" or "random") or a fault (has "fault": name)."""
    if not isinstance(data, Mapping):
        raise FaultSpecError(f"expected an object/dict, got {data!r}")
    if any(k in data for k in ("at", "on", "random")):
        return item_from_dict(data)
    return fault_from_dict(data)


def fault_from_dict(data: Mapping[str, Any]) -> Fault:
    """``{"fault": "partition", "kind": "halves"}`` -> ``Partition(kind="halves")``."""
    if not isinstance(data, Mapping):
        raise FaultSpecError(f"a fault must be an object with a 'fault' name, got {data!r}")
    name = data.get("fault")
    if name is None:
        raise FaultSpecError(
            f"a fault needs a 'fault' name (one of {', '.join(known())}); got keys {', '.join(data)}"
        )
    if not isinstance(name, str):
        raise FaultSpecError(f"field 'fault' must be a fault name, got {name!r}")
    cls = get(name)
    where = f"fault {name!r}"
    kwargs = _fields_from(cls, {k: v for k, v in data.items() if k != "fault"}, where)
    fault: Fault = cls(**kwargs)
    return fault


def item_from_dict(data: Mapping[str, Any]) -> ScheduleItem:
    """Build an ``At``, ``OnEvent`` or ``RandomFaults`` from its dict form (see module doc)."""
    from faults.schedule import At, EventTrigger, OnEvent, RandomFaults

    if not isinstance(data, Mapping):
        raise FaultSpecError(f"a schedule item must be an object, got {data!r}")
    if "at" in data:
        _only(data, ("at", "duration", "fault"), "'at' item")
        return At(
            start_ms=_int(data, "at", "'at' item"),
            duration_ms=_opt_int(data, "duration", "'at' item"),
            fault=fault_from_dict(_required(data, "fault", "'at' item")),
        )
    if "on" in data:
        where = "'on' item"
        _only(data, ("on", "duration", "delay", "times", "fault"), where)
        raw = data["on"]
        trigger: str | EventTrigger
        if isinstance(raw, str):
            trigger = raw
        elif isinstance(raw, Mapping):
            trigger_where = f"{where} trigger"
            _only(raw, ("kind", "where", "bind_leader"), trigger_where)
            kind = _required(raw, "kind", trigger_where)
            match = raw.get("where", {})
            bind = raw.get("bind_leader")
            if not isinstance(kind, str):
                raise FaultSpecError(
                    f"{trigger_where}: field 'kind' must be a string, got {kind!r}"
                )
            if not isinstance(match, Mapping):
                raise FaultSpecError(
                    f"{trigger_where}: field 'where' must be an object, got {match!r}"
                )
            if bind is not None and not isinstance(bind, str):
                raise FaultSpecError(
                    f"{trigger_where}: field 'bind_leader' must be a string or null, got {bind!r}"
                )
            trigger = EventTrigger(kind=kind, where=dict(match), bind_leader=bind)
        else:
            raise FaultSpecError(
                f"{where}: field 'on' must be a trigger name or object, got {raw!r}"
            )
        return OnEvent(
            trigger=trigger,
            fault=fault_from_dict(_required(data, "fault", where)),
            duration_ms=_opt_int(data, "duration", where),
            delay_ms=_int(data, "delay", where, default=0),
            times=_opt_int(data, "times", where, default=1),
        )
    if "random" in data:
        where = "'random' item"
        _only(data, ("random", "mean_duration", "kinds", "start", "stop", "max_concurrent"), where)
        kinds = _required(data, "kinds", where)
        if not isinstance(kinds, list | tuple) or not all(isinstance(k, str) for k in kinds):
            raise FaultSpecError(
                f"{where}: field 'kinds' must be a list of fault names, got {kinds!r}"
            )
        rate = data["random"]
        if isinstance(rate, bool) or not isinstance(rate, int | float):
            raise FaultSpecError(f"{where}: field 'random' must be a rate per second, got {rate!r}")
        return RandomFaults(
            rate_per_s=float(rate),
            mean_duration_ms=_int(data, "mean_duration", where),
            kinds=tuple(kinds),
            start_ms=_int(data, "start", where, default=0),
            stop_ms=_opt_int(data, "stop", where),
            max_concurrent=_int(data, "max_concurrent", where, default=1),
        )
    raise FaultSpecError(
        f"a schedule item needs one of 'at', 'on' or 'random'; got keys {', '.join(data) or 'none'}"
    )


def items_from_list(data: list[Any] | tuple[Any, ...]) -> tuple[ScheduleItem, ...]:
    """A scenario's ``faults`` list; errors are prefixed with the item's index."""
    out = []
    for i, raw in enumerate(data):
        try:
            out.append(item_from_dict(raw))
        except FaultSpecError as err:
            raise FaultSpecError(f"faults[{i}]: {err}") from None
    return tuple(out)


def to_dict(obj: Any) -> dict[str, Any]:
    """The dict form of a fault or schedule item; ``from_dict(to_dict(x)) == x``."""
    return obj.to_dict()  # type: ignore[no-any-return]


# --- helpers ------------------------------------------------------------------------------------


def _only(data: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in data:
        if key not in allowed:
            raise FaultSpecError(f"{where}: unknown field {key!r}; known: {', '.join(allowed)}")


def _required(data: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in data:
        raise FaultSpecError(f"{where}: missing field {key!r}")
    return data[key]


def _int(data: Mapping[str, Any], key: str, where: str, default: int | None = None) -> int:
    if key not in data and default is not None:
        return default
    value = _required(data, key, where)
    return _as_int(value, key, where)


def _opt_int(
    data: Mapping[str, Any], key: str, where: str, default: int | None = None
) -> int | None:
    value = data.get(key, default)
    return None if value is None else _as_int(value, key, where)


def _as_int(value: Any, key: str, where: str) -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise FaultSpecError(f"{where}: field {key!r} must be a whole number of ms, got {value!r}")
    return value


def _fields_from(cls: type[Any], data: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Check names and types of ``data`` against the dataclass ``cls``; lists become tuples."""
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = typing.get_type_hints(cls)
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            raise FaultSpecError(
                f"{where}: unknown field {key!r}; known: {', '.join(sorted(fields)) or 'none'}"
            )
        out[key] = _coerce(value, hints[key], f"{where}: field {key!r}")
    return out


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Convert JSON-ish ``value`` to ``hint`` (str, int, float, bool, Optional, tuples)."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except FaultSpecError:
                continue
        raise FaultSpecError(f"{where} must be {_words(hint)}, got {value!r}")
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, list | tuple):
            raise FaultSpecError(f"{where} must be {_words(hint)}, got {value!r}")
        try:
            if len(args) == 2 and args[1] is Ellipsis:
                return tuple(_coerce(v, args[0], where) for v in value)
            if len(args) == len(value):
                return tuple(_coerce(v, a, where) for v, a in zip(value, args, strict=True))
        except FaultSpecError:
            pass  # report the whole value against the outer type, which is what the user wrote
        raise FaultSpecError(f"{where} must be {_words(hint)}, got {value!r}")
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    elif hint is Any or hint is object:
        return value
    else:
        return value  # an annotation we do not know how to check: trust the constructor
    raise FaultSpecError(f"{where} must be {_words(hint)}, got {value!r}")


def _words(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        parts = [_words(a) for a in typing.get_args(hint) if a is not type(None)]
        nullable = type(None) in typing.get_args(hint)
        return " or ".join(parts) + (" or null" if nullable else "")
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_plural(args[0])}"
        return f"a list of {len(args)} items"
    return {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}.get(
        hint, str(hint)
    )


def _plural(hint: Any) -> str:
    words = _words(hint)
    for article in ("a list of ", "a ", "an "):
        if words.startswith(article):
            rest = words[len(article) :]
            return "lists of " + rest if article == "a list of " else rest + "s"
    return words
