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

Each violation names the nodes, terms, time and the faults active then (or, if none was, the
ones that had just ended), in plain words, and says *why* it could happen: the cause is read
from the trace (a voter that had the entry voted for a candidate without it; a voter lost
unsynced writes in a crash; an older term's entry was committed by counting replicas) and,
when the run says which flaws were switched on, from the flaw -- never assumed.
"""

from __future__ import annotations

import json
import marshal
from collections.abc import Iterable, Iterator
from typing import Any

from analysis.faultwindows import active_at, fault_clause, fault_windows

MAX_VIOLATIONS = 20
ANOMALY = {
    "election-safety": "two-leaders",
    "state-machine-safety": "divergent-replicas",
    "log-matching": "divergent-replicas",
    "leader-completeness": "lost-write",
}
"""Each invariant's word in the learner's vocabulary (:mod:`analysis.anomalies`): a leader
without a committed entry has lost a committed write."""

FLAW_CAUSES: dict[str, str] = {
    "skip_up_to_date_check": (
        "voters grant their vote without comparing logs (flaw skip_up_to_date_check), and the vote's "
        "up-to-date check is what carries every committed entry to the next leader"
    ),
    "no_fsync_log": (
        "logs are never synced (flaw no_fsync_log): nodes that crashed lost entries they had "
        "acknowledged, and voted as if they had never had them"
    ),
    "commit_old_terms_by_count": (
        "a leader counted replicas of an entry from an older term and called it committed (flaw "
        "commit_old_terms_by_count); a candidate with a newer last term can still win without it "
        "(Raft paper, Figure 8): only entries of the leader's own term may be committed by counting"
    ),
    "vote_twice_in_term": (
        "nodes grant a second vote in a term (flaw vote_twice_in_term), so two leaders of one term "
        "overwrite each other's entries"
    ),
    "no_persist_vote": (
        "votes are not persisted (flaw no_persist_vote), so a restarted node votes again in the same "
        "term and two leaders of one term overwrite each other's entries"
    ),
}
"""What each Raft flaw does to leader completeness, for when the trace alone cannot tell."""

_KINDS = frozenset(("vote", "crash", "role", "apply", "commit", "leader-log", "final-log"))
"""The record kinds the check reads; a trace is mostly others (wire records, reads, acks)."""


_ENCODE_KEY = json.JSONEncoder(sort_keys=True, default=str).encode


def _cmd_key(cmd: Any) -> str:
    """A command as canonical JSON: two applied commands are the same command when these agree."""
    return _ENCODE_KEY(cmd)


_LEAVES = frozenset((str, int, float, bool, type(None)))
_CONTAINERS = frozenset((list, tuple, dict))


def _plain(value: Any) -> bool:
    """Whether ``value`` is built only of the exact types JSON and marshal both treat as
    themselves: ``None``, ``bool``, ``int``, ``float``, ``str``, ``list``, ``tuple`` and
    ``dict`` with keys of the scalar ones.  Subclasses are not: ``json`` writes an ``IntEnum``
    as its number, and buffers (``bytes``, ``bytearray``) or code objects go through
    ``default=str``, where equal marshal bytes would not mean equal JSON."""
    kind = type(value)
    if kind in _LEAVES:
        return True
    if kind is dict:
        if not _LEAVES.issuperset(map(type, value)):
            return False
        items: Iterable[Any] = value.values()
    elif kind is list or kind is tuple:
        items = value
    else:
        return False
    for v in items:
        kind = type(v)
        if kind in _LEAVES or (kind in _CONTAINERS and _plain(v)):
            continue
        return False
    return True


def _signature(cmd: Any) -> bytes | None:
    """A byte string that is equal for two commands only if their canonical JSON is equal,
    or None when ``cmd`` has no such cheap signature (then only :func:`_cmd_key` can say).

    marshal (format 2: no back-references, no interning flags, so sharing does not change
    the bytes) writes each exact type with its own code -- ``1``, ``1.0`` and ``True`` apart,
    ``-0.0`` apart from ``0.0``, a list apart from a tuple -- and a dict in its insertion
    order: equal bytes mean equal types and values in the same order, so equal canonical
    JSON.  Unequal bytes prove nothing (key order, list vs tuple), which the caller then
    settles with :func:`_cmd_key`.  Only a :func:`_plain` command gets a signature: marshal
    writes every buffer (``bytes``, ``bytearray``, ``memoryview``) alike."""
    if not _plain(cmd):
        return None
    try:
        return marshal.dumps(cmd, 2)
    except (ValueError, RecursionError):  # nested deeper than marshal goes
        return None


class _AppliedCommands:
    """The first command applied at each index, and whether a later one is the same command
    (canonical JSON equal: :func:`_cmd_key`).

    Every node applies every index, so this runs once per ``apply`` record: the first
    command's signature is made once per index, each later command's once, and the JSON
    encoder runs only when the signatures cannot tell."""

    __slots__ = ("_signatures",)

    def __init__(self) -> None:
        self._signatures: dict[int, bytes | None] = {}

    def same(self, index: int, first: Any, cmd: Any) -> bool:
        if cmd is first:
            return True
        sigs = self._signatures
        if index in sigs:
            sig = sigs[index]
        else:
            sig = sigs[index] = _signature(first)
        if sig is not None:
            try:
                if marshal.dumps(cmd, 2) == sig:
                    return True
            except ValueError:  # a type marshal does not write: the JSON says
                pass
        return _cmd_key(first) == _cmd_key(cmd)


def check_trace(records: Iterable[dict[str, Any]], flaws: Iterable[str] = ()) -> dict[str, Any]:
    """Check the four properties on a trace; ``flaws`` (the run's switched-on flaws, if known)
    only sharpens the explanation of a cause the trace cannot show by itself.

    Most runs are valid, and proving that needs far less than explaining a violation (who
    voted for whom, which node had applied what and when): :func:`_valid_counts` tries the
    proof first, and any doubt hands the trace to :func:`_check_in_order`, which finds and
    explains every violation."""
    recs = records if isinstance(records, list) else list(records)
    counts = _valid_counts(recs)
    if counts is not None:
        return _result([], set(), *counts)
    return _check_in_order(recs, tuple(flaws))


def _result(violations: list[dict[str, Any]], tags: set[str], terms_with_leader: int, applied_indexes: int,
            leader_logs: int) -> dict[str, Any]:
    if violations:
        explanation = [v["text"] + " " + v["fault_context"] for v in violations[:5]]
    else:
        explanation = [
            f"Raft safety held: {terms_with_leader} terms had a leader, each exactly one; "
            f"{applied_indexes} log indexes applied, all nodes agreeing on each"
            + (f"; {leader_logs} new leaders held every committed entry." if leader_logs else ".")
        ]
    return {
        "checker": "raft-safety",
        "verdict": "invalid" if violations else "valid",
        "violations": violations,
        "anomaly_tags": sorted(tags),
        "explanation": explanation,
        "stats": {"terms_with_leader": terms_with_leader, "applied_indexes": applied_indexes,
                  "leader_logs": leader_logs},
    }


def _missing_committed(committed_terms: dict[int, int], commit_term: dict[int, int], terms: list[Any],
                       lterm: int) -> list[tuple[int, int]]:
    """``(index, entry term)`` of the entries committed before term ``lterm`` that a leader of
    ``lterm`` with log ``terms`` lacks.  Leader completeness binds leaders of *later* terms
    than the one in which an entry was committed; a node winning a stale, older term (say
    after a long pause) is harmless and is not required to hold it."""
    return [
        (i, ct)
        for i, ct in sorted(committed_terms.items())
        if commit_term.get(i, ct) < lterm and (i > len(terms) or terms[i - 1] != ct)
    ]


def _log_mismatches(final_logs: dict[str, list[Any]]) -> Iterator[tuple[str, str, int, int]]:
    """``(a, b, last_same, diff)`` for each pair of final logs that agree at position
    ``last_same`` but differ at the earlier ``diff`` (0-based), in node order."""
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
                yield a, b, last_same, diff


def _valid_counts(recs: list[dict[str, Any]]) -> tuple[int, int, int] | None:
    """``(terms with a leader, applied indexes, leader logs)`` if the trace holds no violation
    of any of the four properties, else None (and None whenever it cannot be sure cheaply).

    It decides each property exactly as :func:`_check_in_order` does, but keeps only what the
    decision needs: one leader per term, each index's first applied entry (term and command),
    the commit progress, and the final logs.  The votes, crashes, roles, apply times and nodes
    that explain a violation are left to :func:`_check_in_order`, so fields only an
    explanation reads are not validated here.  Each record is read once, while it is at
    hand: on a trace of tens of thousands of records, a second visit costs as much as the
    work.
    """
    leaders: dict[int, str] = {}
    first_command: dict[int, Any] = {}  # index -> the command first applied there
    same_command = _AppliedCommands().same
    committed_terms: dict[int, int] = {}  # index -> the term of its first applied entry
    commit_term: dict[int, int] = {}  # index -> the term in which it was first known committed
    max_committed = 0
    final_logs: dict[str, list[Any]] = {}
    n_leader_logs = 0
    for r in recs:
        kind = r.get("kind")
        if kind == "apply":
            idx = r["index"]
            if type(idx) is not int:
                idx = int(idx)
            term = r.get("term", -1)
            if type(term) is not int:
                term = int(term)
            first_term = committed_terms.get(idx)
            if first_term is None:
                committed_terms[idx] = term
                first_command[idx] = r.get("command")
            elif first_term != term or not same_command(idx, first_command[idx], r.get("command")):
                return None
        elif kind == "commit":
            idx = r.get("index", 0)
            if type(idx) is not int:
                idx = int(idx)
            if idx > max_committed:
                term = r.get("term", 0)
                if type(term) is not int:
                    term = int(term)
                for i in range(max_committed + 1, idx + 1):
                    commit_term[i] = term
                max_committed = idx
        elif kind == "role":
            if r.get("role") == "leader":
                node = str(r["node"])
                if leaders.setdefault(int(r["term"]), node) != node:
                    return None
        elif kind == "leader-log":
            n_leader_logs += 1
            if _missing_committed(committed_terms, commit_term, list(r.get("terms", [])), int(r.get("term", 0))):
                return None
        elif kind == "final-log":
            final_logs[str(r["node"])] = list(r.get("terms", []))
    if next(_log_mismatches(final_logs), None) is not None:
        return None
    return len(leaders), len(committed_terms), n_leader_logs


def _check_in_order(recs: list[dict[str, Any]], flaws: tuple[str, ...]) -> dict[str, Any]:
    """The four properties, record by record, with every violation explained (see module doc)."""
    # Only a violation quotes the faults, so a valid run never pays for the windows' pass.
    windows: list[dict[str, Any]] | None = None
    violations: list[dict[str, Any]] = []
    tags: set[str] = set()

    def add(invariant: str, t: int, nodes: list[str], text: str, **extra: Any) -> None:
        nonlocal windows
        tags.add(ANOMALY[invariant])
        if len(violations) >= MAX_VIOLATIONS:
            return
        if windows is None:
            windows = fault_windows(recs)
        faults = [w["description"] for w in active_at(windows, t)]
        v = {"invariant": invariant, "t": t, "nodes": nodes, "text": text, "faults_active": faults,
             "fault_context": fault_clause(windows, t, nodes=nodes)}
        v.update(extra)
        violations.append(v)

    leaders: dict[int, tuple[str, int]] = {}
    votes: dict[int, dict[str, list[tuple[str, int]]]] = {}  # term -> voter -> [(candidate, t)]
    crashes: dict[str, list[int]] = {}
    lossy_crashes: dict[str, list[tuple[int, int]]] = {}  # node -> [(t, unsynced writes lost)]
    applied_by: dict[int, dict[str, int]] = {}  # index -> node -> first time it applied it
    commit_records: list[tuple[int, int, str, int]] = []  # (index, leader term, node, t)
    roles: dict[str, tuple[str, int]] = {}  # node -> (role, term) as last recorded
    applied: dict[int, tuple[int, Any, str, int]] = {}  # index -> (term, command, node, t)
    committed_terms: dict[int, int] = {}  # index -> entry term, of entries known applied (committed)
    commit_term: dict[int, int] = {}  # index -> the term in which it was first known committed
    max_committed = 0
    final_logs: dict[str, list[int]] = {}
    n_leader_logs = 0
    same_command = _AppliedCommands().same
    for r in recs:
        kind = r.get("kind")
        if kind == "apply":
            t = int(r.get("t", 0))
            idx = int(r["index"])
            term = int(r.get("term", -1))
            cmd = r.get("command")
            node = str(r["node"])
            applied_by.setdefault(idx, {}).setdefault(node, t)
            prev_a = applied.get(idx)
            if prev_a is None:
                applied[idx] = (term, cmd, node, t)
                committed_terms[idx] = term
            elif prev_a[0] != term or not same_command(idx, prev_a[1], cmd):
                add(
                    "state-machine-safety",
                    t,
                    [prev_a[2], node],
                    f"{prev_a[2]} applied entry {idx} from term {prev_a[0]} ({_cmd_key(prev_a[1])}) at "
                    f"{prev_a[3]} ms, but {node} applied a different entry {idx} from term {term} "
                    f"({_cmd_key(cmd)}) at {t} ms: a committed entry was overwritten.",
                    index=idx,
                )
            continue
        if kind == "commit":
            t = int(r.get("t", 0))
            idx = int(r.get("index", 0))
            term = int(r.get("term", 0))
            for i in range(max_committed + 1, idx + 1):
                commit_term[i] = term
            max_committed = max(max_committed, idx)
            # Only a leader's commit index says what it counted; a follower's may rest on an
            # older-term entry legitimately (it has not received the leader's newer ones yet).
            node = str(r.get("node"))
            if roles.get(node) == ("leader", term):
                commit_records.append((idx, term, node, t))
            continue
        if kind not in _KINDS:
            continue
        t = int(r.get("t", 0))
        if kind == "vote":
            votes.setdefault(int(r.get("term", -1)), {}).setdefault(str(r.get("node")), []).append(
                (str(r.get("candidate")), t))
        elif kind == "crash":
            crashes.setdefault(str(r.get("node")), []).append(t)
            if int(r.get("lost_writes", 0) or 0) > 0:
                lossy_crashes.setdefault(str(r.get("node")), []).append((t, int(r["lost_writes"])))
        if kind == "role":
            roles[str(r.get("node"))] = (str(r.get("role")), int(r.get("term", -1)))
        if kind == "crash":
            roles.pop(str(r.get("node")), None)
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
                    + _double_voters(votes.get(term, {}), crashes)
                    + _term_reused(term, [prev[0], node], votes.get(term, {}), lossy_crashes, t),
                    term=term,
                )
        elif kind == "leader-log":
            n_leader_logs += 1
            node = str(r["node"])
            terms = list(r.get("terms", []))
            lterm = int(r.get("term", 0))
            missing = _missing_committed(committed_terms, commit_term, terms, lterm)
            if missing:
                i, ct = missing[0]
                have = f"term {terms[i - 1]}" if i <= len(terms) else "nothing"
                # The snapshot is taken after the new leader appended its no-op; the vote judged
                # the log without it.
                voted_log = terms[:-1] if terms and terms[-1] == lterm else terms
                cause = _completeness_cause(
                    i, ct, node, voted_log, t, votes.get(lterm, {}), applied_by, lossy_crashes,
                    _old_term_commit(i, commit_records, committed_terms), flaws,
                )
                voters = sorted(v for v, c in votes.get(lterm, {}).items() if any(x == node for x, _ in c))
                add(
                    "leader-completeness",
                    t,
                    [node, *voters],
                    f"{node} became leader of term {r.get('term')} at {t} ms without committed entry {i} "
                    f"(term {ct}); its log has {have} there ({len(missing)} committed entries missing). "
                    + cause,
                    index=i,
                    term=r.get("term"),
                )
        elif kind == "final-log":
            final_logs[str(r["node"])] = list(r.get("terms", []))
    for a, b, last_same, diff in _log_mismatches(final_logs):
        la, lb = final_logs[a], final_logs[b]
        add(
            "log-matching",
            int(recs[-1].get("t", 0)) if recs else 0,
            [a, b],
            f"logs of {a} and {b} agree at index {last_same + 1} (term {la[last_same]}) but differ "
            f"earlier at index {diff + 1} (terms {la[diff]} vs {lb[diff]}).",
            index=diff + 1,
        )
    return _result(violations, tags, len(leaders), len(applied), n_leader_logs)


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


def _term_reused(term: int, leaders: list[str], term_votes: dict[str, list[tuple[str, int]]],
                 lossy: dict[str, list[tuple[int, int]]], t: int) -> str:
    """Name the nodes whose crash lost unsynced writes (term and vote among them) before ``t``."""
    involved = sorted(set(leaders) | set(term_votes))
    lost = [(n, ct, k) for n in involved for ct, k in lossy.get(n, []) if ct <= t]
    if not lost:
        return ""
    shown = "; ".join(f"{n} crashed at {ct} ms and lost {k} unsynced writes" for n, ct, k in lost[:4])
    return (f" {shown}: a node that forgets its term and vote can take part in term {term} a second time."
            " Term and vote must be synced before the node answers.")


def _old_term_commit(index: int, commits: list[tuple[int, int, str, int]],
                     entry_terms: dict[int, int]) -> tuple[int, int, str, int] | None:
    """The commit that covered ``index`` by counting an entry of an older term, if any:
    ``(entry index, leader term, leader, t)``.  In correct Raft a leader's commit index always
    points at an entry of its own term."""
    for idx, term, node, t in commits:
        if idx >= index and entry_terms.get(idx) is not None and entry_terms[idx] < term:
            return idx, term, node, t
    return None


def _completeness_cause(index: int, entry_term: int, leader: str, leader_log: list[int], t: int,
                        term_votes: dict[str, list[tuple[str, int]]], applied_by: dict[int, dict[str, int]],
                        lossy: dict[str, list[tuple[int, int]]],
                        old_commit: tuple[int, int, str, int] | None, flaws: tuple[str, ...]) -> str:
    """Why a leader could be elected without a committed entry, from the trace, then the flaws."""
    voters = sorted(v for v, cands in term_votes.items() if any(c == leader and vt <= t for c, vt in cands))
    had = applied_by.get(index, {})
    reasons: list[str] = []
    if old_commit is not None:
        idx, lterm, lnode, ct = old_commit
        reasons.append(
            f"Entry {index} was counted as committed at {ct} ms by {lnode}, leader of term {lterm}, when its "
            f"commit index reached entry {idx} of the older term {entry_term}: it was on a majority, but a "
            f"majority of an old term's entry is not safe (Raft paper, Figure 8); a leader may commit by "
            f"counting only entries of its own term."
        )
    forgot = []
    for v in voters:
        first = had.get(v)
        vote_t = min(vt for c, vt in term_votes[v] if c == leader)
        losses = [(ct, k) for ct, k in lossy.get(v, []) if (first is None or ct >= first) and ct <= vote_t]
        if losses:
            forgot.append(f"{v} (crashed at {losses[-1][0]} ms, losing {losses[-1][1]} unsynced writes)")
    if forgot:
        reasons.append(
            f"Voters that lost entries they had acknowledged: {', '.join(forgot)}; their restarted logs "
            f"looked no longer than {leader}'s, so their votes were honest and the entry was gone. "
            "Acknowledging an entry must mean it is on stable storage (fsync)."
        )
    holders = [v for v in voters if v in had and had[v] <= t and not any(f.startswith(v + " ") for f in forgot)]
    last_term = leader_log[-1] if leader_log else 0
    # A voter holding entry (index, entry_term) has a last log term >= entry_term, and a log at
    # least that long if equal; a candidate below that cannot pass a working up-to-date check.
    behind = last_term < entry_term or (last_term == entry_term and len(leader_log) < index)
    if holders and behind:
        reasons.append(
            f"{', '.join(holders)} had applied entry {index} yet voted for {leader}, whose log ended at "
            f"term {last_term}, index {len(leader_log)}: the vote's up-to-date check (compare last log "
            "term, then length) should have refused it and did not."
        )
    elif holders:
        reasons.append(
            f"{', '.join(holders)} had applied entry {index} and still voted for {leader}, rightly: "
            f"{leader}'s log ended with term {last_term}, newer than the entry's term {entry_term}, and "
            "the up-to-date check compares last terms first. The check worked; the entry should never "
            "have counted as committed."
        )
    known = [FLAW_CAUSES[f] for f in flaws if f in FLAW_CAUSES]
    if known:
        reasons.append("Switched-on flaw: " + "; ".join(known) + ".")
    if not reasons:
        reasons.append(
            "A leader must hold every committed entry: the vote's up-to-date check, synced logs and "
            "committing only current-term entries by counting are what guarantee it; the trace does not "
            "show which of them failed here."
        )
    return " ".join(reasons)
