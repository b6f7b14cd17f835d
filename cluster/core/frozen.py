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
``__post_init__``, no ``init=False`` or keyword-only fields); anything else is refused
when its module is imported, rather than built differently.  Modules that mypyc may compile use
:func:`finish_records` instead of the decorator (see there).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any, TypeVar, cast

__all__ = ["fast_constructor", "fast_init", "finish_base", "finish_records", "pickle_by_fields"]

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
    """Finish the frozen, slotted dataclasses ``classes`` of a module that mypyc may compile
    (records nothing subclasses; for a base class see :func:`finish_base`).

    Such a module calls this after its classes instead of decorating them with
    :func:`fast_init`, because mypyc makes a class native (a C struct) only when its
    decorators are ones it knows.  Its records also write an explicit ``__init__`` that
    assigns each field (``self.f = f``): mypyc compiles that into a C constructor that
    stores the fields directly, about ten times faster than any ``__init__`` written in
    Python, while an ``__init__`` that ``dataclasses`` generates stays interpreted even in a
    compiled module.  What happens here:

    * interpreted (the ``.py`` module), each class gets :func:`fast_init`, which replaces
      the explicit ``__init__`` (which could not assign a frozen field there), so objects
      are built exactly as the decorator builds them;
    * compiled (see :mod:`cluster.native`), a native ``__init__`` is kept; a class without
      one gets :func:`fast_init`, which stores through the native fields' descriptors;
    * in both modes a record pickles as a call of its class with its field values.  A
      native class with its own ``__init__`` cannot be made empty and filled in (its
      ``__new__`` runs the ``__init__``), which is how a slotted dataclass unpickles; a call
      works in both modes, so a pickle written in one (the real runtime's WAL holds
      pickled persist ops) reads back in the other.

    ``tests/core/test_frozen.py`` checks that every explicit ``__init__`` takes the
    dataclass's fields with the dataclass's defaults, so the two cannot drift apart.
    """
    for cls in classes:
        if inspect.isfunction(cls.__dict__.get("__init__")):  # not a native (compiled) __init__
            fast_init(cls)
    pickle_by_fields(*classes)


def pickle_by_fields(*classes: type) -> None:
    """Make the frozen dataclasses ``classes`` of a module that mypyc may compile pickle as
    a call of their class with their field values, in both modes.

    Every frozen dataclass of a compiled module needs it (the records get it from
    :func:`finish_records`; a frozen dataclass that keeps the ``__init__`` that
    ``dataclasses`` generates, such as a configuration, calls this itself): a native class
    unpickles through mypyc's ``__setstate__``, which assigns each field through the class's
    frozen ``__setattr__`` and fails ("cannot assign to field").  Ray pickles what it hands
    an actor (a client host's :class:`~cluster.core.client.ClientConfig`), so without this
    the real engine could not start on compiled cores.  A call works in both modes, so what
    one mode pickles the other reads.  ``tests/core/test_frozen.py`` checks that every frozen
    dataclass of every compiled module has it."""
    for cls in classes:
        _set(cls, "__reduce__", _reduce)


def finish_base(cls: type) -> None:
    """Finish the frozen, slotted dataclass ``cls`` that interpreted dataclasses subclass
    (:class:`~cluster.core.types.Message`: every core's and plugin's messages do).

    Interpreted, it gets :func:`fast_init`.  Compiled, it is a native class that lets
    interpreted classes subclass it, and it gets the ``__slots__`` that ``slots=True``
    gives an interpreted class (mypyc leaves it out): a subclass declared with
    ``slots=True`` reads its bases' ``__slots__`` to leave out the fields they already
    store, and without them it would add slots of the same names that hide the native
    fields (which compiled code reads directly).  It also pickles as a slotted dataclass
    does (state: the list of field values, set past the frozen ``__setattr__``, which
    mypyc's own ``__setstate__`` goes through, and fails); subclasses pickle as the
    slotted dataclasses they are.
    """
    if _is_native(cls):
        own = tuple(f.name for f in dataclasses.fields(cls) if f.name not in _inherited_fields(cls))
        _set(cls, "__slots__", _InheritedSlots(own))
        _set(cls, "__getstate__", _getstate)
        _set(cls, "__setstate__", _setstate)
    else:
        fast_init(cls)


def _set(cls: type, name: str, value: Any) -> None:
    """Set a class attribute; native (mypyc) types accept it as heap types do."""
    type.__setattr__(cls, name, value)


class _InheritedSlots(tuple[str, ...]):
    """A native base's ``__slots__``: its field names, and false.

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
    return [getattr(self, f.name) for f in dataclasses.fields(self)]


def _setstate(self: Any, state: list[Any]) -> None:
    for f, value in zip(dataclasses.fields(self), state, strict=True):
        object.__setattr__(self, f.name, value)


def _reduce(self: Any) -> tuple[type, tuple[Any, ...]]:
    """A record pickles as ``cls(*field values)`` (see :func:`pickle_by_fields`)."""
    return type(self), tuple([getattr(self, f.name) for f in dataclasses.fields(self)])


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
    if params is None or not params.frozen or not ("__slots__" in cls.__dict__ or _is_native(cls)):
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
