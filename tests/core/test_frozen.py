"""fast_init builds the same frozen objects as the dataclass-generated __init__; in a module
that mypyc compiled (cluster.native), finish_records gives the native records what
slots=True gives an interpreted one.  Every test here holds in both modes."""

from __future__ import annotations

import ast
import dataclasses
import pickle
from dataclasses import dataclass, field
from typing import Any

import pytest

from cluster.core import client, kv, quorum_messages, raft_messages, raft_read, saga_messages, types
from cluster.core.frozen import fast_constructor, fast_init
from cluster.native import ROOT


def _finished(cls: type) -> bool:
    """Built by fast_init's __init__ (interpreted) or a native class (compiled)."""
    init = vars(cls).get("__init__")
    code = getattr(init, "__code__", None)
    return "__mypyc_attrs__" in vars(cls) or (code is not None and code.co_filename.startswith("<fast_init"))


FAST = [
    cls
    for module in (types, raft_messages, kv, quorum_messages, saga_messages, client, raft_read)
    for cls in vars(module).values()
    if isinstance(cls, type) and cls.__module__ == module.__name__ and dataclasses.is_dataclass(cls)
    and _finished(cls)
]


def _sample(f: dataclasses.Field[Any], i: int) -> Any:
    """A value for field ``f`` that differs from its default and fits its declared type
    (a native record checks the types it is built with)."""
    if f.type is type:  # compiled: a native record keeps no annotation but simple types
        return {"value": (f"v{i}", i), "command": None}.get(f.name, f"v{i}")
    t = f.type if isinstance(f.type, str) else f.type.__name__
    if t == "int":
        return i + 1
    if t == "bool":
        return f.default is not True
    if t.startswith("tuple"):
        return () if "Entry" in t or "Message" in t or "Reply" in t or "Event" in t or "PersistOp" in t else (f"v{i}", i)
    if t.startswith("dict"):
        return {"k": i}
    if t == "Command | None":
        return None
    if t in ("str", "str | None"):
        return f"v{i}"
    if t == "ClientRequest":
        return types.ClientRequest("c", "n1", f"c{i}", i, "get", "k", None)
    return (f"v{i}", i)


def test_every_hot_record_uses_it() -> None:
    names = {cls.__name__ for cls in FAST}
    assert {"AppendEntries", "AppendEntriesResponse", "Entry", "CoreEvent", "Ready", "Splice",
            "ClientRequest", "ClientReply", "Command", "Deliver", "StoreValue", "Completion", "PendingRead"} <= names


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


FINISHED = [cls for module in (types, raft_messages, kv) for cls in FAST
            if cls.__module__ == module.__name__ and cls is not types.Message]


@pytest.mark.parametrize("cls", FINISHED, ids=lambda c: c.__name__)
def test_a_record_pickles_as_a_call_of_its_class(cls: type) -> None:
    """The same pickle in both modes, so one mode's (the real runtime's WAL holds pickled
    persist ops) reads back in the other."""
    fields = dataclasses.fields(cls)
    obj = cls(*[_sample(f, i) for i, f in enumerate(fields)])
    assert obj.__reduce_ex__(pickle.HIGHEST_PROTOCOL) == (cls, tuple(getattr(obj, f.name) for f in fields))


@pytest.mark.parametrize("cls", FINISHED, ids=lambda c: c.__name__)
def test_an_explicit_init_takes_the_fields_with_their_defaults(cls: type) -> None:
    """A record's explicit __init__ (compiled into its native constructor) must take
    exactly the dataclass's fields, in order, with the same defaults."""
    source = ROOT.joinpath(*cls.__module__.split(".")).with_suffix(".py")  # as written, in either mode
    tree = ast.parse(source.read_text())
    cdef = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls.__name__)
    init = next((n for n in cdef.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
    if init is None:
        return
    params = [a.arg for a in init.args.args][1:]
    assert params == [f.name for f in dataclasses.fields(cls)]
    defaults = [ast.literal_eval(d) for d in init.args.defaults]
    declared = [f.default if f.default is not dataclasses.MISSING else None for f in dataclasses.fields(cls)
                if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING]
    assert defaults == declared  # a factory's stand-in is None, as the explicit __init__ writes it
    assigned = [t.attr for n in init.body if isinstance(n, ast.Assign) for t in n.targets
                if isinstance(t, ast.Attribute)]
    assert assigned == params


@fast_init
@dataclass(frozen=True, slots=True)
class _Note(types.Message):
    """A message as a plugin declares one."""

    text: str


def test_a_slotted_subclass_of_message_keeps_the_base_fields_in_the_base() -> None:
    """A plugin's message declares only its own slots, so src and dst are stored where
    Message keeps them (compiled code reads them there)."""
    Note = _Note
    note = Note("a", "b", "hi")
    assert Note.__slots__ == ("text",)
    assert (note.src, note.dst, note.text) == ("a", "b", "hi")
    assert types.Message.__dict__["src"].__get__(note) == "a"
    assert pickle.loads(pickle.dumps(note)) == note


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


def _any_sample(f: dataclasses.Field[Any], i: int) -> Any:
    """A value for field ``f`` of any frozen dataclass of a compiled module: its default
    where it has one, a client request where it holds one, else :func:`_sample`'s."""
    if "ClientRequest" in (f.type if isinstance(f.type, str) else repr(f.type)):
        return types.ClientRequest("c1", "n1", "c1", i, "put", "k", i)
    if f.default is not dataclasses.MISSING:
        return f.default
    return _sample(f, i)


def _compiled_modules() -> list[str]:
    """The modules scripts/build_native.py compiles, as module names."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_native", ROOT / "scripts" / "build_native.py")
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    return [rel.removesuffix(".py").replace("/", ".") for rel in build.COMPILED]


def _frozen_dataclasses() -> list[type]:
    import importlib

    found = []
    for name in _compiled_modules():
        module = importlib.import_module(name)
        for obj in vars(module).values():
            if (isinstance(obj, type) and obj.__module__ == name and dataclasses.is_dataclass(obj)
                    and obj.__dataclass_params__.frozen and obj is not types.Message):  # type: ignore[attr-defined]
                found.append(obj)
    return found


FROZEN_IN_COMPILED = _frozen_dataclasses()


def test_the_compiled_modules_have_frozen_dataclasses() -> None:
    assert {"ClientConfig", "Completion", "PendingRead", "Outcome", "AppendEntries"} <= {
        c.__name__ for c in FROZEN_IN_COMPILED}


@pytest.mark.parametrize("cls", FROZEN_IN_COMPILED, ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_every_frozen_dataclass_of_a_compiled_module_pickles_by_its_fields(cls: type) -> None:
    """Compiled, a frozen dataclass without it cannot be unpickled (mypyc's __setstate__
    goes through the frozen __setattr__), and Ray pickles what it hands an actor: the real
    engine failed to start its client host on compiled cores that way."""
    fields = [f for f in dataclasses.fields(cls) if f.init]
    obj = cls(*[_any_sample(f, i) for i, f in enumerate(fields)])
    assert pickle.loads(pickle.dumps(obj)) == obj
    assert obj.__reduce_ex__(pickle.HIGHEST_PROTOCOL) == (cls, tuple(getattr(obj, f.name) for f in fields))
