"""fast_init builds the same frozen objects as the dataclass-generated __init__."""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import dataclass, field
from typing import Any

import pytest

from cluster.core import kv, quorum_messages, raft_messages, saga_messages, types
from cluster.core.frozen import fast_constructor, fast_init

FAST = [
    cls
    for module in (types, raft_messages, kv, quorum_messages, saga_messages)
    for cls in vars(module).values()
    if isinstance(cls, type) and cls.__module__ == module.__name__
    and vars(cls)["__init__"].__code__.co_filename.startswith("<fast_init")
]


def _sample(f: dataclasses.Field[Any], i: int) -> Any:
    return (f"v{i}", i) if f.name in ("value", "payload", "version") else f"v{i}"


def test_every_hot_record_uses_it() -> None:
    names = {cls.__name__ for cls in FAST}
    assert {"AppendEntries", "AppendEntriesResponse", "Entry", "CoreEvent", "Ready", "Splice",
            "ClientRequest", "ClientReply", "Command", "Deliver", "StoreValue"} <= names


@pytest.mark.parametrize("cls", FAST, ids=lambda c: c.__name__)
def test_same_object_as_the_generated_init(cls: type) -> None:
    fields = dataclasses.fields(cls)
    required = [f for f in fields if f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING]
    args = [_sample(f, i) for i, f in enumerate(required)]
    obj = cls(*args)
    # defaults and factories are applied, every field is set, and nothing else
    for f in fields:
        if f in required:
            want = args[required.index(f)]
        elif f.default is not dataclasses.MISSING:
            want = f.default
        else:
            want = f.default_factory()  # type: ignore[misc,operator]
        assert getattr(obj, f.name) == want
    # keyword arguments, equality, hash, repr, pickling and frozenness are the dataclass's
    again = cls(**{f.name: getattr(obj, f.name) for f in fields})
    assert again == obj and repr(again) == repr(obj)
    assert pickle.loads(pickle.dumps(obj)) == obj
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(obj, fields[0].name, "changed")


def test_a_factory_default_is_fresh_per_object() -> None:
    a, b = types.CoreEvent("n1", "x"), types.CoreEvent("n1", "y")
    assert a.data == {} and a.data is not b.data


def test_refuses_what_it_cannot_build_the_same() -> None:
    @dataclass(frozen=True)
    class NoSlots:
        x: int

    @dataclass(frozen=True, slots=True)
    class PostInit:
        x: int

        def __post_init__(self) -> None:
            pass

    @dataclass(frozen=True, slots=True)
    class KwOnly:
        x: int = field(kw_only=True)

    for cls in (NoSlots, PostInit, KwOnly):
        with pytest.raises(TypeError):
            fast_init(cls)


def test_fast_constructor_builds_the_classes_own_objects_without_changing_it() -> None:
    from analysis.history import Event

    init = Event.__init__
    new_event = fast_constructor(Event)
    assert Event.__init__ is init
    args = (3, "ok", "put", ("a", 1), "k", 5_000_000, 7)
    made, want = new_event(*args, extra=(("n", 1),)), Event(*args, extra=(("n", 1),))
    assert type(made) is Event and made == want and repr(made) == repr(want) and hash(made) == hash(want)
    assert new_event(1, "invoke", "get") == Event(1, "invoke", "get")  # defaults
    assert pickle.loads(pickle.dumps(made)) == want
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.f = "changed"  # type: ignore[misc]
