"""Value equality as Jepsen means it: by type and by value.

Python says ``True == 1``, ``False == 0`` and ``1 == 1.0``, and it hashes them alike, so
a model that compares raw Python values (or memoises states holding them) accepts a read
of ``1`` after a write of ``true``.  That is a wrong "valid", the worst answer a checker
can give.  Jepsen's models compare with Clojure's ``=``, where ``(= true 1)``,
``(= 1 1.0)`` and ``(= :x "x")`` are all false.

Every model therefore turns each value it compares or stores into a *canonical* value
with :func:`canonical` once, when an operation is compiled, and compares canonical
values only.  Canonical values are hashable, and Python's ``==`` on them is Jepsen's:

=====================  ==============================  ===============================
read from               canonical                       equal to
=====================  ==============================  ===============================
``null`` / ``nil``      ``None``                        only ``None``
``true``/``false``      :data:`TRUE` / :data:`FALSE`    only itself (never 1 or 0)
integer                 ``int``                         the same integer, never a float
float                   :class:`Float`                  the same float (``1.0 != 1``;
                                                        ``0.0 == -0.0`` as in Clojure)
string                  ``str``                         the same string
EDN keyword ``:x``      :class:`KeywordValue`           the same keyword, never ``"x"``
array / vector / list   ``tuple`` of canonical values   same length, equal elements
object / map            :class:`Map`                    same keys, equal values
EDN set                 :class:`Set`                    same elements, in any order
=====================  ==============================  ===============================

A JSON array, an EDN vector, an EDN list and a Python list or tuple are one type here:
JSON has a single array type, EDN vectors and lists are equal in Clojure, and a run of
splitbrain records Python tuples that its history files write as JSON arrays.  Map keys
are compared as the readers give them (JSON keys are strings; EDN keyword keys become
their names).

:func:`show` renders raw or canonical values for explanations: ``nil``, ``true``,
``1``, ``1.0``, ``'x'``, ``:x``, ``[1, 2]``, ``{'a': 1}``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


class KeywordName(str):
    """An EDN keyword read as a value: a ``str`` holding the name, so it prints and
    serialises as its name, but it is a different type, so :func:`canonical` keeps it
    apart from the string with the same characters (``(= :x "x")`` is false)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return ":" + str.__str__(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (KeywordName, (str(self),))


class _Bool:
    """A JSON/EDN boolean.  Equal only to itself: never to 0, 1 or 0.0."""

    __slots__ = ("value",)

    def __init__(self, value: bool) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "true" if self.value else "false"

    def __reduce__(self) -> str:
        return "TRUE" if self.value else "FALSE"


TRUE: Any = _Bool(True)
FALSE: Any = _Bool(False)


class Float:
    """A floating-point number.  Equal to a float of the same value, never to an int."""

    __slots__ = ("value", "_hash")

    def __init__(self, value: float) -> None:
        self.value = value
        self._hash = hash(("float", value))

    def __eq__(self, other: object) -> bool:
        return type(other) is Float and other.value == self.value

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return repr(self.value)


class KeywordValue:
    """An EDN keyword value.  Equal only to the same keyword."""

    __slots__ = ("name", "_hash")

    def __init__(self, name: str) -> None:
        self.name = name
        self._hash = hash(("keyword", name))

    def __eq__(self, other: object) -> bool:
        return type(other) is KeywordValue and other.name == self.name

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return ":" + self.name


class Map:
    """A JSON object or EDN map: equal to a map with the same keys and equal values."""

    __slots__ = ("items", "_hash")

    def __init__(self, items: frozenset[tuple[Any, Any]]) -> None:
        self.items = items
        self._hash = hash(("map", items))

    def __eq__(self, other: object) -> bool:
        return type(other) is Map and other.items == self.items

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{show(k)}: {show(v)}" for k, v in _sorted_items(self.items)) + "}"


class Set:
    """An EDN set: equal to a set with the same elements; never to a vector."""

    __slots__ = ("elements", "_hash")

    def __init__(self, elements: frozenset[Any]) -> None:
        self.elements = elements
        self._hash = hash(("set", elements))

    def __eq__(self, other: object) -> bool:
        return type(other) is Set and other.elements == self.elements

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return "#{" + ", ".join(sorted(show(x) for x in self.elements)) + "}"


def _sorted_items(items: frozenset[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    return sorted(items, key=lambda kv: (type(kv[0]).__name__, show(kv[0])))


def canonical(v: Any) -> Any:
    """The canonical form of a value read from a history (see the module docstring).

    Raises ``ValueError`` for a value no history format produces (a Python object, a
    NaN) or one nested too deeply to compare, so a model can name the operation.
    """
    t = type(v)
    if t is int or t is str or v is None:
        return v
    try:
        return _canonical(v, t)
    except RecursionError:
        raise ValueError("a value nested too deeply to compare") from None


def _canonical(v: Any, t: type) -> Any:
    if t is int or t is str or v is None:
        return v
    if t is bool:
        return TRUE if v else FALSE
    if t is list or t is tuple:
        return tuple([_canonical(x, type(x)) for x in v])
    if t is float:
        if math.isnan(v):
            raise ValueError("NaN is not a value (it is not equal even to itself)")
        return Float(v)
    if t is KeywordName:
        return KeywordValue(str.__str__(v))
    if t is dict:
        return Map(frozenset((_canonical(k, type(k)), _canonical(x, type(x))) for k, x in v.items()))
    if t is _Bool or t is Float or t is KeywordValue or t is Map or t is Set:
        return v  # already canonical
    if t is frozenset or t is set:
        return Set(frozenset(_canonical(x, type(x)) for x in v))
    # subclasses (an IntEnum, a str subclass) compare as their base JSON type
    if isinstance(v, bool):
        return TRUE if v else FALSE
    if isinstance(v, int):
        return int(v)
    if isinstance(v, str):
        return str(v)
    if isinstance(v, float):
        return _canonical(float(v), float)
    if isinstance(v, list | tuple):
        return tuple([_canonical(x, type(x)) for x in v])
    if isinstance(v, Mapping):
        return Map(frozenset((_canonical(k, type(k)), _canonical(x, type(x))) for k, x in v.items()))
    raise ValueError(f"a value of type {t.__name__} ({v!r:.60}) is not a JSON or EDN value")


def show(v: Any) -> str:
    """A short, typed rendering of a raw or canonical value for explanations."""
    if v is None:
        return "nil"
    t = type(v)
    if t is int or t is str:
        return repr(v)
    if t is bool:
        return "true" if v else "false"
    if t is list or t is tuple:
        return "[" + ", ".join(show(x) for x in v) + "]"
    if t is dict:
        return "{" + ", ".join(f"{show(k)}: {show(x)}" for k, x in v.items()) + "}"
    if t is frozenset or t is set:
        return "#{" + ", ".join(sorted(show(x) for x in v)) + "}"
    return repr(v)
