"""The linearizability checker: a Wing-Gong/Lowe search with memoisation, per partition.

How it works (and why it is shaped this way):

* The history is split into independent parts (per key) by the model.  A history is
  linearizable iff every part is (P-compositionality), so parts are checked separately,
  but **interleaved**: each part's search is a generator that yields every few thousand
  steps, a round-robin driver runs them all, and the first invalid part cancels the rest.
  Checking one key at a time can spend minutes on a hard valid key before reaching the
  easy invalid one.
* Within a part, operations become call and return entries in a doubly linked list (held
  in flat int arrays for speed).  The search walks the list: at a call entry it tries to
  linearize that operation now (apply it to the model state); at a return entry it has
  failed to place an operation that had to be placed before this point, so it backtracks.
  The set of (linearized operations as an int bitset, model state) pairs already seen is
  memoised, so no configuration is explored twice.
* Indeterminate operations (``info`` or never completed) have no return entry: they may
  take effect at any point after their invocation, or never.  The search succeeds as soon
  as every *determinate* operation is placed, which is exactly "or never".  Indeterminate
  read-only operations constrain nothing and are dropped up front; ``fail`` operations did
  not happen and are dropped too.
* Budgets: a deadline and a cap on memoised states.  Running out gives ``unknown`` with
  a reason and a hint, never a silent out-of-memory.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

from analysis.history import History, Operation
from analysis.models.base import ILLEGAL, Model, ModelError

YIELD_EVERY = 4096
TRIED_CAP = 16  # states remembered per op in which it could not take effect (evidence)


@dataclass
class PartResult:
    """The outcome of searching one partition."""

    key: str | None
    verdict: str  # "valid" | "invalid" | "unknown"
    ops: list[Operation]
    states: int = 0
    # evidence when invalid / unknown:
    prefix: list[int] = field(default_factory=list)  # op ids of the longest linearizable prefix
    blocker: int | None = None  # op id that could not be placed after that prefix
    candidates: list[int] = field(default_factory=list)  # ops that were open at that point
    state_after_prefix: Any = None
    reason: str = ""
    tried: list[set[Any]] = field(default_factory=list)  # per op index: states where it was illegal
    fit: list[set[Any]] = field(default_factory=list)  # per op index: states where it was legal


def validate_ops(ops: Sequence[Operation], model: Model) -> None:
    """Every operation must be one the model knows, with a value it can use."""
    for op in ops:
        if op.f not in model.fs:
            where = f"line {op.call_line}: " if op.call_line is not None else ""
            raise ModelError(
                f"{where}model {model.name!r} has no operation {op.f!r} "
                f"(it knows {', '.join(sorted(model.fs))}); pick another --model"
            )
        try:
            model.compile_op(op, op.output)
        except (ValueError, TypeError) as e:
            where = f"line {op.call_line}: " if op.call_line is not None else ""
            raise ModelError(f"{where}{e}") from None


def prepare(ops: Sequence[Operation], model: Model) -> list[Operation]:
    """Drop what cannot matter: failed ops, and indeterminate read-only ops."""
    out = []
    for op in ops:
        if op.status == "fail":
            continue
        if op.status == "info" and model.read_only(op):
            continue
        out.append(op)
    return out


def search_part(
    key: str | None,
    ops: list[Operation],
    model: Model,
    max_states: int,
) -> Generator[None, None, PartResult]:
    """Search one partition; a generator that yields to let other parts run."""
    n = len(ops)
    res = PartResult(key, "valid", ops)
    if n == 0:
        return res
    fns = [model.compile_op(op, op.output) for op in ops]
    # Entries: 0 = head sentinel, 1..2n; tail sentinel = last.  Order by history position.
    points: list[tuple[int, int, int]] = []  # (position, is_return, op index)
    for i, op in enumerate(ops):
        points.append((op.call, 0, i))
        if op.ret is not None:
            points.append((op.ret, 1, i))
    points.sort()
    m = len(points)
    head = 0
    is_ret = [False] * (m + 2)
    opidx = [-1] * (m + 2)
    match = [-1] * (m + 2)
    call_entry = [0] * n
    for e, (_, r, i) in enumerate(points, start=1):
        is_ret[e] = bool(r)
        opidx[e] = i
        if r:
            match[call_entry[i]] = e
        else:
            call_entry[i] = e
    nxt = list(range(1, m + 3))
    prv = list(range(-1, m + 1))
    bits = [1 << i for i in range(n)]
    det = [op.ret is not None for op in ops]
    remaining = sum(det)

    state = model.init()
    lin = 0
    cache: set[tuple[int, Any]] = {(0, state)}
    stack: list[tuple[int, Any]] = []
    best_depth = -1
    steps = 0
    tried: list[set[Any]] = [set() for _ in range(n)]
    fit: list[set[Any]] = [set() for _ in range(n)]
    res.tried = tried
    res.fit = fit
    # A read-only operation (one that never changes the state when legal) that is legal now
    # can always be linearized now: moving it earlier keeps every later step legal, and every
    # operation that had to precede it already has (its call entry is reachable).  So once a
    # configuration "C + read" has failed, C has failed too: backtrack past reads at once.
    # This partial-order reduction is what keeps read-heavy histories cheap.
    ro = [model.read_only(op) for op in ops]
    e = nxt[head]
    while True:
        if remaining == 0:
            res.states = len(cache)
            return res
        steps += 1
        if steps >= YIELD_EVERY:
            steps = 0
            if len(cache) > max_states:
                res.verdict = "unknown"
                res.states = len(cache)
                res.reason = f"state budget exceeded ({max_states} memoised states)"
                _record_best(res, stack, opidx, e, state, nxt, head, is_ret)
                return res
            yield None
        if not is_ret[e]:
            i = opidx[e]
            ns = fns[i](state)
            if ns is ILLEGAL:
                if len(tried[i]) < TRIED_CAP:
                    tried[i].add(state)
                e = nxt[e]
                continue
            if len(fit[i]) < TRIED_CAP:
                fit[i].add(state)
            nl = lin | bits[i]
            k = (nl, ns)
            if k not in cache:
                cache.add(k)
                stack.append((e, state))
                # lift e and its return entry out of the list
                p, q = prv[e], nxt[e]
                nxt[p] = q
                prv[q] = p
                r = match[e]
                if r >= 0:
                    p, q = prv[r], nxt[r]
                    nxt[p] = q
                    prv[q] = p
                    remaining -= 1
                lin = nl
                state = ns
                e = nxt[head]
                continue
            if not ro[i]:
                e = nxt[e]
                continue
            # a legal read whose successor configuration already failed: this one fails too
        elif len(stack) > best_depth:
            best_depth = len(stack)
            _record_best(res, stack, opidx, e, state, nxt, head, is_ret)
        # backtrack, and keep backtracking past read-only operations
        while True:
            if not stack:
                res.verdict = "invalid"
                res.states = len(cache)
                return res
            e, state = stack.pop()
            i = opidx[e]
            lin &= ~bits[i]
            r = match[e]
            if r >= 0:
                nxt[prv[r]] = r
                prv[nxt[r]] = r
                remaining += 1
            nxt[prv[e]] = e
            prv[nxt[e]] = e
            if not ro[i]:
                break
        e = nxt[e]


def _record_best(
    res: PartResult,
    stack: list[tuple[int, Any]],
    opidx: list[int],
    e: int,
    state: Any,
    nxt: list[int],
    head: int,
    is_ret: list[bool],
) -> None:
    ops = res.ops
    res.prefix = [ops[opidx[se]].id for se, _ in stack]
    res.blocker = ops[opidx[e]].id if opidx[e] >= 0 else None
    res.state_after_prefix = state
    cands = []
    x = nxt[head]
    while x != e and opidx[x] >= 0:
        if not is_ret[x]:
            cands.append(ops[opidx[x]].id)
        x = nxt[x]
    res.candidates = cands


@dataclass
class Verdict:
    """The checker's answer for a whole history."""

    verdict: str  # valid | invalid | unknown
    model: str
    parts: list[PartResult]
    elapsed_s: float
    states: int
    reason: str = ""
    hint: str = ""

    @property
    def failing(self) -> PartResult | None:
        for p in self.parts:
            if p.verdict == "invalid":
                return p
        return None


