"""The linearizability checker: linear pre-checks, a verified fast path, then a
Wing-Gong/Lowe search with memoisation, per partition, under one budget.

How it works (and why it is shaped this way):

* Every operation is compiled once by the model, which is where bad values are refused
  (with the line) and where values become canonical: compared by type and value, never
  by Python's ``True == 1`` (:mod:`analysis.models.values`).
* The history is split into independent parts (per key) by the model.  A history is
  linearizable iff every part is (P-compositionality).
* **Pre-check** (linear, every part, before any search): the model names an operation
  no order can place -- a read of a value nobody wrote, or one that returned before any
  write of its value began.  That decides ``invalid`` at once; a search would spend its
  whole budget proving it.
* **Witness** (near-linear, where the model offers one): for a register whose written
  values are all distinct, the model proposes an order (Gibbons and Korach's
  read-mapping case).  The checker *verifies* it -- every completed operation placed
  once, real time respected, every step legal in the model -- so a proposal can prove
  a part valid but can never make a wrong "valid"; an unverified one is ignored.
* **Search** for the remaining parts.  Each part's search is a generator that yields
  every :data:`YIELD_EVERY` steps; a round-robin driver runs them all, and the first
  invalid part cancels the rest (checking one key at a time can spend minutes on a hard
  valid key before reaching the easy invalid one).  Within a part, operations become
  call and return entries in a doubly linked list (flat int arrays); at a call entry the
  search tries to linearize the operation now, at a return entry it backtracks.  The
  (linearized set as an int bitset, model state) pairs already seen are memoised.
* Indeterminate operations (``info`` or never completed) have no return entry: they may
  take effect at any point after their invocation, or never.  A part is done when every
  *determinate* operation is placed.  Indeterminate reads constrain nothing and ``fail``
  operations did not happen, so both are dropped up front.
* **Budgets** apply to the whole check, not to each part: a deadline, a cap on memoised
  states summed over all parts, and a memory budget that is *measured*
  (:mod:`analysis.memory`: resident size, and the address space when ``RLIMIT_AS`` is
  set).  Running out of any gives ``unknown`` with the reason; so does a ``MemoryError``
  that gets through anyway.  A crash is never a verdict.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

from analysis.history import History, Operation
from analysis.memory import MemoryBudget, gc_paused
from analysis.models.base import ILLEGAL, Impossible, Model, ModelError, StepFn

YIELD_EVERY = 1024  # search steps between budget checks (time, states, memory)
TRIED_CAP = 16  # states remembered per op in which it could not take effect (evidence)


@dataclass
class PartResult:
    """The outcome of checking one partition."""

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
    tried: list[Any] = field(default_factory=list)  # per op index: states where it was illegal
    fit: list[Any] = field(default_factory=list)  # per op index: states where it was legal
    method: str = "search"  # how it was decided: "pre-check", "witness" or "search"


class _Stop(Exception):
    """Thrown into a running search to end it with ``unknown`` and its evidence so far."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def compile_ops(ops: Sequence[Operation], model: Model) -> dict[int, StepFn]:
    """Every operation compiled by the model, by op id.  An operation the model does not
    know, or a value it cannot use, is a :class:`ModelError` naming the line."""
    fns: dict[int, StepFn] = {}
    fs = model.fs
    compile_op = model.compile if model.compile is not None else model.compile_op
    for op in ops:
        if op.f not in fs:
            where = f"line {op.call_line}: " if op.call_line is not None else ""
            raise ModelError(
                f"{where}model {model.name!r} has no operation {op.f!r} "
                f"(it knows {', '.join(sorted(fs))}); pick another --model"
            )
        try:
            fns[op.id] = compile_op(op, op.output)
        except (ValueError, TypeError) as e:
            where = f"line {op.call_line}: " if op.call_line is not None else ""
            raise ModelError(f"{where}{e}") from None
    return fns


def validate_ops(ops: Sequence[Operation], model: Model) -> None:
    """Every operation must be one the model knows, with a value it can use."""
    compile_ops(ops, model)


def prepare(ops: Sequence[Operation], model: Model) -> list[Operation]:
    """Drop what cannot matter: failed ops, and indeterminate read-only ops."""
    out = []
    read_only = model.read_only
    for op in ops:
        if op.status == "fail":
            continue
        if op.status == "info" and read_only(op):
            continue
        out.append(op)
    return out


