"""The leaderless quorum register under hypothesis: a majority-configured register keeps
the quorum intersection property whatever the network, the clocks and crashes do.

The machine drives 3-5 :class:`QuorumNode` replicas (``R = W = n // 2 + 1``, read
write-back on) through :class:`~tests.core.stateful_net.Net` with the shared rules
(deliver, drop / duplicate / delay, settle, partition, heal, wait, crash, restart, bounce)
plus client reads and writes at any replica (``request`` leaves the operation in flight,
``call`` also lets the network settle).  Versions are totally ordered, so after every
step it checks:

* **quorum intersection** -- a read invoked after a write was acknowledged returns that
  write's version or a later one (the read quorum meets the write quorum);
* **reads never go back** -- a read invoked after another read of the same key returned
  returns that version or a later one (the write-back makes a read complete its value);
* **one value per version** -- every acknowledgement and read that names a version names
  the same value for it.

``sloppy_quorum`` (R = W = 1) breaks the first, found by a bounded search;
``skip_write_back`` breaks the second only under a fine-grained interleaving (a write that
reached its coordinator alone, read there and then elsewhere), which is replayed as a
schedule in the machine's own rules.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, rule, run_state_machine_as_test

from cluster.core.quorum import QuorumConfig, QuorumFlaws, QuorumNode
from cluster.core.types import ClientRequest
from tests.core.stateful_net import Net, NetMachine, run_schedule, say, when

KEYS = ("x", "y")
Version = tuple[int, str]

CI = settings(
    max_examples=60,
    stateful_step_count=50,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
LONG = settings(CI, max_examples=2000, stateful_step_count=100, derandomize=False)


class QuorumMachine(NetMachine):
    """Replicas of one register under an adversarial schedule; see the module docstring."""

    flaws = QuorumFlaws()

    def __init__(self) -> None:
        super().__init__()
        self._seen_events = 0
        self._requests = 0
        self._invoked: dict[str, tuple[int, str, str, Any]] = {}  # client -> (clock, op, key, value)
        self.writes: list[tuple[int, str, Version, str]] = []  # (acked at, key, version, client)
        self.reads: list[tuple[int, str, Version, str]] = []  # (returned at, key, version, client)
        self.values: dict[tuple[str, Version], Any] = {}
        self.violations: list[str] = []

    @initialize(n=st.integers(3, 5), seed=st.integers(0, 255))
    def boot(self, n: int, seed: int) -> None:
        ids = tuple(f"n{i + 1}" for i in range(n))
        majority = n // 2 + 1
        config = QuorumConfig(r=majority, w=majority)
        flaws = self.flaws

        def make(nid: str, durable: Mapping[str, Any] | None, rng: random.Random) -> QuorumNode:
            return QuorumNode(nid, ids, config, rng, durable, flaws)

        self.net = Net(ids, make, seed=seed)
        say(f"{n} replicas, {config}, flaws {flaws.enabled() or 'none'}")
        self.observe()

    @when("request")
    @rule(node=st.integers(0, 4), op=st.sampled_from(["write", "read"]), key=st.sampled_from(KEYS))
    def request(self, node: int, op: str, key: str) -> None:
        """A client sends one read or write (of a fresh value) to a replica."""
        nid = self.node(node)
        if self.net.nodes[nid] is None:
            return
        self._requests += 1
        client = f"c{self._requests}"
        value = f"v{self._requests}" if op == "write" else None
        self._invoked[client] = (self.net.clock + 1, op, key, value)
        self.net.submit(nid, ClientRequest(client, nid, client, 1, op, key, value))
        self.done()

    @when("call")
    @rule(node=st.integers(0, 4), op=st.sampled_from(["write", "read"]), key=st.sampled_from(KEYS))
    def call(self, node: int, op: str, key: str) -> None:
        """A client sends one operation and waits while the network is calm a moment."""
        self.request(node, op, key)
        self.settle()

    # --- what happened -----------------------------------------------------------------------

    def observe(self) -> None:
        for clock, e in self.net.events[self._seen_events:]:
            if e.kind not in ("ack", "read"):
                continue
            d = e.data
            version: Version = (int(d["version"][0]), str(d["version"][1]))
            if e.kind == "ack":
                self.writes.append((clock, d["key"], version, d["client_id"]))
                written = self._invoked[d["client_id"]][3]
                self._check_value(d["key"], version, written, f"written by {d['client_id']}")
            else:
                self._check_read(clock, d["key"], version, d["client_id"], e.node)
                self.reads.append((clock, d["key"], version, d["client_id"]))
                self._check_value(d["key"], version, d["value"], f"read by {d['client_id']}")
        self._seen_events = len(self.net.events)

    def _check_read(self, clock: int, key: str, got: Version, client: str, node: str) -> None:
        invoked = self._invoked[client][0]
        for at, k, version, other in self.writes:
            if k == key and at < invoked and got < version:
                self.violations.append(
                    f"quorum intersection: read {key} at {node} returned version {got}, but "
                    f"write {other} of version {version} was acknowledged before it began")
        for at, k, version, other in self.reads:
            if k == key and at < invoked and got < version:
                self.violations.append(
                    f"read went back: read {key} at {node} returned version {got}, but read "
                    f"{other} had returned version {version} before it began")

    def _check_value(self, key: str, version: Version, value: Any, who: str) -> None:
        if version == (0, ""):
            return
        first = self.values.setdefault((key, version), value)
        if first != value:
            self.violations.append(
                f"one value per version: {key} version {version} is {first!r} and {value!r} ({who})")

    @invariant()
    def safe(self) -> None:
        assert not self.violations, self.violations[0]


TestQuorum = QuorumMachine.TestCase
TestQuorum.settings = CI


@pytest.mark.slow
def test_quorum_long_profile() -> None:
    run_state_machine_as_test(QuorumMachine, settings=LONG)


def test_sloppy_quorum_breaks_intersection() -> None:
    machine = type("Quorum_sloppy", (QuorumMachine,), {"flaws": QuorumFlaws(sloppy_quorum=True)})
    with pytest.raises(AssertionError, match="^quorum intersection"):
        run_state_machine_as_test(
            machine, settings=settings(CI, max_examples=300, phases=[Phase.generate]))


_D0, _D1 = ("deliver", {"i": 0}), ("deliver", {"i": 1})
HALF_WRITE: list[tuple[str, dict[str, Any]]] = [
    ("request", {"node": 0, "op": "write", "key": "x"}), _D0, _D1,  # n1 stores v on itself only
    ("request", {"node": 0, "op": "read", "key": "x"}),               # a read at n1 asks n2 ...
    ("deliver", {"i": 3}), ("deliver", {"i": 4}),                     # ... and returns v
    ("partition", {"node": 0}),                                       # v's stores are lost
    ("request", {"node": 1, "op": "read", "key": "x"}), _D0, _D0,     # n2 + n3 never saw v
    ("heal", {}), ("settle", {}),
]
"""A write that reached only its coordinator, read there and then elsewhere (3 replicas)."""


def test_a_half_done_write_read_without_write_back_goes_back() -> None:
    """``skip_write_back`` needs this fine-grained interleaving (the bounded search does not
    reach it), so the schedule is written out in the machine's own rules."""
    machine = type("Quorum_skip_write_back", (QuorumMachine,),
                   {"flaws": QuorumFlaws(skip_write_back=True)})()
    with pytest.raises(AssertionError, match="^read went back: read x at n2 returned version"):
        run_schedule(machine, lambda: machine.boot(3, 0), HALF_WRITE, machine.safe)


def test_the_same_schedule_is_safe_with_write_back() -> None:
    """With write-back the read at n1 must first store v on a second replica; the partition
    stops that, so it never returns v, and n2's read of the old value is linearizable."""
    machine = QuorumMachine()
    run_schedule(machine, lambda: machine.boot(3, 0), HALF_WRITE, machine.safe)
    assert [(client, version) for _, _, version, client in machine.reads] == [("c3", (0, ""))]
