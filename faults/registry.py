"""Name -> fault class, and plain data <-> faults.

Scenarios are saved as JSON, so every fault has a dict form.  Adding a fault model is one
module plus ``@register`` (see ``docs/faults.md``); the registry then builds it from
``{"fault": "<name>", <field>: <value>, ...}`` with type checks derived from the dataclass
annotations, and errors say exactly which name or field is wrong::

    {"fault": "partition", "kind": "isolate-leader"}

The registry knows fault *classes* only: it imports no fault module and no schedule, so
every fault module (built-in or a user's) can import it without a cycle.  The built-in
faults register when the ``faults`` package is imported (``faults/__init__.py``), which
happens before any of its modules runs.  A user's fault module is a *plugin*
(``docs/extending.md``): a scenario's ``plugins = [...]``, ``--plugin`` or an installed
package's ``splitbrain.faults`` entry point loads it, and its ``@register`` runs then.
Schedule items (``at``/``on``/``random``) are parsed by :mod:`faults.schedule`, which builds
their faults through this registry.

A registration is refused with :class:`RegistrationError` when the name is taken (a plugin
may never replace a built-in fault, or another plugin's, without saying so), when the class
is not a registrable fault, or when a field cannot work in a scenario file (the reserved
name ``fault``, a default that does not fit its annotation).
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar, Union

from faults.base import Fault, FaultSpecError

__all__ = [
    "FaultSpecError",
    "RegistrationError",
    "origin",
    "register",
    "unregister",
    "get",
    "known",
    "fault_from_dict",
    "to_dict",
]

_REGISTRY: dict[str, type[Any]] = {}

T = TypeVar("T", bound=type[Any])


class RegistrationError(TypeError):
    """A registration refused: the name is taken, or the thing registered cannot work.

    Every splitbrain registry (faults here; systems, checkers, workloads and scenarios in
    :mod:`scenarios`) raises it, so a plugin loader can report it as one plain line.  It
    is a ``TypeError``: registering is a programming act, checked when the module loads.
    ``at`` is ``(file, line)`` of the offending line when the registry knows it better than
    the traceback does (a field's own line rather than the decorator's).
    """

    def __init__(self, message: str, *, at: tuple[str, int] | None = None) -> None:
        super().__init__(message)
        self.at = at


_BUILTIN_PACKAGES = ("faults", "scenarios", "analysis", "cluster")


def origin(module: str | None) -> str:
    """Where a registered thing comes from, for "name taken" messages: ``a built-in
    (faults/process.py)`` or the plugin file that defined it."""
    mod = sys.modules.get(module or "")
    path = getattr(mod, "__file__", None) or module or "an unknown module"
    if module and module.split(".")[0] in _BUILTIN_PACKAGES:
        return f"a built-in ({module})"
    return f"from {_shown(str(path))}"


def _shown(path: str) -> str:
    """``path`` relative to the working directory when it is below it."""
    import os

    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return path
    return path if rel.startswith("..") else rel


def register(cls: T) -> T:
    """Class decorator: make ``cls`` buildable by its ``name`` (a ``ClassVar[str]``).

    Put ``@register`` *above* ``@dataclass`` so the class it sees is already a dataclass.
    Registering the same class again (same module, same qualified name: a module reloaded)
    replaces it; any other class under a taken name is refused.
    """
    name = getattr(cls, "name", "")
    if not isinstance(name, str) or not name:
        raise RegistrationError(f"{cls.__name__} needs a non-empty `name: ClassVar[str]` to be registered")
    if not dataclasses.is_dataclass(cls):
        raise RegistrationError(f"{cls.__name__} must be a dataclass (put @register above @dataclass)")
    for method in ("apply", "heal", "describe", "to_dict"):
        if not callable(getattr(cls, method, None)):
            raise RegistrationError(f"{cls.__name__} lacks {method}(); subclass faults.base.FaultBase")
    existing = _REGISTRY.get(name)
    if existing is not None and (existing.__module__, existing.__qualname__) != (cls.__module__, cls.__qualname__):
        raise RegistrationError(
            f"fault name {name!r} is already taken by {existing.__name__}, {origin(existing.__module__)}; "
            "a plugin may not replace another fault: choose another name"
        )
    _check_fields(cls, name)
    _REGISTRY[name] = cls
    return cls


def _check_fields(cls: type[Any], name: str) -> None:
    """Refuse fields a scenario file could not set: the reserved key ``fault`` (it holds the
    name in the dict form), annotations that do not resolve, defaults of the wrong type."""
    try:
        hints = typing.get_type_hints(cls)
    except Exception as e:  # noqa: BLE001 - any failure to resolve is the same mistake
        raise RegistrationError(f"fault {name!r}: cannot resolve the field annotations of "
                                f"{cls.__name__}: {type(e).__name__}: {e}") from None
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if f.name == "fault":
            raise RegistrationError(f"fault {name!r}: field name 'fault' is reserved for the fault's name "
                                    "in scenario files; rename the field", at=_field_line(cls, f.name))
        if f.default is dataclasses.MISSING:
            continue
        try:
            _coerce(f.default, hints[f.name], f"fault {name!r}: field {f.name!r}")
        except FaultSpecError as e:
            raise RegistrationError(f"{e} (its default)", at=_field_line(cls, f.name)) from None


def _field_line(cls: type[Any], field_name: str) -> tuple[str, int] | None:
    """Where ``field_name`` is declared in ``cls``'s source, when the source can be read."""
    import inspect
    import re

    try:
        lines, first = inspect.getsourcelines(cls)
        file = inspect.getsourcefile(cls)
    except (OSError, TypeError):
        return None
    pattern = re.compile(rf"\s*{re.escape(field_name)}\s*:")
    for i, line in enumerate(lines):
        if pattern.match(line):
            return (file or "?", first + i)
    return None


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
