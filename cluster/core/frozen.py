"""A faster constructor for the frozen, slotted dataclasses that cores create per message.

Messages, log entries, events and ``Ready`` batches are frozen dataclasses (design
principle 9), and a simulated minute builds several hundred thousand of them.  The
``__init__`` that ``dataclasses`` generates for a frozen class stores each field with
``object.__setattr__(self, name, value)``, which looks the name up through the class again
for every field; that lookup is most of the cost of building a small message (about 2 us
for seven fields here).  :func:`fast_init` replaces it with one that stores each field
through its slot's own descriptor, which is what the lookup finds anyway: the object that
comes out is the same (same fields, same equality, hash, repr and pickling, still frozen
afterwards), built in well under half the time.

Only for classes declared ``@dataclass(frozen=True, slots=True)`` with plain fields (no
``__post_init__``, no ``init=False`` or keyword-only fields); anything else is refused at
import time rather than built differently.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar, cast

__all__ = ["fast_constructor", "fast_init", "finish_records"]

T = TypeVar("T")


def fast_init(cls: type[T]) -> type[T]:
    """Give the frozen, slotted dataclass ``cls`` an ``__init__`` that stores through slots."""
    init = _generate(cls, constructor=False)
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init  # type: ignore[misc,method-assign]
    return cls


def finish_records(*classes: type) -> None:
    """Finish the frozen, slotted dataclasses ``classes`` of a module that mypyc may compile.

    Such a module calls this after its classes instead of decorating them with
    :func:`fast_init`, because mypyc makes a class native (a C struct with a C
    constructor) only when its decorators are ones it knows.  Interpreted, each class gets
    :func:`fast_init`, exactly as the decorator would give it.  Compiled (see
    :mod:`cluster.native`), a class is native and its constructor is already fast and
    cannot be replaced; what it lacks is what ``slots=True`` gives an interpreted one,
    and it gets that here:

    * ``__slots__`` naming its own fields, so that an interpreted subclass declared with
      ``slots=True`` (every plugin's message subclasses :class:`~cluster.core.types.Message`)
      does not add slots of the same names that hide the native fields, which compiled
      code reads directly;
    * pickling as a slotted dataclass pickles (state: the list of field values), so that
      unpickling does not go through the frozen ``__setattr__`` (mypyc's own
      ``__setstate__`` does, and fails) and a pickle written in one mode (the real
      runtime's WAL) reads back in the other.
    """
    for cls in classes:
        if _is_native(cls):
            own = tuple(f.name for f in dataclasses.fields(cls) if f.name not in _inherited_fields(cls))
            # Native types accept new attributes; these are read only by subclasses and pickle.
            type.__setattr__(cls, "__slots__", _InheritedSlots(own))
            type.__setattr__(cls, "__getstate__", _getstate)
            type.__setattr__(cls, "__setstate__", _setstate)
        else:
            fast_init(cls)


class _InheritedSlots(tuple[str, ...]):
    """A native record's ``__slots__``: its field names, and false.

    ``dataclass(slots=True)`` reads a base's ``__slots__`` (its own ``__dict__`` entry) to
    leave out the slots the base already has; mypyc refuses to create a native class whose
    bases have a ``__slots__`` that is true (it checks the attribute, inherited, and
    accepts an empty one).  Being empty to that test and naming the fields when iterated
    serves both: native subclasses are still created, interpreted ones do not hide the
    native fields."""

    __slots__ = ()

    def __bool__(self) -> bool:
        return False


def _is_native(cls: type) -> bool:
    """Whether ``cls`` is a class that mypyc compiled to a native (C-level) class."""
    return "__mypyc_attrs__" in cls.__dict__


def _inherited_fields(cls: type) -> set[str]:
    return {f.name for base in cls.__mro__[1:] if dataclasses.is_dataclass(base)
            for f in dataclasses.fields(base)}


def _getstate(self: Any) -> list[Any]:
    """A native record's pickled state: its field values in order, as ``slots=True`` pickles."""
    return [getattr(self, f.name) for f in dataclasses.fields(self)]


def _setstate(self: Any, state: list[Any]) -> None:
    """Restore :func:`_getstate`'s state past the frozen ``__setattr__``, as ``slots=True`` does."""
    for f, value in zip(dataclasses.fields(self), state, strict=True):
        object.__setattr__(self, f.name, value)


def fast_constructor(cls: Callable[..., T]) -> Callable[..., T]:
    """A function that builds an instance of the frozen, slotted dataclass ``cls`` the way
    :func:`fast_init`'s ``__init__`` does, taking the same arguments as ``cls``, without
    changing ``cls``: for a class another layer owns (a history event) that a loop here
    builds for every operation.  What it returns is an ordinary instance of ``cls``."""
    build = _generate(cls, constructor=True)
    build.__qualname__ = build.__name__ = f"new_{cls.__name__}"
    return cast("Callable[..., T]", build)


def _generate(cls: Any, *, constructor: bool) -> Any:
    """The ``__init__`` (or, with ``constructor``, a function that makes the object first
    and returns it) that stores each field of ``cls`` through its slot."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"fast_init needs a @dataclass(frozen=True, slots=True), not {cls.__name__}")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"fast_init does not run __post_init__ ({cls.__name__} has one)")
    namespace: dict[str, Any] = {"_NO_ARG": object(), "_cls": cls, "_new": object.__new__}
    args: list[str] = []
    body: list[str] = ["    self = _new(_cls)"] if constructor else []
    for f in dataclasses.fields(cls):
        if not f.init or f.kw_only:
            raise TypeError(f"fast_init: field {cls.__name__}.{f.name} is not a plain field")
        namespace[f"_set_{f.name}"] = _slot(cls, f.name).__set__
        if f.default is not dataclasses.MISSING:
            namespace[f"_default_{f.name}"] = f.default
            args.append(f"{f.name}=_default_{f.name}")
        elif f.default_factory is not dataclasses.MISSING:
            namespace[f"_factory_{f.name}"] = f.default_factory
            args.append(f"{f.name}=_NO_ARG")
            body.append(f"    if {f.name} is _NO_ARG:\n        {f.name} = _factory_{f.name}()")
        else:
            args.append(f.name)
        body.append(f"    _set_{f.name}(self, {f.name})")
    if constructor:
        body.append("    return self")
        source = f"def __init__({', '.join(args)}):\n" + "\n".join(body) + "\n"
    else:
        source = f"def __init__(self, {', '.join(args)}):\n" + ("\n".join(body) or "    pass") + "\n"
    # Generated from the class's own field list, as dataclasses generates its __init__.
    exec(compile(source, f"<fast_init {cls.__qualname__}>", "exec"), namespace)
    return namespace["__init__"]


def _slot(cls: type, name: str) -> Any:
    """The member descriptor that stores field ``name`` (it may live on a base class)."""
    for klass in cls.__mro__:
        descriptor = klass.__dict__.get(name)
        if descriptor is not None and hasattr(descriptor, "__set__"):
            return descriptor
    raise TypeError(f"fast_init: {cls.__name__}.{name} has no slot")
