"""What the protocol did around a linearizability counterexample, read from the trace.

The linearizability checker speaks about operations only ("this read cannot be placed").
This module adds what the servers did, so the explanation names the real cause:

* who led which term around the counterexample, and which node answered the operation that
  could not be placed -- and *how* it answered a read: through a ReadIndex round, from a
  leader lease (and how old that lease was, on whose clock), or from local state without any
  check;
* acknowledged writes that no node ever applied: which node acknowledged them, whether it was
  cut off from the others then, and whether it crashed right after (the write lived in one
  log only);
* the faults active during the operations, or the ones that had just ended, with the gap.
"""

from __future__ import annotations

from typing import Any

from analysis.faultwindows import active_at, fault_clause, fault_windows, overlaps

WRITE_OPS = ("put", "write", "cas")
CRASH_AFTER_ACK_MS = 1000
"""A crash of the acknowledging node this soon after the ack is named as part of the story."""


def add_protocol_context(result: dict[str, Any], trace: list[dict[str, Any]]) -> None:
    """Extend ``result["explanation"]`` (and ``counterexample["context"]``) in place."""
    ce = result.get("counterexample")
    if not ce or not ce.get("ops"):
        return
    times = [t for o in ce["ops"] for t in (o.get("call_time"), o.get("ret_time")) if t is not None]
    if not times:
        return
    lo, hi = min(times) // 1_000_000, max(times) // 1_000_000
    leaders: list[tuple[int, int, str]] = []
    for r in trace:
        if r.get("kind") == "role" and r.get("role") == "leader" and r.get("t", 0) <= hi:
            leaders.append((int(r["t"]), int(r["term"]), str(r["node"])))
    before = [x for x in leaders if x[0] < lo][-1:]
    during = [x for x in leaders if x[0] >= lo]
    shown = before + during
    windows = fault_windows(trace)
    active = sorted({w["description"] for w in overlaps(windows, lo, hi)})
    ce["context"] = {
        "window_ms": [lo, hi],
        "leaders": [{"t": t, "term": term, "node": n} for t, term, n in shown],
        "faults_active": active,
    }
    words = []
    if shown:
        words.append(
            "Leaders around then: " + ", ".join(f"{n} (term {term}, from {t} ms)" for t, term, n in shown) + "."
        )
    served = _served_by(ce, trace, windows)
    if served:
        words.append(served)
    lost = lost_acknowledged_writes(ce, trace, windows)
    if lost:
        ce["context"]["lost_writes"] = [x["op"] for x in lost]
        words.extend(x["text"] for x in lost)
    nodes = [n for n in (ce.get("served_by"), *(x["node"] for x in lost)) if n]
    words.append(fault_clause(windows, lo, end=hi, nodes=nodes, subject="during these operations"))
    result["explanation"].extend(words)


def _completion_node(op: dict[str, Any], trace: list[dict[str, Any]]) -> tuple[str | None, str | None]:
    """(node, client id) that answered ``op``, from its ``client-complete`` record."""
    t_ret = op["ret_time"] // 1_000_000
    for r in trace:
        if (r.get("kind") == "client-complete" and r.get("t") == t_ret
                and r.get("process") == op["process"] and r.get("f") == op["f"]):
            return r.get("node"), r.get("client")
    return None, None


def _served_by(ce: dict[str, Any], trace: list[dict[str, Any]], windows: list[dict[str, Any]]) -> str:
    """Which node answered the operation that could not be placed, what it believed, and
    which read path it used."""
    blocker = next((o for o in ce["ops"] if o["id"] == ce.get("blocker")), None)
    if blocker is None or blocker.get("ret_time") is None:
        return ""
    t_ret = blocker["ret_time"] // 1_000_000
    node, _ = _completion_node(blocker, trace)
    if not node:
        return ""
    ce["served_by"] = node
    role = term = None
    for r in trace:
        if r.get("t", 0) > t_ret:
            break
        if r.get("kind") == "role" and r.get("node") == node:
            role, term = r.get("role"), r.get("term")
    newer = [r for r in trace if r.get("kind") == "role" and r.get("role") == "leader"
             and r.get("t", 0) <= t_ret and term is not None and r.get("term", 0) > term]
    text = f"Op {blocker['id']} was answered by {node}"
    if role is not None:
        text += f", which believed it was {role} of term {term}"
    if newer:
        last = newer[-1]
        text += f", although {last['node']} had been elected leader of term {last['term']} at {last['t']} ms"
    text += "."
    if blocker.get("f") in ("get", "read"):
        how = read_path(node, blocker, t_ret, trace, windows)
        if how:
            ce["read_path"] = how["mode"]
            text += " " + how["text"]
    return text


