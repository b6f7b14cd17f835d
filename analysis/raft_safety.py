"""Raft's safety properties, checked on a run's trace.

The Raft paper (Figure 3) promises four things that clients never see directly but that
every linearizable Raft store relies on.  Each is checked from trace records alone, so a
results folder can be re-checked later:

* **Election safety** -- at most one leader per term (from ``role`` records).
* **Log matching** -- if two logs hold an entry with the same index and term, they are
  identical up to it (from ``leader-log``/``final-log`` snapshots of entry terms).
* **Leader completeness** -- an entry committed in some term is in the log of every leader
  of a later term (committed entries come from ``apply`` records; leader logs from
  ``leader-log`` snapshots taken the moment a node wins an election).
* **State machine safety** -- no two nodes apply different commands at the same index
  (from ``apply`` records).

Each violation names the nodes, terms, time and the faults active then, in plain words.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from analysis.faultwindows import active_at, fault_windows

MAX_VIOLATIONS = 20


def _cmd_key(cmd: Any) -> str:
    return json.dumps(cmd, sort_keys=True, default=str)


def check_trace(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    recs = list(records)
    windows = fault_windows(recs)
    violations: list[dict[str, Any]] = []

    def add(invariant: str, t: int, nodes: list[str], text: str, **extra: Any) -> None:
        if len(violations) >= MAX_VIOLATIONS:
            return
        faults = [w["description"] for w in active_at(windows, t)]
        v = {"invariant": invariant, "t": t, "nodes": nodes, "text": text, "faults_active": faults}
        v.update(extra)
        violations.append(v)

    leaders: dict[int, tuple[str, int]] = {}
    votes: dict[int, dict[str, list[tuple[str, int]]]] = {}  # term -> voter -> [(candidate, t)]
    crashes: dict[str, list[int]] = {}
    applied: dict[int, tuple[int, str, str, int]] = {}  # index -> (term, cmd key, node, t)
    committed_terms: dict[int, int] = {}  # index -> entry term, of entries known applied (committed)
    commit_term: dict[int, int] = {}  # index -> the term in which it was first known committed
    max_committed = 0
    final_logs: dict[str, list[int]] = {}
    n_leader_logs = 0
    for r in recs:
        kind = r.get("kind")
        t = int(r.get("t", 0))
        if kind == "vote":
            votes.setdefault(int(r.get("term", -1)), {}).setdefault(str(r.get("node")), []).append(
                (str(r.get("candidate")), t))
        elif kind == "crash":
            crashes.setdefault(str(r.get("node")), []).append(t)
        if kind == "role" and r.get("role") == "leader":
            term = int(r["term"])
            node = str(r["node"])
            prev = leaders.get(term)
            if prev is None:
                leaders[term] = (node, t)
            elif prev[0] != node:
                add(
                    "election-safety",
                    t,
                    [prev[0], node],
                    f"two leaders in term {term}: {prev[0]} became leader at {prev[1]} ms and "
                    f"{node} at {t} ms. A node must vote at most once per term, and remember it."
                    + _double_voters(votes.get(term, {}), crashes),
                    term=term,
                )
        elif kind == "apply":
            idx = int(r["index"])
            term = int(r.get("term", -1))
            key = _cmd_key(r.get("command"))
            node = str(r["node"])
            prev_a = applied.get(idx)
            if prev_a is None:
                applied[idx] = (term, key, node, t)
                committed_terms[idx] = term
            elif (prev_a[0], prev_a[1]) != (term, key):
                add(
                    "state-machine-safety",
                    t,
                    [prev_a[2], node],
                    f"{prev_a[2]} applied entry {idx} from term {prev_a[0]} ({prev_a[1]}) at {prev_a[3]} ms, "
                    f"but {node} applied a different entry {idx} from term {term} ({key}) at {t} ms: "
                    "a committed entry was overwritten.",
                    index=idx,
                )
        elif kind == "commit":
            idx = int(r.get("index", 0))
            for i in range(max_committed + 1, idx + 1):
                commit_term[i] = int(r.get("term", 0))
            max_committed = max(max_committed, idx)
        elif kind == "leader-log":
            n_leader_logs += 1
            node = str(r["node"])
            terms = list(r.get("terms", []))
            # Leader completeness binds leaders of *later* terms than the one in which an
            # entry was committed; a node winning a stale, older term (say after a long
            # pause) is harmless and is not required to hold it.
            lterm = int(r.get("term", 0))
            missing = [
                (i, ct)
                for i, ct in sorted(committed_terms.items())
                if commit_term.get(i, ct) < lterm and (i > len(terms) or terms[i - 1] != ct)
            ]
            if missing:
                i, ct = missing[0]
                have = f"term {terms[i - 1]}" if i <= len(terms) else "nothing"
                add(
                    "leader-completeness",
                    t,
                    [node],
                    f"{node} became leader of term {r.get('term')} at {t} ms without committed entry {i} "
                    f"(term {ct}); its log has {have} there ({len(missing)} committed entries missing). "
                    "The vote's up-to-date check exists to prevent exactly this.",
                    index=i,
                    term=r.get("term"),
                )
        elif kind == "final-log":
            final_logs[str(r["node"])] = list(r.get("terms", []))
    nodes = sorted(final_logs)
    for a_i, a in enumerate(nodes):
        for b in nodes[a_i + 1 :]:
            la, lb = final_logs[a], final_logs[b]
            n = min(len(la), len(lb))
            last_same = next((i for i in range(n - 1, -1, -1) if la[i] == lb[i]), None)
            if last_same is None:
                continue
            diff = next((i for i in range(last_same) if la[i] != lb[i]), None)
            if diff is not None:
                add(
                    "log-matching",
                    int(recs[-1].get("t", 0)) if recs else 0,
                    [a, b],
                    f"logs of {a} and {b} agree at index {last_same + 1} (term {la[last_same]}) but differ "
                    f"earlier at index {diff + 1} (terms {la[diff]} vs {lb[diff]}).",
                    index=diff + 1,
                )
    verdict = "invalid" if violations else "valid"
    if violations:
        explanation = [v["text"] + _faults_clause(v["faults_active"]) for v in violations[:5]]
    else:
        explanation = [
            f"Raft safety held: {len(leaders)} terms had a leader, each exactly one; "
            f"{len(applied)} log indexes applied, all nodes agreeing on each"
            + (f"; {n_leader_logs} new leaders held every committed entry." if n_leader_logs else ".")
        ]
    return {
        "checker": "raft-safety",
        "verdict": verdict,
        "violations": violations,
        "explanation": explanation,
        "stats": {"terms_with_leader": len(leaders), "applied_indexes": len(applied), "leader_logs": n_leader_logs},
    }


def _double_voters(term_votes: dict[str, list[tuple[str, int]]], crashes: dict[str, list[int]]) -> str:
    """Name the nodes that voted for two candidates in one term, and any crash in between."""
    parts = []
    for voter in sorted(term_votes):
        cands = term_votes[voter]
        if len({c for c, _ in cands}) < 2:
            continue
        (c1, t1), (c2, t2) = cands[0], next(x for x in cands if x[0] != cands[0][0])
        between = [c for c in crashes.get(voter, []) if t1 <= c <= t2]
        crash = f", crashing at {between[0]} ms in between" if between else ""
        parts.append(f"{voter} voted for {c1} at {t1} ms and for {c2} at {t2} ms{crash}")
    return (" " + "; ".join(parts) + ".") if parts else ""


def _faults_clause(faults: list[str]) -> str:
    if not faults:
        return " No fault was active at that moment."
    return " Active faults: " + "; ".join(faults) + "."