def check_operations(
    ops: Sequence[Operation],
    model: Model,
    *,
    timeout_s: float | None = None,
    max_states: int = 2_000_000,
) -> Verdict:
    """Check a sequence of operations against ``model``."""
    t0 = time.perf_counter()
    deadline = None if timeout_s is None else t0 + timeout_s
    validate_ops(ops, model)
    kept = prepare(ops, model)
    parts = model.partition(kept) if model.partition else [(None, list(kept))]
    # Budget per part scales with its share, but every part may use the whole cap when alone.
    gens: list[tuple[int, Generator[None, None, PartResult]]] = []
    results: list[PartResult | None] = [None] * len(parts)
    if model.prune is not None:
        parts = [(key, model.prune(pops)) for key, pops in parts]
    for idx, (key, pops) in enumerate(parts):
        gens.append((idx, search_part(key, pops, model, max_states)))
    active = gens
    total_states = 0
    verdict = "valid"
    reason = ""
    hint = ""
    while active:
        still = []
        for idx, g in active:
            try:
                next(g)
                still.append((idx, g))
            except StopIteration as stop:
                r: PartResult = stop.value
                results[idx] = r
                total_states += r.states
                if r.verdict == "invalid":
                    verdict = "invalid"
                    break
                if r.verdict == "unknown" and verdict == "valid":
                    verdict = "unknown"
                    reason = r.reason
        if verdict == "invalid":
            for _, g in still:
                g.close()
            for _, g in active:
                g.close()
            break
        active = still
        if deadline is not None and active and time.perf_counter() > deadline:
            for _, g in active:
                g.close()
            for idx, _ in active:
                key, pops = parts[idx]
                results[idx] = PartResult(key, "unknown", pops, reason="time budget exceeded")
            verdict = "unknown"
            reason = f"time budget of {timeout_s:g} s exceeded"
            break
    done = [r for r in results if r is not None]
    if verdict == "unknown":
        hint = _hint(done)
    return Verdict(verdict, model.name, done, time.perf_counter() - t0, total_states, reason, hint)


def _hint(parts: list[PartResult]) -> str:
    worst = max(
        (p for p in parts if p.verdict == "unknown"),
        key=lambda p: sum(1 for o in p.ops if o.status == "info"),
        default=None,
    )
    if worst is None:
        return ""
    n_info = sum(1 for o in worst.ops if o.status == "info")
    where = f"key {worst.key!r}" if worst.key is not None else "the history"
    if n_info >= 8:
        return (
            f"{where} has {n_info} indeterminate operations; each may take effect at any later "
            "point, which multiplies the orders to try. Shorter runs, fewer timeouts, or more "
            "keys make histories checkable."
        )
    return f"{where} has {len(worst.ops)} operations with much concurrency; try --timeout or a shorter history."


def check(
    history: History,
    model: Model,
    *,
    timeout_s: float | None = None,
    max_states: int = 2_000_000,
) -> Verdict:
    """Check a :class:`History` against ``model``."""
    return check_operations(history.operations, model, timeout_s=timeout_s, max_states=max_states)
