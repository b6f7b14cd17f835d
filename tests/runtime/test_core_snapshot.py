"""What a node actor sends the driver for the end-of-run records (cluster.runtime.node.
shippable_core): the core itself when pickle can rebuild it, else a snapshot of its public
attributes -- a compiled (mypyc) Raft core cannot be rebuilt in another process."""

from __future__ import annotations

import pickle
import random
from typing import Any

import pytest

from cluster.core.raft import RaftNode
from cluster.core.raft_config import RaftConfig
from cluster.runtime.node import CoreSnapshot, shippable_core


class _Unrebuildable:
    """Stands for a native class: pickle cannot rebuild it."""

    def __init__(self) -> None:
        self.log = (1, 2, 3)
        self.role = "leader"
        self.lock = _NoPickle()
        self._private = "kept home"

    @property
    def term(self) -> int:
        return 7

    def step(self) -> None:
        """A method: not state."""

    def __reduce__(self) -> Any:
        raise TypeError("__init__() missing required argument 'node_id'")


class _NoPickle:
    def __reduce__(self) -> Any:
        raise TypeError("cannot pickle")


def test_a_core_that_pickles_travels_as_itself() -> None:
    core = RaftNode("n1", ("n1", "n2", "n3"), RaftConfig(), random.Random(1))
    shipped = pickle.loads(pickle.dumps(shippable_core(core)))
    assert type(shipped) is type(core) or isinstance(shipped, CoreSnapshot)  # compiled: a snapshot
    assert shipped.log == core.log and shipped.node_id == "n1"


def test_a_core_that_cannot_be_rebuilt_travels_as_its_public_attributes() -> None:
    snap = shippable_core(_Unrebuildable())
    assert isinstance(snap, CoreSnapshot)
    back = pickle.loads(pickle.dumps(snap))
    assert back.core_class.endswith("_Unrebuildable")
    assert (back.log, back.role, back.term) == ((1, 2, 3), "leader", 7)
    assert getattr(back, "lock", None) is None and getattr(back, "_private", None) is None
    assert getattr(back, "step", None) is None
    with pytest.raises(AttributeError, match="snapshot has no 'missing'"):
        _ = back.missing
