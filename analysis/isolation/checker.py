"""The isolation checker: infer, search, judge, explain.

:func:`check` runs the pipeline on a :class:`~analysis.isolation.txn.TxnHistory`:

1. the data model (:mod:`~analysis.isolation.list_append` or
   :mod:`~analysis.isolation.rw_register`) infers ww/wr/rw edges and the anomalies that
   need no cycle;
2. process and real-time edges are added (real time only when invocations were
   recorded);
3. :class:`~analysis.isolation.cycles.CycleSearch` finds the smallest cycle of each
   anomaly type in each strongly connected component, the types the chosen model
   forbids first;
4. the verdict is judged against ``consistency_model``: ``invalid`` if an anomaly it
   forbids was found (or a component proves one exists), ``unknown`` if the budget ended
   a search that could still have found one (or nothing could be inferred), ``valid``
   otherwise.  Every anomaly found is reported either way, with the weakest models it
   rules out (``not``).

The result is a JSON-able dict shaped like the other checkers' (``checker``,
``verdict``, ``explanation`` ...), so the CLI, the terminal printer and reports can
treat it like any other.
"""

from __future__ import annotations

import time
from typing import Any

from analysis.isolation.cycles import CycleSearch, SearchResult, ordered_types
from analysis.isolation.graph import (
    ALL,
    DATA,
    PROCESS,
    Budget,
    BudgetExceeded,
    DepGraph,
    add_process_edges,
    add_realtime_edges,
)
from analysis.isolation.inference import Anomalies, Inference
from analysis.isolation.lattice import (
    DEFAULT_MODEL,
    DESCRIPTIONS,
    canonical,
    ordered,
    prohibited,
    ruled_out,
    severity_key,
    weakest,
)
from analysis.isolation.list_append import ListAppend
from analysis.isolation.rw_register import RwRegister
from analysis.isolation.story import jsonable, tell, tell_existence
from analysis.isolation.txn import TxnHistory

DEFAULT_TIMEOUT_S = 60.0
DEFAULT_MAX_SEARCH_STEPS = 50_000_000
DEFAULT_MAX_EDGES = 10_000_000  # about a gigabyte of adjacency; ~1.2M transactions
HINT = (
    "give it more time (--timeout), or check a shorter history; the anomalies listed were "
    "found before it stopped"
)


def check(
    history: TxnHistory,
    *,
    consistency_model: str = DEFAULT_MODEL,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_search_steps: int = DEFAULT_MAX_SEARCH_STEPS,
    max_edges: int = DEFAULT_MAX_EDGES,
    wfr: bool = False,
) -> dict[str, Any]:
    """Check a transactional history; see the module docstring for the verdict rules.

    ``wfr`` (rw-register only) assumes writes follow reads within a transaction.
    Raises ``ValueError`` for an unknown consistency model."""
    model = canonical(consistency_model)
    started = time.monotonic()
    budget = Budget(deadline=started + timeout_s, max_steps=max_search_steps)
    graph = DepGraph(len(history.txns), max_edges)
    found = Anomalies()
    inf: ListAppend | RwRegister
    if history.model == "list-append":
        inf = ListAppend(history, graph, found, budget)
    else:
        inf = RwRegister(history, graph, found, budget, wfr=wfr)
    search = SearchResult()
    searched = False
    reason = ""
    try:
        inf.infer()
        order = sorted(
            ((t.call if t.call is not None else (t.ret or 0)), t.id, t.process, t.status)
            for t in history.txns
        )
        add_process_edges(graph, [(tid, p, s) for _, tid, p, s in order])
        if history.timed:
            points: list[tuple[int, int, int]] = []
            for t in history.txns:
                if t.status == "fail" or t.call is None:
                    continue
                points.append((t.call, 1, t.id))
                if t.status == "ok" and t.ret is not None:
                    points.append((t.ret, 0, t.id))
            add_realtime_edges(graph, points)
        if budget.expired():
            reason = "the time limit ran out while building the dependency graph"
        else:
            enabled = ALL if history.timed else DATA | PROCESS
            search = CycleSearch(graph, budget, ordered_types(prohibited(model)), enabled).run()
            searched = True
            reason = search.reason
    except BudgetExceeded as e:
        reason = str(e)
    elapsed = time.monotonic() - started
    return _result(history, inf, graph, found, search, model, reason, searched, budget, elapsed)


