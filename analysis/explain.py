"""Turn a linearizability verdict into evidence and plain sentences a learner can follow.

The search records, for the deepest point it reached, the longest linearizable prefix and
the operation it could not place after it (the *blocker*), plus for every operation the
model states in which it was tried and did or did not fit.  Because an ``invalid`` verdict
comes from an exhaustive search, "the states in which the blocker was tried" are all the
states it could have observed in any order consistent with real time: the explanation is
a fact about the history, not a guess.
"""

from __future__ import annotations

from typing import Any

from analysis.history import UNKNOWN, Operation
from analysis.linearizability import PartResult, Verdict
from analysis.models.base import Model

MAX_LISTED = 6


def op_json(op: Operation, model: Model | None = None) -> dict[str, Any]:
    """A JSON-able view of one operation, with a human description."""
    d: dict[str, Any] = {
        "id": op.id,
        "process": op.process,
        "f": op.f,
        "key": op.key,
        "value": _jsonable(op.value),
        "output": None if op.output is UNKNOWN else _jsonable(op.output),
        "status": op.status,
        "call": op.call,
        "ret": op.ret,
        "call_time": op.call_time,
        "ret_time": op.ret_time,
        "line": op.call_line,
    }
    if model is not None:
        d["text"] = model.describe_op(op)
    return d


def _jsonable(v: Any) -> Any:
    if v is UNKNOWN:
        return None
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return repr(v)


def _who(op: Operation) -> str:
    where = f", line {op.call_line}" if op.call_line is not None else ""
    return f"op {op.id}, process {op.process}{where}"


def _list(ops: list[Operation], model: Model) -> str:
    shown = [f"{model.describe_op(o)} ({_who(o)})" for o in ops[:MAX_LISTED]]
    more = f" and {len(ops) - MAX_LISTED} more" if len(ops) > MAX_LISTED else ""
    return "; ".join(shown) + more


def _states(states: set[Any], model: Model) -> str:
    words = sorted(model.describe_state(s) for s in states)
    if len(words) == 1:
        return words[0]
    if len(words) <= MAX_LISTED:
        return ", ".join(words[:-1]) + " or " + words[-1]
    return ", ".join(words[:MAX_LISTED]) + f" (and {len(words) - MAX_LISTED} more)"


def _precedes(a: Operation, b: Operation) -> bool:
    return a.ret is not None and a.ret < b.call


def _concurrent(a: Operation, b: Operation) -> bool:
    return not _precedes(a, b) and not _precedes(b, a)


def counterexample(part: PartResult, model: Model) -> tuple[dict[str, Any], list[str]]:
    """Evidence (JSON-able) and sentences for an invalid or unknown partition."""
    by_id = {op.id: op for op in part.ops}
    index_of = {op.id: i for i, op in enumerate(part.ops)}
    blocker = by_id.get(part.blocker) if part.blocker is not None else None
    sentences: list[str] = []
    keytxt = f" on key {part.key!r}" if part.key is not None else ""
    evidence: dict[str, Any] = {
        "key": part.key,
        "prefix": part.prefix,
        "blocker": part.blocker,
        "candidates": part.candidates,
        "state_after_prefix": model.describe_state(part.state_after_prefix)
        if part.prefix or part.blocker is not None
        else None,
    }
    if blocker is None:
        if part.verdict == "invalid":
            sentences.append(f"No order of the operations{keytxt} is consistent with real time and the model.")
        evidence["ops"] = []
        return evidence, sentences
    i = index_of[blocker.id]
    bad = part.tried[i] if part.tried else set()
    fit = part.fit[i] if part.fit else set()
    concurrent = [o for o in part.ops if o.id != blocker.id and _concurrent(o, blocker) and not model.read_only(o)]
    before = [o for o in part.ops if _precedes(o, blocker) and not model.read_only(o)]
    before.sort(key=lambda o: o.ret if o.ret is not None else -1)
    last_before = before[-3:]
    what = model.describe_op(blocker)
    if part.verdict == "invalid":
        sentences.append(
            f"Not linearizable{keytxt}: {what} ({_who(blocker)}) cannot be placed in any order "
            "of the operations that respects real time and the model."
        )
    else:
        sentences.append(f"Undecided{keytxt}: the search stopped while trying to place {what} ({_who(blocker)}).")
    if bad and not fit:
        sentences.append(
            f"Whenever it could have taken effect, the state was {_states(bad, model)}, "
            "and the operation is impossible in each of those states."
        )
    elif fit:
        sentences.append(
            f"It fits only when the state is {_states(fit, model)}, and every order that reaches "
            "such a state strands another operation that had already finished."
        )
    if last_before:
        sentences.append(f"Finished before it began: {_list(last_before, model)}.")
    if concurrent:
        sentences.append(f"Concurrent with it: {_list(concurrent, model)}.")
    elif part.verdict == "invalid":
        sentences.append("Nothing that changes state ran concurrently with it.")
    if part.prefix:
        sentences.append(
            f"The longest order found places {len(part.prefix)} of {len(part.ops)} operations "
            f"and leaves the state at {model.describe_state(part.state_after_prefix)}."
        )
    involved = {blocker.id, *(o.id for o in last_before), *(o.id for o in concurrent)}
    evidence["possible_states"] = sorted(model.describe_state(s) for s in bad | fit)
    evidence["illegal_states"] = sorted(model.describe_state(s) for s in bad)
    evidence["concurrent"] = [o.id for o in concurrent]
    evidence["preceding"] = [o.id for o in last_before]
    evidence["ops"] = [op_json(by_id[x], model) for x in sorted(involved)]
    return evidence, sentences


def symptom(part: PartResult, model: Model) -> str:
    """The learner's word for an invalid partition, from the operation that cannot be placed:
    a read is a stale read, a compare-and-set a lost update.  The trace may name a deeper
    cause (:func:`analysis.kv_context.root_causes`)."""
    blocker = next((o for o in part.ops if o.id == part.blocker), None)
    if blocker is None:
        return "not-linearizable"
    if model.read_only(blocker):
        return "stale-read"
    if blocker.f == "cas":
        return "lost-update"
    return "not-linearizable"


def verdict_json(v: Verdict, model: Model) -> dict[str, Any]:
    """The full, machine-readable result of a linearizability check."""
    counts = {"valid": 0, "invalid": 0, "unknown": 0}
    for p in v.parts:
        counts[p.verdict] += 1
    out: dict[str, Any] = {
        "checker": "linearizability",
        "model": v.model,
        "verdict": v.verdict,
        "elapsed_s": round(v.elapsed_s, 6),
        "states": v.states,
        "operations": sum(len(p.ops) for p in v.parts),
        "partitions": counts,
        "reason": v.reason,
        "hint": v.hint,
        "explanation": [],
    }
    bad = v.failing
    out["anomaly_tags"] = [] if v.verdict != "invalid" else [
        symptom(bad, model) if bad is not None else "not-linearizable"]
    if bad is None and v.verdict == "unknown":
        bad = next((p for p in v.parts if p.verdict == "unknown" and p.blocker is not None), None)
    if bad is not None:
        ev, sentences = counterexample(bad, model)
        out["counterexample"] = ev
        out["explanation"] = sentences
    elif v.verdict == "valid":
        out["explanation"] = [
            f"Linearizable: every operation can be placed in one order that respects real time "
            f"and the {v.model} model ({out['operations']} operations checked, {v.states} states explored)."
        ]
    if v.verdict == "unknown":
        out["explanation"].insert(0, f"Unknown: {v.reason}. {v.hint}".strip())
    return out
