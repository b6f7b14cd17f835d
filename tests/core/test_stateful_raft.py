"""Raft under hypothesis: any schedule of deliveries, losses, duplicates, clock ticks, crashes
and client requests keeps Raft's safety properties.

The machine drives 3-5 :class:`RaftNode` cores through :class:`~tests.core.stateful_net.Net`
and, after every step, checks the four properties of the Raft paper (Figure 3) plus three
that follow from them and that a flaw can break first:

* **election safety** -- at most one leader per term;
* **one vote per term** -- no node votes for two candidates in one term, across restarts
  (the rule of Figure 2 that election safety rests on: it catches a forgotten vote the
  moment it is given twice, without waiting for two leaders to emerge);
* **log matching** -- if two logs hold an entry with the same index and term, they are
  identical up to it;
* **leader completeness** -- an entry committed in term ``t`` is in the log of every
  leader of a term after ``t``;
* **state-machine safety** -- no two nodes commit or apply different entries at one index;
* **acknowledged writes survive** -- a put acknowledged by the leader of term ``t`` is in
  the log of every leader of a term after ``t`` (leader completeness as a client sees it;
  ``ack_before_commit`` damages a write that never committed, so only this catches it);
* **reads are not stale** -- a get invoked after a put was acknowledged returns that
  put's value or a later one (log order), never an older one.  The read flaws
  (``read_from_any_node``, ``leader_reads_without_quorum``, ``lease_ignores_clock_skew``)
  break linearizability of reads without touching any log, so only this catches them.

Each node's clock runs at its own rate within ``max_clock_drift`` (drawn per example),
which is what the correct lease is designed for and the flawed one is not.  Time passes
only by ``wait`` (every clock advances until some timer fires).  Besides the primitive
rules (deliver, drop / duplicate / delay, partition, heal, wait, crash, restart, request)
the machine has compound ones a nemesis or a patient client performs -- ``settle``,
``depose`` (cut the leader off until another is elected), ``write`` (put, then wait),
``read_everywhere`` (a get at every node, then wait) and ``bounce`` (crash and restart at
once) -- so the search reaches the states where bugs live within a small budget.

``test_each_flaw_breaks_an_invariant`` switches each :class:`RaftFlaws` flaw on and runs
the machine for a bounded, derandomized number of examples, expecting a failure.

:class:`TxnRaftMachine` adds transactions (``transact``: list-append reads, then at most
one append, at any node; ``transact_pair``: two at the leader at once) and one more property, checked whenever a transaction has
completed: **transactions are strict serializable**, judged by the isolation checker on
the transactions' history so far.  The transaction flaws are caught by it; the plain
machine's rules are untouched, so its searches stay what they were.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, rule, run_state_machine_as_test

from analysis.history import Event, History
from analysis.isolation import check as check_isolation
from analysis.isolation.txn import from_history
from cluster.core.raft import RaftConfig, RaftFlaws, RaftNode
from cluster.core.raft_config import READ_MODES
from cluster.core.types import ClientRequest
from tests.core.stateful_net import Net, NetMachine, run_schedule, say, when

KEYS = ("x", "y")

CI = settings(
    max_examples=60,
    stateful_step_count=50,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
"""The bounded profile every CI run uses (derandomized, so it is the same run each time)."""

LONG = settings(CI, max_examples=2000, stateful_step_count=100, derandomize=False)
"""The longer profile, run with ``-m slow``."""


class RaftMachine(NetMachine):
    """Raft nodes under an adversarial schedule; see the module docstring."""

    flaws = RaftFlaws()
    config_overrides: Mapping[str, Any] = {}
    nodes: int | None = None
    """A fixed cluster size, or ``None`` to draw 3-5."""
    slow_leader = False
    """Start from an elected leader whose clock runs at ``1 - max_clock_drift`` while
    every other clock runs at ``1 + max_clock_drift``."""

    def __init__(self) -> None:
        super().__init__()
        self.config: RaftConfig
        self._seen_events = 0
        self._seen_replies = 0
        self._requests = 0
        self._invoked: dict[str, tuple[int, str, str, Any]] = {}  # client -> (clock, op, key, value)
        self.leaders: dict[int, set[str]] = {}
        self.votes: dict[tuple[str, int], set[str]] = {}  # (voter, term) -> candidates
        self.committed: dict[int, tuple[str, int, str]] = {}  # index -> (entry, term seen, node)
        self.applied: dict[int, tuple[str, str]] = {}  # index -> (entry, node)
        self.conflicts: list[str] = []
        self.position: dict[tuple[str, Any], int] = {}  # (key, value) -> first log index applied
        self.acks: list[tuple[int, str, Any, str, int]] = []  # (clock, key, value, client, term)
        self.stale: list[str] = []

    # --- setup -------------------------------------------------------------------------------

    @initialize(
        n=st.integers(3, 5),
        rates=st.lists(st.sampled_from([1.0, 0.9, 1.1]), min_size=5, max_size=5),
        read_mode=st.sampled_from(READ_MODES),
        prevote=st.booleans(),
        check_quorum=st.booleans(),
        elect=st.booleans(),
        seed=st.integers(0, 255),
    )
    def boot(self, n: int, rates: list[float], read_mode: str, prevote: bool,
             check_quorum: bool, elect: bool, seed: int = 0) -> None:
        """Start ``n`` nodes; ``seed`` seeds each node's rng (its election timeouts);
        ``elect`` lets the first election happen before the schedule starts."""
        options: dict[str, Any] = {"read_mode": read_mode, "prevote": prevote,
                                   "check_quorum": check_quorum}
        options.update(self.config_overrides)
        self.config = config = RaftConfig(**options)
        ids = tuple(f"n{i + 1}" for i in range(self.nodes or n))
        flaws = self.flaws

        def make(nid: str, durable: Mapping[str, Any] | None, rng: random.Random) -> RaftNode:
            return RaftNode(nid, ids, config, rng, durable, flaws)

        clock_rates = dict(zip(ids, rates, strict=False))
        self.net = Net(ids, make, clock_rates, seed=seed)
        say(f"{len(ids)} nodes, {config}, flaws {flaws.enabled() or 'none'}, "
            f"clock rates {clock_rates}")
        self.observe()
        if elect or self.slow_leader:  # a cluster with a leader: that is where bugs live
            self.wait()
            self.settle()
        if self.slow_leader:
            leader, d = self.node(None), config.max_clock_drift
            for nid in ids:
                self.net.set_rate(nid, 1 - d if nid == leader else 1 + d)
            self.done()

    def leader(self) -> str | None:
        """The live node of the highest term that believes it is leader."""
        net = self.net
        leaders = [(net.core(i).term, i) for i in net.up() if net.core(i).role == "leader"]
        return max(leaders)[1] if leaders else None

    # --- clients -----------------------------------------------------------------------------

    @when("request")
    @rule(node=st.none() | st.integers(0, 4), op=st.sampled_from(["put", "get"]),
          key=st.sampled_from(KEYS))
    def request(self, node: int | None, op: str, key: str) -> None:
        """A client sends one operation to a node (``None``: to whichever node believes it
        leads, as a client that followed a redirect would)."""
        nid = self.node(node)
        if self.net.nodes[nid] is None:
            return
        self._requests += 1
        client = f"c{self._requests}"  # one operation per client: nothing is ever stale
        value = f"v{self._requests}" if op == "put" else None
        self._invoked[client] = (self.net.clock + 1, op, key, value)
        self.net.submit(nid, ClientRequest(client, nid, client, 1, op, key, value))
        self.done()

    @when("write")
    @rule(key=st.sampled_from(KEYS))
    def write(self, key: str) -> None:
        """A client writes through the leader and waits while the network is calm."""
        self.request(None, "put", key)
        self.settle()

    @when("read_everywhere")
    @rule(key=st.sampled_from(KEYS))
    def read_everywhere(self, key: str) -> None:
        """A client at every live node reads ``key``, then the network is calm a moment
        (as a Jepsen client pool, one client bound to each node, would)."""
        for nid in self.net.up():
            self.request(self.net.ids.index(nid), "get", key)
        self.settle()

    # --- a nemesis ---------------------------------------------------------------------------

    @when("depose", lambda self: not self.net.cut and self.net.up())
    @rule()
    def depose(self) -> None:
        """Cut the leader off and let time pass until the others elect a new one (a split
        brain: the old leader may not know yet)."""
        old = self.node(None)
        self.partition(None)
        for _ in range(8):
            self.wait()
            self.settle()
            now = self.leader()
            if now is not None and now != old:
                return

    # --- what happened -----------------------------------------------------------------------

    def observe(self) -> None:
        net = self.net
        for _, e in net.events[self._seen_events:]:
            d = e.data
            if e.kind == "role" and d["role"] == "leader":
                self.leaders.setdefault(d["term"], set()).add(e.node)
            elif e.kind == "vote":
                self.votes.setdefault((e.node, d["term"]), set()).add(d["candidate"])
            elif e.kind == "election" and not d["prevote"]:  # a candidate votes for itself
                self.votes.setdefault((e.node, d["term"]), set()).add(e.node)
            elif e.kind == "commit":
                self._committed(e.node, d["index"], d["term"])
            elif e.kind == "apply":
                self._applied(e.node, d)
        self._seen_events = len(net.events)
        for clock, r in net.replies[self._seen_replies:]:
            invoked = self._invoked.get(r.client_id)
            if invoked is None or r.status != "ok":
                continue
            at, op, key, value = invoked
            if op == "put":
                self.acks.append((clock, key, value, r.client_id, net.core(r.src).term))
            else:
                self._check_read(at, key, r.value, r.src)
        self._seen_replies = len(net.replies)

    def _committed(self, node: str, index: int, term: int) -> None:
        log = self.net.core(node).log
        for i in range(1, min(index, len(log)) + 1):
            entry = repr(log[i - 1])
            seen = self.committed.get(i)
            if seen is None:
                self.committed[i] = (entry, term, node)
            elif seen[0] != entry:
                self.conflicts.append(
                    f"index {i} committed as {seen[0]} on {seen[2]} and as {entry} on {node}")

    def _applied(self, node: str, d: Mapping[str, Any]) -> None:
        entry = json.dumps([d["term"], d["command"]], sort_keys=True)
        first = self.applied.setdefault(d["index"], (entry, node))
        if first[0] != entry:
            self.conflicts.append(
                f"index {d['index']} applied as {first[0]} on {first[1]} and as {entry} on {node}")
        cmd = d["command"]
        if cmd is not None and cmd["op"] == "put":
            self.position.setdefault((cmd["key"], cmd["value"]), d["index"])

    def _check_read(self, invoked: int, key: str, value: Any, node: str) -> None:
        before = [(self.position[(key, v)], v) for at, k, v, _, _ in self.acks
                  if k == key and at < invoked and (key, v) in self.position]
        if not before:
            return
        latest_pos, latest = max(before)
        got = self.position.get((key, value), 0) if value is not None else 0
        if got < latest_pos:
            self.stale.append(
                f"get {key} at {node} returned {value!r}, but put {key}={latest!r} (log index "
                f"{latest_pos}) was acknowledged before the get was invoked")

    # --- invariants --------------------------------------------------------------------------

    @invariant()
    def safe(self) -> None:
        """Every property, after every step (one invariant, so a transcript stays short)."""
        self.election_safety()
        self.one_vote_per_term()
        self.log_matching()
        self.leader_completeness()
        self.state_machine_safety()
        self.acknowledged_writes_survive()
        self.reads_are_not_stale()

    def election_safety(self) -> None:
        two = {t: sorted(ns) for t, ns in self.leaders.items() if len(ns) > 1}
        assert not two, f"election safety: two leaders in one term: {two}"

    def one_vote_per_term(self) -> None:
        twice = {f"{voter} in term {t}": sorted(c) for (voter, t), c in self.votes.items()
                 if len(c) > 1}
        assert not twice, f"double vote: a node voted for two candidates in one term: {twice}"

    def log_matching(self) -> None:
        logs = {nid: self.net.core(nid).log for nid in self.net.up()}
        names = sorted(logs)
        for k, a in enumerate(names):
            for b in names[k + 1:]:
                la, lb = logs[a], logs[b]
                i = next((i for i in range(min(len(la), len(lb)), 0, -1)
                          if la[i - 1].term == lb[i - 1].term), 0)
                assert la[:i] == lb[:i], (
                    f"log matching: {a} and {b} both hold index {i} at term {la[i - 1].term} "
                    f"but differ before it")

    def leader_completeness(self) -> None:
        for nid in self.net.up():
            node = self.net.core(nid)
            if node.role != "leader":
                continue
            log = node.log
            for index, (entry, term, seen_on) in self.committed.items():
                if term < node.term:
                    have = repr(log[index - 1]) if index <= len(log) else "nothing"
                    assert have == entry, (
                        f"leader completeness: {nid}, leader of term {node.term}, has {have} at "
                        f"index {index}, where {entry} was committed (seen on {seen_on} in term "
                        f"{term})")

    def state_machine_safety(self) -> None:
        assert not self.conflicts, f"state-machine safety: {self.conflicts[0]}"

    def acknowledged_writes_survive(self) -> None:
        for nid in self.net.up():
            node = self.net.core(nid)
            if node.role != "leader":
                continue
            have = {e.command.client_id for e in node.log if e.command}
            for _, key, value, client, term in self.acks:
                assert term >= node.term or client in have, (
                    f"acknowledged write lost: put {key}={value!r} was acknowledged in term "
                    f"{term}, and {nid}, leader of term {node.term}, does not have it")

    def reads_are_not_stale(self) -> None:
        assert not self.stale, f"stale read: {self.stale[0]}"


TestRaft = RaftMachine.TestCase
TestRaft.settings = CI


TXN_KEYS = ("tx", "ty")
"""Transactions append to lists; puts write plain values, so they keep to other keys."""


def _plain(v: Any) -> Any:
    return [_plain(x) for x in v] if isinstance(v, list | tuple) else v


class TxnRaftMachine(RaftMachine):
    """:class:`RaftMachine` with transactions and the isolation property (module doc)."""

    def __init__(self) -> None:
        super().__init__()
        self._txn_events: list[Event] = []
        self._txn_open: set[str] = set()
        self._txn_values = 0
        self._txn_checked = 0

    @when("transact")
    @rule(node=st.none() | st.integers(0, 4), reads=st.lists(st.sampled_from(TXN_KEYS), max_size=2, unique=True),
          append=st.none() | st.sampled_from(TXN_KEYS))
    def transact(self, node: int | None, reads: list[str], append: str | None) -> None:
        """A client sends a transaction: read ``reads``, then append a fresh value to
        ``append`` (read-only when None)."""
        nid = self.node(node)
        if self.net.nodes[nid] is None or not (reads or append):
            return
        self._requests += 1
        client = f"c{self._requests}"
        mops: list[list[Any]] = [["r", k, None] for k in reads]
        if append is not None:
            self._txn_values += 1
            mops.append(["append", append, self._txn_values])
        self._txn_events.append(Event(client, "invoke", "txn", mops))
        self._txn_open.add(client)
        self.net.submit(nid, ClientRequest(client, nid, client, 1, "txn", None, mops))
        self.done()

    @when("transact_pair")
    @rule(reads=st.lists(st.sampled_from(TXN_KEYS), max_size=2, unique=True),
          appends=st.tuples(st.sampled_from(TXN_KEYS), st.sampled_from(TXN_KEYS)))
    def transact_pair(self, reads: list[str], appends: tuple[str, str]) -> None:
        """Two clients send the leader transactions at the same moment, each reading
        ``reads`` and appending to its own key of ``appends`` (the doctors' shape when the
        keys differ, a pair of read-modify-writes when they are the same)."""
        for key in appends:
            self.transact(None, reads, key)

    def observe(self) -> None:
        start = self._seen_replies
        super().observe()
        for _, r in self.net.replies[start:]:
            # ok and fail are definite (the store deduplicates); anything else leaves the
            # outcome unknown, as a client that gives up would record it.
            if r.client_id in self._txn_open and r.status in ("ok", "fail"):
                self._txn_open.discard(r.client_id)
                value = r.value if r.status == "ok" else next(
                    e.value for e in self._txn_events if e.process == r.client_id)
                self._txn_events.append(Event(r.client_id, r.status, "txn", _plain(value)))

    @invariant()
    def transactions_strict_serializable(self) -> None:
        done = len(self._txn_events)
        if done == self._txn_checked:
            return
        self._txn_checked = done
        history = from_history(History.from_events(self._txn_events), "list-append")
        r = check_isolation(history, consistency_model="strict-serializable", timeout_s=30)
        assert r["verdict"] != "invalid", "isolation: " + " ".join(r["explanation"][:8])


def _txn_machine(txn_mode: str) -> type[TxnRaftMachine]:
    return type(f"TxnRaft_{txn_mode}", (TxnRaftMachine,), {"config_overrides": {"txn_mode": txn_mode}})


TestTxnRaftLog = _txn_machine("log").TestCase
TestTxnRaftLog.settings = CI
TestTxnRaftOptimistic = _txn_machine("optimistic").TestCase
TestTxnRaftOptimistic.settings = CI


@pytest.mark.slow
def test_raft_long_profile() -> None:
    run_state_machine_as_test(RaftMachine, settings=LONG)


# --- every flaw is caught ------------------------------------------------------------------------


@dataclass(frozen=True)
class FlawSetup:
    """What a flaw needs in order to bite: the config, whether the search starts from an
    elected leader whose clock runs slow while the others' run fast (at the drift bound),
    and which rules the search uses."""

    config: Mapping[str, Any] = field(default_factory=dict)
    slow_leader: bool = False
    rules: frozenset[str] | None = None
    """``None``: every rule; a set: only these (a flaw whose schedule the others dilute)."""
    machine: type[RaftMachine] = RaftMachine
    """:class:`TxnRaftMachine` for the transaction flaws."""


_PLAIN = {"prevote": False, "check_quorum": False}
_TXN_RULES = frozenset({"transact", "transact_pair", "deliver", "wait", "settle", "partition", "heal"})
FLAW_SETUP: dict[str, FlawSetup] = {
    "vote_twice_in_term": FlawSetup(_PLAIN),
    "skip_up_to_date_check": FlawSetup(_PLAIN),
    "commit_old_terms_by_count": FlawSetup(
        {**_PLAIN, "max_batch": 1},
        rules=frozenset({"request", "partition", "heal", "wait", "deliver", "settle"})),
    "read_from_any_node": FlawSetup({"read_mode": "read_index"}),
    "leader_reads_without_quorum": FlawSetup({**_PLAIN, "read_mode": "read_index"}),
    "lease_ignores_clock_skew": FlawSetup(
        {**_PLAIN, "read_mode": "lease"}, slow_leader=True,
        rules=frozenset({"depose", "write", "read_everywhere", "deliver", "disturb", "settle"})),
    "ack_before_commit": FlawSetup(_PLAIN),
    "no_persist_vote": FlawSetup(_PLAIN),
    "no_fsync_log": FlawSetup(_PLAIN),
    "txn_reads_outside_log": FlawSetup(_PLAIN, rules=_TXN_RULES, machine=TxnRaftMachine),
    "txn_no_read_validation": FlawSetup({**_PLAIN, "txn_mode": "optimistic"}, rules=_TXN_RULES,
                                        machine=TxnRaftMachine),
    "txn_lost_update": FlawSetup({**_PLAIN, "txn_mode": "optimistic"}, rules=_TXN_RULES,
                                 machine=TxnRaftMachine),
}
"""The setup under which each flaw can bite.  The read flaws need reads outside the log.
The lease flaw needs lease reads and a leader whose clock is slower than its voters' (within
``max_clock_drift``: the correct lease allows for exactly that, the flawed one does not);
its search is the Jepsen split-brain test (depose, write, read at every node).  Figure 8
needs entries to travel one per message, or a new leader's no-op always rides along with
the old entries and commits them correctly.  PreVote and CheckQuorum are off where they
only make the search longer.  The transaction flaws need transactions in flight together,
and only the isolation property sees them."""


def flawed(name: str) -> type[RaftMachine]:
    """The machine with one flaw switched on (3 nodes: the smallest cluster it can bite)."""
    setup = FLAW_SETUP[name]
    return type(f"Raft_{name}", (setup.machine,), {
        "flaws": RaftFlaws.from_names([name]),
        "config_overrides": setup.config,
        "slow_leader": setup.slow_leader,
        "allowed": setup.rules,
        "nodes": 3,
    })


FLAW_SEARCH = settings(CI, max_examples=300, stateful_step_count=60, phases=[Phase.generate])
"""Bounded and derandomized; no shrinking (finding is the point, and it keeps CI short)."""

INVARIANTS = (
    "election safety", "double vote", "log matching", "leader completeness",
    "state-machine safety", "acknowledged write lost", "stale read", "isolation",
)

RARE = ("commit_old_terms_by_count",)
"""Flaws whose counterexample is a long, precise schedule: Figure 8 needs about twenty steps
in one order, and random search does not reach it (not in 5,000 examples of 80 steps with
the rules restricted to its vocabulary).  The test replays such a schedule, written in the
machine's own rules (``FIGURE_8``), and checks that correct Raft survives the same one."""


