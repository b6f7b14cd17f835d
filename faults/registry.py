"""Name -> fault class, and plain data <-> faults.

Scenarios are saved as JSON, so every fault has a dict form.  Adding a fault model is one
module plus ``@register`` (see ``docs/faults.md``); the registry then builds it from
``{"fault": "<name>", <field>: <value>, ...}`` with type checks derived from the dataclass
annotations, and errors say exactly which name or field is wrong::

    {"fault": "partition", "kind": "isolate-leader"}

The registry knows fault *classes* only: it imports no fault module and no schedule, so
every fault module (built-in or a user's) can import it without a cycle.  The built-in
faults register when the ``faults`` package is imported (``faults/__init__.py``), which
happens before any of its modules runs.  Schedule items (``at``/``on``/``random``) are
parsed by :mod:`faults.schedule`, which builds their faults through this registry.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar, Union

from faults.base import Fault, FaultSpecError

__all__ = [
    "FaultSpecError",
    "register",
    "unregister",
    "get",
    "known",
    "fault_from_dict",
    "to_dict",
]

_REGISTRY: dict[str, type[Any]] = {}

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


def known() -> tuple[str, ...]:
    """Registered fault names, sorted, for error messages and ``--help`` style listings."""
    return tuple(sorted(_REGISTRY))


def get(name: str) -> type[Any]:
    """The fault class registered as ``name``; :class:`FaultSpecError` lists the known ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise FaultSpecError(f"unknown fault {name!r}; known: {', '.join(known())}") from None


# --- dict -> objects ------------------------------------------------------------------------


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


def to_dict(obj: Any) -> dict[str, Any]:
    """The dict form of a fault or schedule item; ``from_dict(to_dict(x)) == x``."""
    return obj.to_dict()  # type: ignore[no-any-return]


# --- helpers ------------------------------------------------------------------------------------


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
