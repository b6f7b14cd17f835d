"""Transactional histories of serial executions, for property tests and benchmarks.

:func:`execute` runs a list of transactions one at a time against an in-memory store, in
a given serial order, and records what clients saw, each transaction inside its own
[invoke, complete] window.  When the serial order follows the *apply points* (one
instant inside each window) the history is strict serializable by construction; any
other order gives a serializable history that real time may contradict.

Appended (list-append) and written (rw-register) values are assigned here, unique per
key, so a caller only chooses which keys each transaction touches.  Outcomes:

* ``ok`` -- applied, completed ok;
* ``fail`` -- not applied, completed fail;
* ``info-applied`` / ``info-lost`` -- applied or not, completed info; the process is
  then retired and its later transactions run under a new process id, as Jepsen does.

:func:`serial_history` draws a large history of this kind at random (Elle's generator
shape: a few active keys at a time, each retired after a number of appends).
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from analysis.history import Event

OUTCOMES = ("ok", "fail", "info-applied", "info-lost")


@dataclass(frozen=True)
class Spec:
    """A transaction to run: who runs it, when, what it touches, and how it ends.

    ``ops`` are (``"r"`` or ``"append"``/``"w"``, key); ``start < apply < end`` in any
    time unit; a process's windows must not overlap."""

    process: int
    ops: tuple[tuple[str, Hashable], ...]
    start: float
    apply: float
    end: float
    outcome: str = "ok"


def execute(specs: Sequence[Spec], model: str, order: Sequence[int] | None = None) -> list[Event]:
    """Run ``specs`` serially (in ``order``, default: by apply point) and return the
    history's events in time order."""
    if model not in ("list-append", "rw-register"):
        raise ValueError(f"unknown data model {model!r}")
    if order is None:
        order = sorted(range(len(specs)), key=lambda i: (specs[i].apply, i))
    if sorted(order) != list(range(len(specs))):
        raise ValueError("order must be a permutation of the transactions")
    lists: dict[Hashable, list[Any]] = {}
    regs: dict[Hashable, Any] = {}
    counter: dict[Hashable, int] = {}
    written: list[list[int | None]] = []
    for s in specs:  # values are fixed by the transaction, not by when it runs
        vals: list[int | None] = []
        for f, k in s.ops:
            if f == "r":
                vals.append(None)
            else:
                counter[k] = counter.get(k, 0) + 1
                vals.append(counter[k])
        written.append(vals)
    results: list[list[list[Any]] | None] = [None] * len(specs)
    for i in order:
        s = specs[i]
        if s.outcome in ("fail", "info-lost"):
            continue
        out = []
        for (f, k), v in zip(s.ops, written[i], strict=True):
            if f == "r":
                if model == "list-append":
                    out.append(["r", k, list(lists.get(k, []))])
                else:
                    out.append(["r", k, regs.get(k)])
            elif f == "append":
                lists.setdefault(k, []).append(v)
                out.append(["append", k, v])
            else:
                regs[k] = v
                out.append(["w", k, v])
        results[i] = out
    timeline: list[tuple[float, int, int, Event]] = []
    renamed: dict[int, int] = {}
    by_start = sorted(range(len(specs)), key=lambda i: (specs[i].start, i))
    for i in by_start:
        s = specs[i]
        proc = renamed.get(s.process, s.process)
        request = [[f, k, v] for (f, k), v in zip(s.ops, written[i], strict=True)]
        timeline.append((s.start, 1, i, Event(proc, "invoke", "txn", request)))
        if s.outcome == "ok":
            done = Event(proc, "ok", "txn", results[i])
        elif s.outcome == "fail":
            done = Event(proc, "fail", "txn", request)
        else:
            done = Event(proc, "info", "txn", request)
            renamed[s.process] = proc + 1000
        timeline.append((s.end, 0, i, done))
    timeline.sort(key=lambda x: (x[0], x[1], x[2]))
    return [ev for *_, ev in timeline]


def serial_history(
    n: int,
    *,
    model: str = "list-append",
    concurrency: int = 10,
    active_keys: int = 5,
    max_writes_per_key: int = 32,
    max_ops: int = 4,
    read_ratio: float = 0.5,
    fail_ratio: float = 0.0,
    info_ratio: float = 0.0,
    realtime: bool = True,
    seed: int = 0,
) -> list[Event]:
    """``n`` random transactions from ``concurrency`` clients, run serially.

    ``realtime=False`` runs them in a random serial order instead of by apply point:
    still serializable, but real time (and session order) may contradict it."""
    rng = random.Random(seed)
    write = "append" if model == "list-append" else "w"
    keys = list(range(active_keys))
    next_key = active_keys
    writes: dict[int, int] = {}
    free = [0.0] * concurrency
    specs: list[Spec] = []
    for _ in range(n):
        p = rng.randrange(concurrency)
        start = free[p] + rng.random()
        apply = start + 0.01 + rng.random() * 2
        end = apply + 0.01 + rng.random() * 2
        free[p] = end + 0.001
        ops: list[tuple[str, Hashable]] = []
        for _ in range(rng.randint(1, max_ops)):
            slot = rng.randrange(len(keys))
            k = keys[slot]
            if rng.random() < read_ratio:
                ops.append(("r", k))
                continue
            ops.append((write, k))
            writes[k] = writes.get(k, 0) + 1
            if writes[k] >= max_writes_per_key:
                keys[slot] = next_key
                next_key += 1
        x = rng.random()
        outcome = "ok"
        if x < fail_ratio:
            outcome = "fail"
        elif x < fail_ratio + info_ratio:
            outcome = rng.choice(("info-applied", "info-lost"))
        specs.append(Spec(p, tuple(ops), start, apply, end, outcome))
    order = None
    if not realtime:
        order = list(range(n))
        rng.shuffle(order)
    return execute(specs, model, order)
