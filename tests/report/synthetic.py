"""Synthetic results folders with the real schema, for report tests, benchmarks and screenshots.

The report must be testable without the simulator (which other people are changing), so
this module writes folders that look like ``splitbrain run`` output: a key-value history
of register reads and writes, a trace with a leader, heartbeats, client messages, a
partition that moves leadership, a crash and a pause, and checker results.  Three kinds:

* ``valid``   -- every checker passes;
* ``invalid`` -- one read returns a stale value and the linearizability result carries a
  counterexample (blocker, preceding, concurrent, prefix) pointing at real op ids;
* ``raft``    -- the history is fine but raft-safety reports two leaders in one term.

Values include markup (``<script>``...) on purpose: the report must escape them.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from analysis.records import write_jsonl

NASTY = '<script>alert("x")</script>&amp;'


def _dump(path: Path, records: list[dict[str, Any]]) -> None:
    write_jsonl(path, records)


def make_run(folder: Path, *, ops: int = 300, kind: str = "valid", clients: int = 5, nodes: int = 5,
             seed: int = 1, wire: bool = True, name: str | None = None) -> Path:
    """Write a complete results folder under ``folder`` and return it."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    node_ids = [f"n{i}" for i in range(1, nodes + 1)]
    mean_gap = 9.0
    duration = max(2000, int(ops * 13.0 / clients) + 400)
    part = (int(duration * 0.30), int(duration * 0.50))
    crash = (int(duration * 0.62), int(duration * 0.70))
    pause = (int(duration * 0.78), int(duration * 0.82))
    trace: list[dict[str, Any]] = []
    mid = [0]

    def rec(t: float, k: str, **kw: Any) -> None:
        trace.append({"t": int(t), "kind": k, **kw})

    def msg(t: float, src: str, dst: str, m: str, delay: float, dropped: bool = False, **kw: Any) -> None:
        if not wire:
            return
        mid[0] += 1
        rec(t, "send", src=src, dst=dst, msg=m, mid=mid[0], **kw)
        if dropped:
            rec(t, "drop", src=src, dst=dst, msg=m, mid=mid[0], reason="cut", **kw)
        else:
            rec(t + delay, "deliver", src=src, dst=dst, msg=m, mid=mid[0], **kw)

    for n in node_ids:
        rec(0, "role", node=n, role="follower", term=0)
    rec(150, "election", node="n1", term=1)
    rec(150, "role", node="n1", role="candidate", term=1)
    rec(155, "role", node="n1", role="leader", term=1)
    rec(155, "leader-log", node="n1", term=1, terms=[])
    rec(part[0], "fault-start", id=1, fault="partition", description="isolate n1 from the rest",
        targets=["n1"], groups=[["n1"], node_ids[1:]])
    rec(part[0] + 160, "election", node="n2", term=2)
    rec(part[0] + 160, "role", node="n2", role="candidate", term=2)
    rec(part[0] + 170, "role", node="n2", role="leader", term=2)
    rec(part[0] + 170, "leader-log", node="n2", term=2, terms=[1])
    if kind == "raft":
        rec(part[0] + 190, "role", node="n3", role="candidate", term=2)
        rec(part[0] + 200, "role", node="n3", role="leader", term=2)
    rec(part[1], "fault-end", id=1, fault="partition", description="isolate n1 from the rest", targets=["n1"])
    rec(part[1] + 12, "role", node="n1", role="follower", term=2)
    if kind == "raft":
        rec(part[1] + 15, "role", node="n3", role="follower", term=2)
    rec(crash[0], "fault-start", id=2, fault="crash", description="crash n3 (losing unsynced writes)",
        targets=["n3"])
    rec(crash[0], "crash", node="n3", lost_writes=0)
    rec(crash[1], "restart", node="n3", incarnation=1)
    rec(crash[1], "fault-end", id=2, fault="crash", description="crash n3 (losing unsynced writes)",
        targets=["n3"])
    rec(crash[1] + 1, "role", node="n3", role="follower", term=2)
    rec(pause[0], "fault-start", id=3, fault="pause", description="pause n4", targets=["n4"])
    rec(pause[0], "pause", node="n4")
    rec(pause[1], "resume", node="n4", queued=3)
    rec(pause[1], "fault-end", id=3, fault="pause", description="pause n4", targets=["n4"])

    def leader_at(t: float) -> tuple[str, int]:
        return ("n2", 2) if t >= part[0] + 170 else ("n1", 1)

    # heartbeats
    if wire:
        t = 160.0
        while t < duration:
            ld, term = leader_at(t)
            for n in node_ids:
                if n == ld:
                    continue
                cut = part[0] <= t < part[1] and ("n1" in (ld, n))
                down = crash[0] <= t < crash[1] and n == "n3"
                msg(t, ld, n, "AppendEntries", 1 + rng.random() * 2, dropped=cut or down, term=term)
                if not (cut or down):
                    msg(t + 3, n, ld, "AppendEntriesResponse", 1 + rng.random() * 2, term=term)
            t += 50
    # the history
    history: list[dict[str, Any]] = []
    now = [100.0 + rng.random() * 20 for _ in range(clients)]
    last_val: dict[str, Any] = {"k0": None, "k1": None}
    op_meta: list[dict[str, Any]] = []
    per_client = [ops // clients + (1 if c < ops % clients else 0) for c in range(clients)]
    order: list[tuple[float, int, int]] = []
    counters = [0] * clients
    for c in range(clients):
        for _ in range(per_client[c]):
            start = now[c]
            in_part = part[0] <= start < part[0] + 170
            lat = rng.uniform(2, 14) + (rng.uniform(40, 140) if in_part else 0.0)
            end = start + lat
            now[c] = end + rng.uniform(0.5, mean_gap)
            order.append((start, c, counters[c]))
            counters[c] += 1
            op_meta.append({"c": c, "start": start, "end": end, "in_part": in_part})
    # build ops in invocation order so ids follow the History's numbering
    op_meta.sort(key=lambda m: (m["start"], m["c"]))
    timeline: list[tuple[float, int, str, int]] = []  # (time, order, invoke/complete, op index)
    for i, m in enumerate(op_meta):
        m["key"] = "k0" if rng.random() < 0.6 else "k1"
        m["f"] = "put" if rng.random() < 0.45 else "get"
        m["value"] = c_val(m["c"], i) if m["f"] == "put" else None
        if m["f"] == "put" and i % 97 == 13:
            m["value"] = NASTY
        r = rng.random()
        m["status"] = "ok"
        if m["in_part"]:
            m["status"] = "info" if r < 0.15 else ("fail" if r < 0.45 else "ok")
        elif r < 0.01:
            m["status"] = "fail"
        timeline.append((m["start"], 0, "invoke", i))
        timeline.append((m["end"], 1, "complete", i))
    timeline.sort()
    # choose a stale read for the invalid kind: a k0 read around 40% of the run
    stale: int | None = None
    if kind == "invalid":
        target = duration * 0.42
        cands = [i for i, m in enumerate(op_meta) if m["key"] == "k0" and m["f"] == "get"
                 and m["status"] == "ok" and m["start"] >= target]
        stale = cands[0] if cands else None
    writes_done: list[tuple[float, int]] = []  # (end, id) of ok writes to k0
    old_value: Any = None
    for t, _, what, i in timeline:
        m = op_meta[i]
        c = m["c"]
        ld, term = leader_at(t)
        inv = {"process": c, "type": "invoke", "f": m["f"], "key": m["key"], "value": m["value"],
               "time": int(t * 1_000_000)}
        if what == "invoke":
            history.append(inv)
            rec(t, "client-invoke", process=c, client=f"c{c}", f=m["f"], key=m["key"], value=_j(m["value"]))
            msg(t, f"c{c}", ld, "ClientRequest", 0.8, op=m["f"], seq=i)
            continue
        value: Any = None
        if m["f"] == "get":
            value = last_val[m["key"]]
            if i == stale:
                value = old_value
        if m["f"] == "put" and m["status"] == "ok":
            if m["key"] == "k0":
                if len(writes_done) == 6:
                    old_value = last_val["k0"]
                writes_done.append((t, i))
            last_val[m["key"]] = m["value"]
        if m["status"] == "info" and m["f"] == "put" and rng.random() < 0.5:
            last_val[m["key"]] = m["value"]
        history.append({"process": c, "type": m["status"], "f": m["f"], "key": m["key"],
                        "value": value if m["f"] == "get" else m["value"], "time": int(t * 1_000_000)})
        m["output"] = value
        rec(t, "client-complete", process=c, client=f"c{c}", f=m["f"], key=m["key"], type=m["status"],
            node=ld, attempts=1, value=_j(value))
        msg(max(t - 0.8, m["start"]), ld, f"c{c}", "ClientReply", 0.8, status=m["status"], seq=i)
        if m["status"] == "ok" and m["f"] == "put":
            rec(t - 1, "commit", node=ld, index=len(writes_done), term=term)
            rec(t - 1, "apply", node=ld, index=len(writes_done), term=term, command={"put": m["key"]})
    trace.sort(key=lambda r: r["t"])
    for n in node_ids:
        trace.append({"t": duration, "kind": "final-log", "node": n, "terms": [1, 1, 2]})
    _dump(folder / "history.jsonl", history)
    _dump(folder / "trace.jsonl", trace)
    scenario = {
        "name": name or f"synthetic-{kind}", "summary": f"a synthetic {kind} run for the report's tests",
        "description": "", "system": "raft-kv", "engines": ["sim"], "nodes": nodes, "clients": clients,
        "duration_ms": duration, "time_limit_s": 60.0, "seed": seed, "tick_ms": 10, "workload": {},
        "faults": [], "flaws": ["read_from_any_node"] if kind == "invalid" else [], "config": {},
        "client": {}, "network": {}, "checkers": ["linearizability", "raft-safety"], "model": "kv-register",
        "expect": "invalid" if kind != "valid" else "valid", "twin": None,
        "teaches": "a synthetic scenario", "predict": "",
    }
    (folder / "scenario.json").write_text(json.dumps(scenario, indent=2, sort_keys=True) + "\n")
    lin = _lin_result(op_meta, stale, writes_done, len(op_meta), part)
    raft = _raft_result(kind, part)
    verdict = "invalid" if kind in ("invalid", "raft") else "valid"
    results = {"verdict": verdict, "checkers": [lin, raft]}
    (folder / "results.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    counts = {s: sum(1 for m in op_meta if m["status"] == s) for s in ("ok", "fail", "info")}
    metrics = {"stats": {"operations": len(op_meta), **counts, "simulated_ms": duration, "elections": 2,
                         "leader_changes": 2, "faults_applied": 3, "trace_records": len(trace)},
               "coverage": [
                   f"isolate n1 from the rest ({part[0]}-{part[1]} ms): operations were invoked during it; "
                   "1 election(s) started; new leaders: n2.",
                   f"pause n4 ({pause[0]}-{pause[1]} ms): no election happened while it was active."]}
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return folder


def c_val(c: int, i: int) -> int:
    return (c + 1) * 1_000_000 + i


def _j(v: Any) -> Any:
    return v


def _op_json(i: int, m: dict[str, Any]) -> dict[str, Any]:
    text = (f"write {m['key']} {m['value']}" if m["f"] == "put"
            else f"read {m['key']} -> {m.get('output')}")
    return {"id": i, "process": m["c"], "f": m["f"], "key": m["key"], "value": m["value"],
            "output": m.get("output"), "status": m["status"], "call_time": int(m["start"] * 1e6),
            "ret_time": int(m["end"] * 1e6), "text": text}


def _lin_result(op_meta: list[dict[str, Any]], stale: int | None, writes: list[tuple[float, int]],
                n_ops: int, part: tuple[int, int]) -> dict[str, Any]:
    base = {"checker": "linearizability", "model": "kv-register", "elapsed_s": 0.01, "states": 321,
            "operations": n_ops, "reason": None, "hint": None}
    if stale is None:
        return {**base, "verdict": "valid", "partitions": {"valid": 2, "invalid": 0, "unknown": 0},
                "explanation": [f"Linearizable: every operation can be placed in one order that respects real "
                                f"time and the kv-register model ({n_ops} operations checked, 321 states explored)."]}
    b = op_meta[stale]
    k0 = [i for i, m in enumerate(op_meta) if m["key"] == "k0"]
    preceding = [i for _, i in writes if op_meta[i]["end"] < b["start"]][-3:]
    concurrent = [i for i in k0 if i != stale and op_meta[i]["f"] == "put"
                  and op_meta[i]["start"] <= b["end"] and op_meta[i]["end"] >= b["start"]]
    prefix = [i for i in k0 if op_meta[i]["end"] < b["start"] and op_meta[i]["status"] == "ok"]
    involved = sorted({stale, *preceding, *concurrent})
    what = f"read k0 -> {b.get('output')}"
    last = op_meta[preceding[-1]]["value"] if preceding else None
    return {**base, "verdict": "invalid", "partitions": {"valid": 1, "invalid": 1, "unknown": 0},
            "counterexample": {
                "key": "k0", "prefix": prefix, "blocker": stale, "candidates": [stale],
                "state_after_prefix": str(last), "possible_states": [str(last)], "illegal_states": [str(last)],
                "concurrent": concurrent, "preceding": preceding,
                "ops": [_op_json(i, op_meta[i]) for i in involved],
                "context": {"window_ms": [int(min(op_meta[i]["start"] for i in involved)),
                                          int(max(op_meta[i]["end"] for i in involved))],
                            "leaders": [{"t": 155, "term": 1, "node": "n1"}], "faults_active": []}},
            "explanation": [
                f"Not linearizable on key 'k0': {what} (op {stale}, process {b['c']}) cannot be placed in any "
                "order of the operations that respects real time and the model.",
                f"Whenever it could have taken effect, the state was {last}, and the operation is impossible "
                "in each of those states.",
                "Leaders around then: n1 (term 1, from 155 ms).",
                "No fault was active during these operations."]}


def _raft_result(kind: str, part: tuple[int, int]) -> dict[str, Any]:
    if kind != "raft":
        return {"checker": "raft-safety", "verdict": "valid", "violations": [],
                "explanation": ["Raft safety held: 2 terms had a leader, each exactly one."],
                "stats": {"terms_with_leader": 2, "applied_indexes": 10, "leader_logs": 2}}
    t = part[0] + 200
    text = (f"two leaders in term 2: n2 became leader at {part[0] + 170} ms and n3 at {t} ms. A node must vote "
            "at most once per term, and remember it.")
    return {"checker": "raft-safety", "verdict": "invalid",
            "violations": [{"invariant": "election-safety", "t": t, "nodes": ["n2", "n3"], "text": text,
                            "faults_active": ["isolate n1 from the rest"], "term": 2}],
            "explanation": [text + " Active faults: isolate n1 from the rest."],
            "stats": {"terms_with_leader": 2, "applied_indexes": 10, "leader_logs": 2}}
