"""What simulated clients ask for: the :class:`Workload` protocol and a scripted one.

A workload draws each operation from the rng the simulator hands it (one seeded stream,
``"{seed}:workload"``), so the operation sequence is fixed by the seed and does not shift
when, say, the network draws more random numbers.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

__all__ = ["Op", "ScriptedWorkload", "Workload"]

Op = tuple[str, str | None, Any]
"""``(f, key, value)``, e.g. ``("put", "k1", 7)`` or ``("get", "k1", None)``."""


class Workload(Protocol):
    def next_op(self, process: int, rng: random.Random) -> Op | None:
        """The next operation for ``process``, or None when that process is done.

        ``process`` is the Jepsen process id: after an ``info`` completion the client slot
        continues under a new id (``slot + clients * k``); ``process % clients`` is the slot.
        """


class ScriptedWorkload:
    """Fixed operations per client slot; handy for tests and tutorials.

    ``script[slot]`` is the list of ops that slot performs in order, whatever process ids
    it goes through.
    """

    def __init__(self, script: Mapping[int, Sequence[Op]], clients: int) -> None:
        self._script = {k: list(v) for k, v in script.items()}
        self._clients = clients
        self._pos: dict[int, int] = {}

    def next_op(self, process: int, rng: random.Random) -> Op | None:
        slot = process % self._clients
        ops = self._script.get(slot, [])
        i = self._pos.get(slot, 0)
        if i >= len(ops):
            return None
        self._pos[slot] = i + 1
        return ops[i]