def verify_witness(order: Sequence[Operation], ops: Sequence[Operation], fns: dict[int, StepFn], model: Model) -> bool:
    """Is ``order`` a linearization of ``ops``?  Straight from the definition: each
    operation of the part at most once and every completed one exactly once; none placed
    after an operation that was invoked after it returned; every step legal."""
    placed = {op.id for op in order}
    if len(placed) != len(order):
        return False
    for op in ops:
        if op.ret is not None and op.id not in placed:
            return False
    if len(placed) > len(ops) or not placed <= {op.id for op in ops}:
        return False
    state = model.init()
    latest_call = -1
    illegal = ILLEGAL
    for op in order:
        r = op.ret
        if r is not None and r < latest_call:
            return False
        c = op.call
        if c > latest_call:
            latest_call = c
        state = fns[op.id](state)
        if state is illegal:
            return False
    return True


def search_part(
    key: str | None,
    ops: list[Operation],
    model: Model,
    fns: dict[int, StepFn] | None = None,
) -> Generator[int, None, PartResult]:
    """Search one partition.  A generator: every :data:`YIELD_EVERY` steps it yields the
    number of states it has memoised, so the driver can run other parts and apply the
    budgets; a :class:`_Stop` thrown in ends it with ``unknown`` and its evidence."""
    n = len(ops)
    res = PartResult(key, "valid", ops)
    if n == 0:
        return res
    if fns is None:
        fns = compile_ops(ops, model)
    fn = [fns[op.id] for op in ops]
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
            try:
                yield len(cache)
            except _Stop as stop:
                res.verdict = "unknown"
                res.states = len(cache)
                res.reason = stop.reason
                _record_best(res, stack, opidx, e, state, nxt, head, is_ret)
                return res
        if not is_ret[e]:
            i = opidx[e]
            ns = fn[i](state)
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
    max_memory: int | None = None,
) -> Verdict:
    """Check a sequence of operations against ``model``.

    ``timeout_s`` (seconds), ``max_states`` (memoised states, summed over every part) and
    ``max_memory`` (resident bytes; None: :func:`analysis.memory.default_budget`) bound
    the whole check; exhausting any gives ``unknown`` with the reason.  A bad operation
    raises :class:`ModelError` before anything is searched.
    """
    t0 = time.perf_counter()
    with gc_paused():
        fns = compile_ops(ops, model)
        budget = MemoryBudget(max_memory)
        try:
            return _Checker(model, fns, t0, timeout_s, max_states, budget).run(ops)
        finally:
            budget.close()


