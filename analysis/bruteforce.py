"""A brute-force linearizability oracle for tiny histories.

It tries every subset of the indeterminate operations and every permutation, straight from
the definition.  Exponential and slow on purpose: it is the independent reference that
property tests hold the fast checker to.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations, permutations

from analysis.history import Operation
from analysis.models.base import ILLEGAL, Model, StepFn


def is_linearizable(ops: Sequence[Operation], model: Model) -> bool:
    live = [o for o in ops if o.status != "fail"]
    must = [o for o in live if o.status == "ok"]
    maybe = [o for o in live if o.status == "info"]
    if len(must) + len(maybe) > 9:
        raise ValueError("brute force is for histories of at most 9 operations")
    fns = {o.id: model.compile_op(o, o.output) for o in live}
    for k in range(len(maybe) + 1):
        for extra in combinations(maybe, k):
            chosen = must + list(extra)
            for order in permutations(chosen):
                if _respects_real_time(order) and _legal(order, fns, model):
                    return True
    return False


def _respects_real_time(order: Sequence[Operation]) -> bool:
    for i, a in enumerate(order):
        for b in order[i + 1 :]:
            # b placed after a, but b returned before a was invoked: impossible
            if b.ret is not None and b.ret < a.call:
                return False
    return True


def _legal(order: Sequence[Operation], fns: dict[int, StepFn], model: Model) -> bool:
    state = model.init()
    for op in order:
        state = fns[op.id](state)
        if state is ILLEGAL:
            return False
    return True
