"""Generate linearizable register histories of any size, for benchmarks and tests.

Each operation's effect happens at one instant inside its [invoke, return] window, in a
real global order, so the result is linearizable by construction.  Indeterminate writes
(``info``) either took effect or not, at random, exactly as a timed-out client would see.
"""

from __future__ import annotations

import heapq
import random
from typing import Any

from analysis.history import Event


def register_history(
    n_ops: int,
    *,
    keys: int = 1,
    concurrency: int = 10,
    info_writes: int = 0,
    read_ratio: float = 0.5,
    seed: int = 0,
) -> list[Event]:
    """``n_ops`` get/put operations over ``keys`` keys from ``concurrency`` clients."""
    rng = random.Random(seed)
    info_ids = set(rng.sample(range(n_ops), min(info_writes, n_ops))) if info_writes else set()
    state: dict[str, Any] = {}
    t_free = [0.0] * concurrency
    ops = []
    for i in range(n_ops):
        p = min(range(concurrency), key=lambda c: t_free[c]) if rng.random() < 0.7 else rng.randrange(concurrency)
        start = t_free[p] + rng.random()
        effect = start + rng.random() * 2
        end = effect + rng.random() * 2
        t_free[p] = end + 0.001
        key = f"k{rng.randrange(keys)}"
        is_info = i in info_ids
        f = "put" if is_info or rng.random() >= read_ratio else "get"
        ops.append((effect, i, start, end, p, f, key))
    outputs: dict[int, Any] = {}
    skipped: set[int] = set()
    for _effect, i, _s, _e, _p, f, key in sorted(ops):
        if f == "get":
            outputs[i] = state.get(key)
        else:
            if i in info_ids and rng.random() < 0.5:
                skipped.add(i)
                continue
            state[key] = i
    heap: list[tuple[float, int, Event]] = []
    procs: dict[int, int] = {}
    crashed = 0
    for _effect, i, start, end, p, f, key in ops:
        proc = procs.get(p, p)
        value = None if f == "get" else i
        heapq.heappush(heap, (start, 2 * i, Event(proc, "invoke", f, value, key=key)))
        if i in info_ids:
            # a timed-out client is never heard from again: its slot gets a fresh process id
            crashed += 1
            procs[p] = concurrency * (crashed + 1) + p
            continue
        out = outputs[i] if f == "get" else value
        heapq.heappush(heap, (end, 2 * i + 1, Event(proc, "ok", f, out, key=key)))
    events = []
    while heap:
        t, _, ev = heapq.heappop(heap)
        events.append(Event(ev.process, ev.type, ev.f, ev.value, key=ev.key, time=int(t * 1e6)))
    return events