def test_every_raft_flaw_has_a_setup() -> None:
    assert set(FLAW_SETUP) == set(RaftFlaws.names())


@pytest.mark.parametrize("name", [n for n in RaftFlaws.names() if n not in RARE])
def test_each_flaw_breaks_an_invariant(name: str) -> None:
    with pytest.raises(AssertionError) as caught:
        run_state_machine_as_test(flawed(name), settings=FLAW_SEARCH)
    assert str(caught.value).split(":")[0] in INVARIANTS, caught.value


_DELIVER: tuple[str, dict[str, Any]] = ("deliver", {"i": 0})
FIGURE_8: list[tuple[str, dict[str, Any]]] = [
    ("request", {"node": None, "op": "put", "key": "x"}),  # L1 (term 1) appends e ...
    ("partition", {"node": None}),                         # ... and is cut off with it
    ("wait", {}), _DELIVER, _DELIVER,                       # L2 wins term 2: a no-op at e's index
    ("heal", {}), ("partition", {"node": None}),            # L2 is cut off before sending it
    ("wait", {}), ("settle", {}),
    ("wait", {}), *[_DELIVER] * 6,                          # L1 wins term 3, copies e to a majority
    ("heal", {}), ("partition", {"node": None}),            # and commits it by counting; cut off
    ("wait", {}), ("settle", {}), ("wait", {}), ("settle", {}), ("wait", {}), ("settle", {}),
]                                                           # L2 wins term 4 and overwrites e
"""Raft paper Figure 8 in the machine's rule vocabulary (3 nodes, one entry per message)."""
FIGURE_8_BOOT: dict[str, Any] = {
    "n": 3, "rates": [1.0] * 5, "read_mode": "read_index", "prevote": False,
    "check_quorum": False, "elect": True, "seed": 33,
}


def test_figure8_schedule_breaks_leader_completeness() -> None:
    machine = flawed("commit_old_terms_by_count")()
    with pytest.raises(AssertionError, match="^leader completeness: .* was committed"):
        run_schedule(machine, lambda: machine.boot(**FIGURE_8_BOOT), FIGURE_8, machine.safe)


@pytest.mark.parametrize("seed", range(0, 256, 8))
def test_figure8_schedule_is_safe_for_correct_raft(seed: int) -> None:
    """The same schedule, under many timer seeds, never trips correct Raft: the failure
    above is the flaw's, not the harness's."""
    machine = RaftMachine()
    machine.config_overrides = FLAW_SETUP["commit_old_terms_by_count"].config
    run_schedule(machine, lambda: machine.boot(**{**FIGURE_8_BOOT, "seed": seed}), FIGURE_8,
                 machine.safe)