class _Checker:
    """One check of one history: its parts, their results so far, and the budgets."""

    def __init__(
        self,
        model: Model,
        fns: dict[int, StepFn],
        t0: float,
        timeout_s: float | None,
        max_states: int,
        budget: MemoryBudget,
    ) -> None:
        self.model = model
        self.fns = fns
        self.t0 = t0
        self.timeout_s = timeout_s
        self.deadline = None if timeout_s is None else t0 + timeout_s
        self.max_states = max_states
        self.budget = budget
        self.parts: list[tuple[str | None, list[Operation]]] = []
        self.results: list[PartResult | None] = []
        self.phase = "preparing the history"

    def run(self, ops: Sequence[Operation]) -> Verdict:
        try:
            return self._run(ops)
        except MemoryError:
            pass
        # Outside the handler, so the exception's frames (and the memo tables they hold)
        # are gone before anything new is built.
        return self._out_of_memory()

    def _verdict(self, verdict: str, states: int, reason: str = "") -> Verdict:
        done = [r for r in self.results if r is not None]
        hint = _hint(done) if verdict == "unknown" else ""
        return Verdict(verdict, self.model.name, done, time.perf_counter() - self.t0, states, reason, hint)

    def _run(self, ops: Sequence[Operation]) -> Verdict:
        model = self.model
        kept = prepare(ops, model)
        parts: list[tuple[str | None, list[Operation]]] = (
            model.partition(kept) if model.partition else [(None, list(kept))]
        )
        self.parts = parts
        self.results = [None] * len(parts)
        # Linear work first, part by part: prune, pre-check, witness.  Every part is
        # pre-checked before any search starts, so an impossible read anywhere is found
        # at once; the three steps share the model's classification of the part.
        pending: list[int] = []
        states = 0
        for idx, (key, pops) in enumerate(parts):
            self.phase = "running the linear pre-checks"
            if model.prune is not None:
                pops = model.prune(pops)
                parts[idx] = (key, pops)
            if model.impossible is not None:
                imp = model.impossible(pops)
                if imp is not None:
                    r = _impossible_result(key, pops, imp, model)
                    self.results = [r]
                    return self._verdict("invalid", 0, r.reason)
            if not pops:
                self.results[idx] = PartResult(key, "valid", pops, method="witness")
                continue
            self.phase = "building witnesses"
            if model.witness is not None:
                order = model.witness(pops)
                if order is not None and verify_witness(order, pops, self.fns, model):
                    self.results[idx] = PartResult(key, "valid", pops, states=len(order), method="witness")
                    states += len(order)
                    continue
            pending.append(idx)
            if self.deadline is not None and time.perf_counter() > self.deadline:
                return self._stop_before_search(pending, idx, states)
        self.phase = "searching"
        return self._search(pending, states)

    def _stop_before_search(self, pending: list[int], last: int, states: int) -> Verdict:
        reason = f"time budget of {self.timeout_s:g} s exceeded"
        for idx in [*pending, *range(last + 1, len(self.parts))]:
            key, pops = self.parts[idx]
            self.results[idx] = PartResult(key, "unknown", pops, reason=reason)
        return self._verdict("unknown", states, reason)

    def _over_budget(self, states: int) -> str | None:
        if states > self.max_states:
            return f"state budget exceeded ({self.max_states} memoised states over the whole history)"
        if self.deadline is not None and time.perf_counter() > self.deadline:
            return f"time budget of {self.timeout_s:g} s exceeded"
        return self.budget.exceeded()

    def _search(self, pending: list[int], done_states: int) -> Verdict:
        live: dict[int, Generator[int, None, PartResult]] = {}
        for idx in pending:
            key, pops = self.parts[idx]
            live[idx] = search_part(key, pops, self.model, self.fns)
        live_states: dict[int, int] = {}
        live_total = 0
        invalid = False
        stop: str | None = None
        while live and not invalid and stop is None:
            for idx in list(live):
                try:
                    n = next(live[idx])
                except StopIteration as fin:
                    del live[idx]
                    r: PartResult = fin.value
                    self.results[idx] = r
                    done_states += r.states
                    live_total -= live_states.pop(idx, 0)
                    if r.verdict == "invalid":
                        invalid = True
                        break
                    continue
                live_total += n - live_states.get(idx, 0)
                live_states[idx] = n
                stop = self._over_budget(done_states + live_total)
                if stop is not None:
                    break
        if invalid:
            for g in live.values():
                g.close()
            return self._verdict("invalid", done_states + live_total)
        if stop is not None:
            for idx, g in live.items():
                try:
                    g.throw(_Stop(stop))
                except StopIteration as fin:
                    self.results[idx] = fin.value
                    done_states += fin.value.states
                except _Stop:  # a search that had not started yet
                    key, pops = self.parts[idx]
                    self.results[idx] = PartResult(key, "unknown", pops, reason=stop)
            return self._verdict("unknown", done_states, stop)
        return self._verdict("valid", done_states)

    def _out_of_memory(self) -> Verdict:
        reason = f"ran out of memory (MemoryError) while {self.phase}"
        for idx, (key, pops) in enumerate(self.parts):
            r = self.results[idx] if idx < len(self.results) else None
            if r is None or r.verdict != "valid":
                if idx < len(self.results):
                    self.results[idx] = PartResult(key, "unknown", pops, reason=reason)
        return self._verdict("unknown", sum(r.states for r in self.results if r is not None), reason)


def _impossible_result(key: str | None, ops: list[Operation], imp: Impossible, model: Model) -> PartResult:
    """The evidence of a pre-check: the operation, and every state it could have seen."""
    empty: frozenset[Any] = frozenset()
    tried: list[Any] = [empty] * len(ops)
    if imp.states is not None:
        for i, op in enumerate(ops):
            if op.id == imp.op.id:
                tried[i] = imp.states
                break
    return PartResult(
        key,
        "invalid",
        ops,
        states=0,
        blocker=imp.op.id,
        state_after_prefix=model.init(),
        reason=f"{model.describe_op(imp.op)} (op {imp.op.id}, process {imp.op.process}): {imp.reason}",
        tried=tried,
        fit=[empty] * len(ops),
        method="pre-check",
    )


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
    max_memory: int | None = None,
) -> Verdict:
    """Check a :class:`History` against ``model`` (see :func:`check_operations`)."""
    return check_operations(
        history.operations, model, timeout_s=timeout_s, max_states=max_states, max_memory=max_memory
    )