def read_path(node: str, op: dict[str, Any], t_ret: int, trace: list[dict[str, Any]],
              windows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """How ``node`` answered the read ``op``: the core's ``read`` record just before the reply."""
    read = None
    for r in trace:
        t = int(r.get("t", 0))
        if t > t_ret:
            break
        if r.get("kind") == "read" and r.get("node") == node and r.get("key") == op.get("key") and "mode" in r:
            read = r
    if read is None:
        return None
    mode = str(read["mode"])
    t = int(read.get("t", 0))
    if mode == "lease":
        return {"mode": mode, "text": f"It was a lease read: {node} answered at {t} ms from its own state, "
                                      "trusting its leader lease instead of a round trip. " + lease_age(node, t, trace, windows)}
    if mode == "leader_local":
        return {"mode": mode, "text": f"{node} answered at {t} ms from its own state without confirming it "
                                      "was still leader: no ReadIndex round, no lease."}
    if mode == "any_node":
        return {"mode": mode, "text": f"{node} answered at {t} ms from its own state machine although it was "
                                      "not the leader; a follower's state lags the leader's."}
    if mode == "read_index":
        return {"mode": mode, "text": f"{node} answered at {t} ms after a ReadIndex round (read index "
                                      f"{read.get('read_index')})."}
    return {"mode": mode, "text": f"{node} answered it at {t} ms ({mode} read)."}


def _cluster_size(trace: list[dict[str, Any]]) -> int:
    return len({r.get("node") for r in trace if r.get("kind") == "role" and r.get("node")})


def lease_age(node: str, t: int, trace: list[dict[str, Any]], windows: list[dict[str, Any]]) -> str:
    """How old the lease behind a read at ``t`` was, at least, and how ``node``'s clock ran.

    A lease starts when a heartbeat round is sent and lasts while a majority has acknowledged
    it.  With message tracing, the last time a majority's acknowledgements reached ``node``
    bounds the lease's start; without it, the start of a partition that cut ``node`` off does.
    """
    heard: dict[str, int] = {}
    for r in trace:
        rt = int(r.get("t", 0))
        if rt > t:
            break
        if r.get("kind") == "deliver" and r.get("dst") == node and r.get("msg") == "AppendEntriesResponse":
            heard[str(r.get("src"))] = rt
    n = _cluster_size(trace)
    need = n // 2  # acknowledgements from others that make a majority with the leader itself
    parts = []
    if need and len(heard) >= need:
        since = sorted(heard.values(), reverse=True)[need - 1]
        parts.append(f"A majority had last answered {node} at {since} ms, so the round its lease rested on "
                     f"was at least {t - since} ms old (real time).")
    else:
        cut = [w for w in active_at(windows, t) if w.get("fault") == "partition" and node in (w.get("targets") or [])]
        if cut:
            since = min(int(w["start"]) for w in cut)
            parts.append(f"{node} had been cut off since {since} ms, so the round its lease rested on was "
                         f"at least {t - since} ms old (real time).")
    clock = None
    for r in trace:
        if int(r.get("t", 0)) > t:
            break
        if r.get("kind") == "clock" and r.get("node") == node:
            clock = r
    if clock is not None and float(clock.get("rate", 1.0)) != 1.0:
        parts.append(f"Its clock was running at {float(clock['rate']):g}x real speed, so it measured the "
                     "lease's age on a clock that was wrong.")
    return " ".join(parts)


def lost_acknowledged_writes(ce: dict[str, Any], trace: list[dict[str, Any]],
                             windows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Acknowledged writes among the counterexample's operations that no node ever applied."""
    applied: set[tuple[str, int]] = set()
    for r in trace:
        if r.get("kind") == "apply":
            cmd = r.get("command")
            if isinstance(cmd, dict) and cmd.get("client_id") is not None:
                applied.add((str(cmd["client_id"]), int(cmd.get("seq", -1))))
    if not any(r.get("kind") == "apply" for r in trace):
        return []  # not a replicated log: nothing to compare with
    out = []
    for op in ce.get("ops", []):
        if op.get("f") not in WRITE_OPS or op.get("status") != "ok" or op.get("ret_time") is None:
            continue
        node, client = _completion_node(op, trace)
        if not node or not client:
            continue
        t_ret = op["ret_time"] // 1_000_000
        ack = None
        for r in trace:
            if int(r.get("t", 0)) > t_ret:
                break
            if r.get("kind") == "ack" and r.get("node") == node and r.get("client_id") == client:
                ack = r
        if ack is None or (client, int(ack.get("seq", -1))) in applied:
            continue
        t_ack = int(ack["t"])
        cut = [w for w in active_at(windows, t_ack) if w.get("fault") == "partition" and node in (w.get("targets") or [])]
        crash = next((r for r in trace if r.get("kind") == "crash" and r.get("node") == node
                      and t_ack <= int(r.get("t", 0)) <= t_ack + CRASH_AFTER_ACK_MS), None)
        text = (f"{op.get('text', op['f'])} (op {op['id']}) was acknowledged by {node} at {t_ack} ms, but no node "
                f"ever applied it: {node} said ok before a majority had stored it")
        if cut:
            text += f"; {node} was cut off from the other servers then ({cut[0]['description']})"
        if crash is not None:
            gap = int(crash["t"]) - t_ack
            text += f", and crashed at {crash['t']} ms, {gap} ms after acknowledging"
        text += (f", so the write existed only in {node}'s log and the leaders after it never had it. "
                 "An acknowledgement must wait for the commit (a majority), not for the local append.")
        out.append({"op": op["id"], "node": node, "text": text})
    return out


def root_causes(result: dict[str, Any], history: Any, trace: list[dict[str, Any]]) -> None:
    """Name the cause behind an invalid verdict where the trace shows one, in place.

    The linearizability checker names a symptom (a stale read).  Three causes a learner
    should be told apart are visible in the history and trace: an acknowledged write that
    no node ever applied (a lost write), a write its client reported as *failed* whose
    value was read anyway (a deadline taken for a failure), and a value put twice under two
    request ids (a retry without an idempotency key).  Found causes replace the symptom in
    ``anomaly_tags`` and are said in the explanation.
    """
    if result.get("verdict") != "invalid":
        return
    ce = result.get("counterexample") or {}
    causes: set[str] = set()
    if (ce.get("context") or {}).get("lost_writes"):
        causes.add("lost-write")
    blocker = next((o for o in ce.get("ops", []) if o.get("id") == ce.get("blocker")), None)
    if blocker is not None and blocker.get("f") in ("get", "read") and blocker.get("status") == "ok":
        key, seen = blocker.get("key"), _canon(blocker.get("output"))
        failed = _failed_write_of(history, key, seen)
        if failed is not None:
            causes.add("timeout-as-failure")
            result["explanation"].append(
                f"Op {blocker['id']} read {blocker.get('output')!r}, the value of {failed.f} {key} "
                f"{blocker.get('output')!r} (op {failed.id}, process {failed.process}), which its client "
                f"reported as failed at {_ms(failed.ret_time)}: its deadline passed, yet the write took "
                "effect. An expired deadline says nothing about whether an operation happened; report it "
                "as unknown (info), never as failed.")
        twice = _applied_twice(trace, key, seen)
        if twice is not None:
            causes.add("duplicate-effect")
            node, client, (s1, i1), (s2, i2) = twice
            result["explanation"].append(
                f"The value {blocker.get('output')!r} was put twice: {node} applied it as {client} seq {s1} "
                f"(entry {i1}) and again as {client} seq {s2} (entry {i2}). The client retried with a new "
                "request id, so no server could tell the retry from a new write, and the second copy "
                "undid the writes made in between. Retries must carry the same id (an idempotency key).")
    if causes:
        result["anomaly_tags"] = sorted(causes)


def _canon(v: Any) -> str:
    import json

    return json.dumps(v, sort_keys=True, default=str)


def _written(op: Any) -> Any:
    """The value a write operation stores (a cas stores its second element)."""
    if op.f == "cas" and isinstance(op.value, (list, tuple)) and len(op.value) == 2:
        return op.value[1]
    return op.value


def _failed_write_of(history: Any, key: Any, seen: str) -> Any:
    for op in getattr(history, "operations", ()):
        if op.status == "fail" and op.f in WRITE_OPS and op.key == key and _canon(_written(op)) == seen:
            return op
    return None


def _applied_twice(trace: list[dict[str, Any]], key: Any, seen: str) -> tuple[str, str, tuple[int, int], tuple[int, int]] | None:
    """``(node, client, (seq, index), (seq, index))`` when one node applied a put of ``key`` with
    this value under two request ids of one client."""
    first: dict[tuple[str, str], tuple[int, int]] = {}
    for r in trace:
        if r.get("kind") != "apply":
            continue
        cmd = r.get("command")
        if not isinstance(cmd, dict) or cmd.get("op") != "put" or cmd.get("key") != key:
            continue
        if _canon(cmd.get("value")) != seen:
            continue
        node, client, seq = str(r.get("node")), str(cmd.get("client_id")), int(cmd.get("seq", -1))
        prev = first.get((node, client))
        if prev is None:
            first[(node, client)] = (seq, int(r.get("index", -1)))
        elif prev[0] != seq:
            return node, client, prev, (seq, int(r.get("index", -1)))
    return None


def _ms(t_ns: int | None) -> str:
    return "an unknown time" if t_ns is None else f"{t_ns // 1_000_000} ms"
