"""Cycles told as stories, and the checker's result as plain sentences.

A cycle is a list of transactions each of which had to come before the next; the story
names them T1, T2, ... in cycle order, says what each did, gives one sentence per step
("T1 read x = [1 2] without 3, which T2 appended next, so T1 < T2 (rw)"), and ends with
the contradiction and the anomaly's name.  The same data, as JSON, is what the SVG
drawing (:mod:`analysis.isolation.svg`) and the HTML report use.
"""

from __future__ import annotations

from typing import Any

from analysis.isolation.cycles import Cycle, Existence
from analysis.isolation.graph import KIND_NAMES, PROCESS, RW, WR, WW
from analysis.isolation.inference import Inference, fmt_key, fmt_txn, txn_json, who
from analysis.isolation.lattice import DESCRIPTIONS
from analysis.isolation.txn import Txn


def jsonable(v: Any) -> Any:
    if isinstance(v, tuple | list):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if v is None or isinstance(v, str | int | float | bool):
        return v
    return repr(v)


def _order_sentence(kind: int, a: Txn, b: Txn, an: str, bn: str) -> str:
    if kind == PROCESS:
        return (
            f"{an} and {bn} ran one after the other on process {a.process}: {an} completed "
            f"before {bn} began, so {an} < {bn} (process)."
        )
    done = f" (line {a.ret_line})" if a.ret_line is not None else ""
    began = f" (line {b.line})" if b.line is not None else ""
    return f"{an} completed{done} before {bn} began{began}, so {an} < {bn} (realtime)."


def tell(cycle: Cycle, txns: tuple[Txn, ...], inf: Inference) -> dict[str, Any]:
    """A cycle as JSON: its transactions, its steps with sentences, and its story."""
    n = len(cycle.nodes)
    names = {tid: f"T{i + 1}" for i, tid in enumerate(cycle.nodes)}
    steps: list[dict[str, Any]] = []
    for i, a in enumerate(cycle.nodes):
        b = cycle.nodes[(i + 1) % n]
        kind = cycle.kinds[i]
        step: dict[str, Any] = {"type": KIND_NAMES[kind], "from": names[a], "to": names[b],
                                "from_id": a, "to_id": b}
        if kind in (WW, WR, RW):
            s = inf.explain(a, b, kind)
            if s is not None:
                step.update(key=jsonable(s.key), value=jsonable(s.value), value2=jsonable(s.value2))
                if s.note:
                    step["note"] = s.note
                step["text"] = inf.sentence(s, names[a], names[b])
            else:  # pragma: no cover - every data edge added is explainable
                step["text"] = f"{names[a]} < {names[b]} ({KIND_NAMES[kind]})."
        else:
            step["text"] = _order_sentence(kind, txns[a], txns[b], names[a], names[b])
        steps.append(step)
    let = [f"{names[t]} is {who(txns[t])}: {fmt_txn(txns[t])}." for t in cycle.nodes]
    chain = " < ".join(names[t] for t in [*cycle.nodes, cycle.nodes[0]])
    end = (
        f"So {chain}: {names[cycle.nodes[0]]} would have to come before itself, which is "
        f"impossible. This is {cycle.type}: {DESCRIPTIONS.get(cycle.type, cycle.type)}."
    )
    parts = [f"op {cycle.nodes[0]}"]
    for step in steps:
        on = f" {fmt_key(step['key'])}" if step.get("key") is not None else ""
        parts.append(f"-{step['type']}{on}-> op {step['to_id']}")
    return {
        "type": cycle.type,
        "summary": " ".join(parts),
        "txns": [{"name": names[t], **txn_json(txns[t])} for t in cycle.nodes],
        "steps": steps,
        "story": [*let, *(s["text"] for s in steps), end],
        "component_size": cycle.component,
    }


def tell_existence(e: Existence, txns: tuple[Txn, ...]) -> dict[str, Any]:
    shown = ", ".join(f"op {t}" for t in e.nodes[:8])
    more = f" and {len(e.nodes) - 8} more" if len(e.nodes) > 8 else ""
    base = e.type.removesuffix("-cycle-exists")
    kinds = {"G0": "ww", "G1": "ww and wr", "G2": "ww, wr and rw"}[base.split("-")[0]]
    if "-process" in base:
        kinds += " and process"
    elif "-realtime" in base:
        kinds += ", process and realtime"
    return {
        "type": e.type,
        "component_size": len(e.nodes),
        "ops": e.nodes[:50],
        "searched_for": e.searched_for,
        "text": (
            f"{len(e.nodes)} transactions ({shown}{more}) depend on each other in a circle of "
            f"{kinds} edges, so a cycle exists, but the search for the smallest "
            f"{e.searched_for} cycle ran out of budget before it found one."
        ),
    }
