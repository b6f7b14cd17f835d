"""Generate send/poll histories from a correct model of a partitioned log, for tests and
benchmarks of the log checker (:mod:`analysis.log_consumer`).

The model is what Kafka promises: each key (partition) is an append-only list; a send
that is acknowledged was appended at the offset it was told; consumers of a group share
the keys (eager rebalancing: every member gives up everything and gets a new share), read
each key in order from the group's committed offset, and commit what an ``ok`` poll
returned.  Clients crash (an unknown poll, or an explicit ``crash``), are replaced under
new process ids, and the group rebalances; a commit may fail (the poll stays ``ok`` with
an ``error``), so records are redelivered.  An *auditor* (``assign`` + seek to the
beginning, no group) reads every key from offset 0 and, at the end, polls until it has
caught up, like Jepsen's final polls.

Every operation takes effect at its invocation, inside its [invoke, complete] window, and
completions are interleaved across clients, so histories have real concurrency.  The
rebalance log of an eager rebalance reaches each member on its next poll, as Kafka calls
rebalance listeners inside ``poll``.  Such a history has no anomaly by construction.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from analysis.history import Event


@dataclass
class _Consumer:
    pid: int
    group: str
    assigned: list[str] = field(default_factory=list)
    position: dict[str, int] = field(default_factory=dict)
    pending_log: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Group:
    name: str
    members: list[int] = field(default_factory=list)
    committed: dict[str, int] = field(default_factory=dict)


class _Model:
    def __init__(self, rng: random.Random, keys: int, groups: int, named_groups: bool) -> None:
        self.rng = rng
        self.keys = [str(k) for k in range(keys)]
        self.log: dict[str, list[int]] = {k: [] for k in self.keys}
        self.groups = {f"g{i}": _Group(f"g{i}") for i in range(groups)}
        self.named = named_groups
        self.consumers: dict[int, _Consumer] = {}
        self.next_value = 0

    def rebalance(self, g: _Group) -> None:
        keys = list(self.keys)
        self.rng.shuffle(keys)
        share: dict[int, list[str]] = {m: [] for m in g.members}
        for i, k in enumerate(keys):
            if g.members:
                share[g.members[i % len(g.members)]].append(k)
        for m in g.members:
            c = self.consumers[m]
            old, new = sorted(c.assigned), sorted(share[m])
            c.pending_log += [{"type": "revoked", "keys": old}, {"type": "assigned", "keys": new}]
            c.assigned = new
            c.position = {k: g.committed.get(k, 0) for k in new}

    def leave(self, pid: int) -> None:
        c = self.consumers.pop(pid)
        g = self.groups[c.group]
        g.members.remove(pid)
        self.rebalance(g)


def log_history(
    n_ops: int,
    *,
    seed: int = 0,
    keys: int = 3,
    producers: int = 2,
    consumers: int = 3,
    groups: int = 1,
    named_groups: bool = True,
    auditor: bool = True,
    info_p: float = 0.05,
    fail_p: float = 0.03,
    crash_p: float = 0.02,
    rebalance_p: float = 0.02,
    commit_fail_p: float = 0.03,
    max_batch: int = 4,
) -> list[Event]:
    """About ``n_ops`` client operations (plus final polls) of a correct log, as events."""
    rng = random.Random(seed)
    if not named_groups:
        groups = 1  # unnamed subscribers all belong to the one default group
    m = _Model(rng, keys, groups, named_groups)
    events: list[Event] = []
    pending: dict[int, Event] = {}  # pid -> its completion, emitted later
    next_pid = [0]

    def pid() -> int:
        next_pid[0] += 1
        return next_pid[0] - 1

    def emit(p: int, type_: str, f: str, value: Any = None, **extra: Any) -> Event:
        ev = Event(process=p, type=type_, f=f, value=value, time=len(events) * 1_000_000,
                   index=len(events), extra=tuple(sorted(extra.items())))
        events.append(ev)
        return ev

    def later(p: int, type_: str, f: str, value: Any = None, **extra: Any) -> None:
        pending[p] = Event(process=p, type=type_, f=f, value=value, extra=tuple(sorted(extra.items())))

    def complete(p: int) -> None:
        ev = pending.pop(p)
        emit(p, ev.type, ev.f, ev.value, **dict(ev.extra))

    prod = [pid() for _ in range(producers)]
    audit = pid() if auditor else None
    audit_pos = {k: 0 for k in m.keys}
    group_names = list(m.groups)

    def group_field(name: str) -> dict[str, Any]:
        return {"group": name} if m.named else {}

    def join(name: str) -> None:
        p = pid()
        m.consumers[p] = _Consumer(p, name)
        g = m.groups[name]
        g.members.append(p)
        emit(p, "invoke", "subscribe", list(m.keys), **group_field(name))
        m.rebalance(g)
        m.consumers[p].pending_log.clear()  # a fresh subscription starts clean
        later(p, "ok", "subscribe", list(m.keys), **group_field(name))

    def send(p: int) -> None:
        k = rng.choice(m.keys)
        v = m.next_value
        m.next_value += 1
        micro = rng.random() < 0.5
        inv: Any = [["send", k, v]] if micro else [k, v]
        emit(p, "invoke", "send", inv)
        r = rng.random()
        if r < fail_p:
            later(p, "fail", "send", inv, error="not-leader")
        elif r < fail_p + info_p:
            if rng.random() < 0.5:
                m.log[k].append(v)
            later(p, "info", "send", inv, error="timeout")
        else:
            m.log[k].append(v)
            off = len(m.log[k]) - 1
            later(p, "ok", "send", [["send", k, [off, v]]] if micro else [k, [off, v]])

    def read(position: dict[str, int], assigned: list[str]) -> dict[str, list[list[int]]]:
        out: dict[str, list[list[int]]] = {}
        for k in assigned:
            n = rng.randint(0, max_batch)
            start = position.get(k, 0)
            recs = m.log[k][start : start + n]
            if recs:
                out[k] = [[start + i, v] for i, v in enumerate(recs)]
                position[k] = start + len(recs)
        return out

    def poll(c: _Consumer) -> None:
        p = c.pid
        micro = rng.random() < 0.5
        emit(p, "invoke", "poll", [["poll"]] if micro else None)
        log, c.pending_log = c.pending_log, []
        got = read(c.position, c.assigned)
        value: Any = [["poll", got]] if micro else got
        extra: dict[str, Any] = {"rebalance_log": log} if log else {}
        r = rng.random()
        if r < crash_p:
            # The client dies while polling: what it received is unknown and uncommitted.
            later(p, "info", "poll", [["poll"]] if micro else None, error="client crashed", **extra)
            m.leave(p)
            return
        g = m.groups[c.group]
        if r < crash_p + commit_fail_p:
            later(p, "ok", "poll", value, error="commit failed", **extra)
            return
        for k, recs in got.items():
            g.committed[k] = max(g.committed.get(k, 0), recs[-1][0] + 1)
        later(p, "ok", "poll", value, **extra)

    def audit_poll() -> None:
        assert audit is not None
        emit(audit, "invoke", "poll", [["poll"]])
        got = read(audit_pos, m.keys)
        later(audit, "ok", "poll", [["poll", got]])

    if audit is not None:
        emit(audit, "invoke", "assign", list(m.keys), seek_to_beginning=True)
        later(audit, "ok", "assign", list(m.keys))
    for name in group_names:
        for _ in range(max(1, consumers // max(1, groups))):
            join(name)

    steps = 0
    while steps < n_ops:
        # Complete some open operations first, at random, so that windows overlap.
        if pending and rng.random() < 0.55:
            complete(rng.choice(sorted(pending)))
            continue
        steps += 1
        idle_prod = [p for p in prod if p not in pending]
        idle_cons = [c for c in m.consumers.values() if c.pid not in pending]
        r = rng.random()
        if r < 0.45 and idle_prod:
            send(rng.choice(idle_prod))
        elif r < 0.85 and idle_cons:
            poll(rng.choice(idle_cons))
        elif r < 0.9 and audit is not None and audit not in pending:
            audit_poll()
        elif r < 0.9 + crash_p and idle_cons:
            c = rng.choice(idle_cons)
            emit(c.pid, "invoke", "crash")
            later(c.pid, "info", "crash")
            m.leave(c.pid)
        elif r < 0.9 + crash_p + rebalance_p:
            m.rebalance(m.groups[rng.choice(group_names)])
        else:
            for name in group_names:
                if len(m.groups[name].members) < consumers:
                    join(name)
                    break
    for p in sorted(pending):
        complete(p)
    if audit is not None:
        for _ in range(10 * (n_ops + 1)):
            if all(audit_pos[k] >= len(m.log[k]) for k in m.keys):
                break
            audit_poll()
            complete(audit)
    return events