def _result(
    history: TxnHistory,
    inf: Inference,
    graph: DepGraph,
    found: Anomalies,
    search: SearchResult,
    model: str,
    reason: str,
    searched: bool,
    budget: Budget,
    elapsed: float,
) -> dict[str, Any]:
    forbidden = prohibited(model)
    anomalies: dict[str, list[dict[str, Any]]] = {}
    counts: dict[str, int] = {}
    for typ, cases in found.cases.items():
        anomalies[typ] = [jsonable(c) for c in cases]
        counts[typ] = found.totals[typ]
    for typ, cycles in search.cycles.items():
        anomalies[typ] = [tell(c, history.txns, inf) for c in cycles]
        counts[typ] = len(cycles)
    for e in search.exists:
        anomalies.setdefault(e.type, []).append(tell_existence(e, history.txns))
        counts[e.type] = counts.get(e.type, 0) + 1
    types = sorted(anomalies, key=severity_key)
    bad = [t for t in types if t in forbidden]
    impossible = ruled_out(types)
    is_not = weakest(impossible)
    committed = sum(1 for t in history.txns if t.status == "ok")
    undetermined = sorted(search.undetermined & forbidden, key=severity_key)
    if bad:
        verdict = "invalid"
    elif not searched:
        verdict = "unknown"
    elif undetermined:
        verdict = "unknown"
        reason = reason or "the cycle search ran out of budget"
    elif committed == 0:
        verdict, reason = "unknown", "no transaction committed, so there is nothing to check"
    elif graph.edges == 0 and not types:
        verdict = "unknown"
        reason = "no dependency between transactions could be inferred"
    else:
        verdict = "valid"
    if verdict == "unknown" and not reason:  # pragma: no cover - defensive
        reason = "the check did not finish"
    out: dict[str, Any] = {
        "checker": "isolation",
        "model": history.model,
        "consistency_model": model,
        "verdict": verdict,
        "elapsed_s": round(elapsed, 6),
        "transactions": len(history.txns),
        "counts": history.counts(),
        "anomaly_types": types,
        "anomaly_counts": counts,
        "anomaly_tags": sorted({learner_word(t) for t in bad}),
        "anomalies": anomalies,
        "forbidden_found": bad,
        "not": is_not,
        "also_not": ordered(impossible - set(is_not)),
        "reason": reason,
        "hint": HINT if verdict == "unknown" and (not searched or undetermined) else "",
        "graph": {
            **graph.stats(),
            "components": search.components,
            "largest_component": search.largest,
            "search_steps": budget.steps,
            "timed": history.timed,
        },
        "explanation": [],
    }
    out["explanation"] = _sentences(out, model, undetermined)
    return out


LEARNER_WORDS = {
    "G0": "dirty-write",
    "G1": "circular-flow",
    "G1a": "aborted-read",
    "G1b": "intermediate-read",
    "G1c": "circular-flow",
    "G-single": "read-skew",
    "G-nonadjacent": "write-skew",
    "G2-item": "write-skew",
    "G2": "write-skew",
    "internal": "stale-read",
    "future-read": "garbage-read",
    "garbage-read": "garbage-read",
    "duplicate-elements": "duplicate-effect",
    "incompatible-order": "divergent-replicas",
    "cyclic-versions": "divergent-replicas",
}
"""Elle's anomaly types (without their -process/-realtime variants) as words of the learner's
vocabulary (:mod:`analysis.anomalies`)."""


def learner_word(typ: str) -> str:
    """The learner's word for an Elle anomaly type, variants and "cycle exists" included."""
    base = typ.removesuffix("-cycle-exists").removesuffix("-process").removesuffix("-realtime")
    return LEARNER_WORDS.get(base, "not-linearizable")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _sentences(r: dict[str, Any], model: str, undetermined: list[str]) -> list[str]:
    c = r["counts"]
    size = (
        f"{_plural(r['transactions'], 'transaction')} ({c['ok']} committed, {c['info']} "
        f"of unknown outcome, {c['fail']} failed)"
    )
    types = r["anomaly_types"]
    bad = r["forbidden_found"]
    counts = r["anomaly_counts"]
    words: list[str] = []

    def listing(ts: list[str]) -> str:
        return ", ".join(f"{t} ({_plural(counts[t], 'case')})" for t in ts)

    if r["verdict"] == "invalid":
        words.append(f"Not {model}: found {listing(bad)} in {size}.")
    elif r["verdict"] == "valid":
        g = r["graph"]
        words.append(
            f"No anomaly that {model} forbids: {size}, {_plural(g['edges'], 'dependency edge')}"
            + (", no cycle." if not g["components"] else ".")
        )
    else:
        words.append(f"Unknown: {r['reason']}.")
        if undetermined:
            words.append("Not searched to the end: " + ", ".join(undetermined) + ".")
    if r["not"]:
        also = " (nor anything stronger)" if r["also_not"] else ""
        words.append(f"This history is not {', '.join(r['not'])}{also}.")
    allowed = [t for t in types if t not in bad]
    if allowed:
        also = "Also found" if bad else "Found"
        words.append(f"{also}, but allowed by {model}: {listing(allowed)}.")
    first = next((t for t in bad or types), None)
    if first is not None:
        case = r["anomalies"][first][0]
        if "story" in case:
            words.extend(case["story"])
        else:
            words.append(f"{first} ({DESCRIPTIONS.get(first, first)}): {case['text']}")
        for t in [t for t in bad + allowed if t != first][:3]:
            case = r["anomalies"][t][0]
            words.append(f"Also {t}: " + (case["summary"] if "summary" in case else case["text"]))
    return words
