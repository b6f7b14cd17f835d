"""Transcript tests of the leaderless quorum register.

No simulator here: a tiny harness holds the replicas, their in-memory storage and the
messages in flight, and each test delivers (or drops) messages by hand, so a reader can
follow exactly which replica saw what.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable

import pytest

from cluster.core.client import ClientConfig, ClientCore
from cluster.core.quorum import QuorumConfig, QuorumFlaws, QuorumNode
from cluster.core.quorum_messages import QueryVersion, QueryVersionReply, StoreAck, StoreValue
from cluster.core.storage import MemoryStorage
from cluster.core.types import ClientReply, ClientRequest, Core, CoreEvent, Message, Put

IDS = ("n1", "n2", "n3")
Pred = Callable[[Message], bool]


class Net:
    """Replicas plus a FIFO of in-flight messages that tests deliver by hand."""

    def __init__(
        self,
        config: QuorumConfig = QuorumConfig(),  # noqa: B008
        flaws: QuorumFlaws = QuorumFlaws(),  # noqa: B008
        ids: tuple[str, ...] = IDS,
    ) -> None:
        self.config, self.flaws, self.ids = config, flaws, ids
        self.disks = {i: MemoryStorage() for i in ids}
        self.nodes = {i: self._boot(i) for i in ids}
        self.wire: list[Message] = []
        self.replies: list[ClientReply] = []
        self.events: list[CoreEvent] = []
        # (node, "persist"|"send"|"reply", item) in the order the driver performed them
        self.trace: list[tuple[str, str, object]] = []
        for i in ids:
            self.drain(i)

    def _boot(self, node_id: str) -> QuorumNode:
        return QuorumNode(
            node_id,
            self.ids,
            self.config,
            random.Random(node_id),
            durable=self.disks[node_id].load(),
            flaws=self.flaws,
        )

    def drain(self, node_id: str) -> None:
        """Do one Ready the way every driver must: persist, then send, then reply."""
        ready = self.nodes[node_id].ready()
        self.disks[node_id].write(ready.persist, ready.sync)
        self.trace += [(node_id, "persist", op) for op in ready.persist]
        self.trace += [(node_id, "send", m) for m in ready.messages]
        self.trace += [(node_id, "reply", r) for r in ready.replies]
        self.wire += ready.messages
        self.replies += ready.replies
        self.events += ready.events

    def step(self, node_id: str, msg: Message) -> None:
        self.nodes[node_id].step(msg)
        self.drain(node_id)

    def request(self, node_id: str, op: str, key: str, value: object = None, seq: int = 1) -> None:
        self.step(node_id, ClientRequest("c1", node_id, "c1", seq, op, key, value))

    def tick(self, now_ms: int) -> None:
        for i in self.ids:
            self.nodes[i].tick(now_ms)
            self.drain(i)

    def deliver(self, pred: Pred = lambda m: True) -> int:
        """Deliver matching messages (FIFO, including ones they cause) until none match."""
        count = 0
        while True:
            match = next((m for m in self.wire if pred(m)), None)
            if match is None:
                return count
            self.wire.remove(match)
            self.step(match.dst, match)
            count += 1

    def drop(self, pred: Pred) -> int:
        before = len(self.wire)
        self.wire = [m for m in self.wire if not pred(m)]
        return before - len(self.wire)

    def crash_restart(self, node_id: str) -> None:
        self.disks[node_id].crash()
        self.nodes[node_id] = self._boot(node_id)
        self.drain(node_id)

    def take_replies(self) -> list[tuple[str, int, str, object]]:
        out = [(r.src, r.seq, r.status, r.value) for r in self.replies]
        self.replies.clear()
        return out

    def versions(self, key: str) -> dict[str, tuple[int, str] | None]:
        return {
            i: (self.nodes[i].store[key][0] if key in self.nodes[i].store else None)
            for i in self.ids
        }


def between(*ends: str) -> Pred:
    """Messages whose both ends are in ``ends`` (a partition side, seen from inside)."""
    return lambda m: m.src in ends and m.dst in ends


def to(*dsts: str) -> Pred:
    return lambda m: m.dst in dsts


def kinds(events: list[CoreEvent], kind: str) -> list[tuple[str, dict[str, object]]]:
    return [(e.node, e.data) for e in events if e.kind == kind]


# --- the happy path -------------------------------------------------------------------------


def test_node_satisfies_core_protocol() -> None:
    node = QuorumNode("n1", IDS, QuorumConfig(), random.Random(1))
    assert isinstance(node, Core)
    assert node.n == 3 and (node.r, node.w) == (2, 2)


def test_write_then_read_on_three_replicas() -> None:
    net = Net()
    net.request("n1", "write", "x", "a", seq=1)
    # the coordinator answered its own query at once and asked the two others
    assert [(type(m).__name__, m.dst) for m in net.wire] == [
        ("QueryVersion", "n2"),
        ("QueryVersion", "n3"),
    ]
    net.deliver()
    assert net.take_replies() == [("n1", 1, "ok", None)]
    assert net.versions("x") == {"n1": (1, "n1"), "n2": (1, "n1"), "n3": (1, "n1")}
    assert kinds(net.events, "ack") == [
        ("n1", {"client_id": "c1", "seq": 1, "op": "write", "key": "x", "version": [1, "n1"]})
    ]

    net.request("n3", "read", "x", seq=2)
    net.deliver()
    assert net.take_replies() == [("n3", 2, "ok", "a")]
    assert kinds(net.events, "read")[-1] == (
        "n3",
        {"client_id": "c1", "seq": 2, "key": "x", "version": [1, "n1"], "value": "a"},
    )
    # every event is JSON-able, as traces need
    json.dumps([e.data for e in net.events])


def test_read_of_unwritten_key_is_none() -> None:
    net = Net()
    net.request("n2", "read", "nothing")
    net.deliver()
    assert net.take_replies() == [("n2", 1, "ok", None)]
    assert kinds(net.events, "store") == []  # writing back "never written" stores nothing


def test_get_and_put_aliases_and_unsupported_op() -> None:
    net = Net()
    net.request("n1", "put", "k", 7, seq=1)
    net.deliver()
    net.request("n2", "get", "k", seq=2)
    net.deliver()
    net.request("n2", "cas", "k", (7, 8), seq=3)
    assert net.wire == []  # refused before contacting anyone: a definite fail
    replies = net.take_replies()
    assert replies[:2] == [("n1", 1, "ok", None), ("n2", 2, "ok", 7)]
    assert replies[2][:3] == ("n2", 3, "fail")


# --- versions -------------------------------------------------------------------------------


def test_versions_are_totally_ordered_and_grow_across_coordinators() -> None:
    net = Net()
    for seq, coord in enumerate(("n1", "n2", "n3", "n2"), start=1):
        net.request(coord, "write", "x", f"v{seq}", seq=seq)
        net.deliver()
    stores = [d["version"] for node, d in kinds(net.events, "store") if node == "n1"]
    assert stores == [[1, "n1"], [2, "n2"], [3, "n3"], [4, "n2"]]
    # ties on the counter are broken by the writer id
    assert (2, "n1") < (2, "n2") < (3, "n1")


def test_concurrent_writes_at_one_coordinator_get_distinct_versions() -> None:
    net = Net()
    net.request("n1", "write", "x", "a", seq=1)
    net.step("n1", ClientRequest("c2", "n1", "c2", 1, "write", "x", "b"))
    net.deliver()  # both query phases saw max (0, ""), yet the second must not reuse (1, n1)
    acked = [d["version"] for _, d in kinds(net.events, "ack")]
    assert acked == [[1, "n1"], [2, "n1"]]
    assert net.versions("x") == {i: (2, "n1") for i in IDS}


def test_replica_keeps_the_newer_version_on_reordered_stores() -> None:
    net = Net()
    node = net.nodes["n2"]
    node.step(StoreValue("n1", "n2", 1, 1, "x", (5, "n1"), "new"))
    node.step(StoreValue("n3", "n2", 1, 1, "x", (4, "n3"), "old"))
    ready = node.ready()
    assert ready.persist == (Put("kv/x", ((5, "n1"), "new")),)
    assert [type(m) for m in ready.messages] == [StoreAck, StoreAck]
    assert node.store["x"] == ((5, "n1"), "new")


# --- quorums ---------------------------------------------------------------------------------


def test_majority_read_sees_a_write_that_missed_one_replica() -> None:
    net = Net()
    net.request("n1", "write", "x", "a")
    net.deliver(between("n1", "n2"))  # n3 is cut off while the write runs
    net.drop(to("n3"))
    assert net.take_replies() == [("n1", 1, "ok", None)]
    assert net.versions("x") == {"n1": (1, "n1"), "n2": (1, "n1"), "n3": None}

    net.request("n3", "read", "x", seq=2)  # n3's own answer is stale...
    net.deliver(between("n2", "n3"))  # ...and it hears only n2: R=2 still meets W=2
    assert net.take_replies() == [("n3", 2, "ok", "a")]
    assert net.versions("x")["n3"] == (1, "n1")  # the write-back repaired n3


def test_write_back_stores_the_max_version_on_w_replicas_before_replying() -> None:
    net = Net()
    net.request("n1", "write", "x", "a")
    net.deliver(lambda m: isinstance(m, (QueryVersion, QueryVersionReply)))
    net.drop(lambda m: True)  # the store phase reached only n1's own replica
    assert net.replies == [] and net.versions("x") == {"n1": (1, "n1"), "n2": None, "n3": None}

    net.request("n2", "read", "x", seq=2)
    net.deliver(lambda m: isinstance(m, QueryVersion) and m.dst == "n1")
    net.deliver(lambda m: isinstance(m, QueryVersionReply))
    # the read has seen (1, n1) but has not answered: it is writing it back first
    assert net.replies == []
    assert net.versions("x")["n2"] == (1, "n1")  # its own replica, persisted first
    assert net.disks["n2"].load()["kv/x"] == ((1, "n1"), "a")
    net.deliver(lambda m: isinstance(m, (StoreValue, StoreAck)) and "n3" in (m.src, m.dst))
    assert net.take_replies() == [("n2", 2, "ok", "a")]
    assert net.versions("x") == {i: (1, "n1") for i in IDS}


def test_without_write_back_a_value_appears_then_disappears() -> None:
    """The classic new-old inversion: the two reads cannot both be linearized."""
    net = Net(flaws=QuorumFlaws(skip_write_back=True))
    net.request("n1", "write", "x", "a")
    net.deliver(lambda m: isinstance(m, (QueryVersion, QueryVersionReply)))
    net.drop(lambda m: True)  # write in progress: only n1 has it

    net.request("n2", "read", "x", seq=2)  # quorum {n1, n2}
    net.drop(to("n3"))
    net.deliver()
    net.request("n3", "read", "x", seq=3)  # quorum {n2, n3}, after the first read ended
    net.drop(to("n1"))
    net.deliver()
    assert net.take_replies() == [("n2", 2, "ok", "a"), ("n3", 3, "ok", None)]


def test_sloppy_quorum_read_misses_an_acknowledged_write() -> None:
    net = Net(config=QuorumConfig(r=2, w=2), flaws=QuorumFlaws(sloppy_quorum=True))
    assert (net.nodes["n1"].r, net.nodes["n1"].w) == (1, 1)
    net.request("n1", "write", "x", "a", seq=1)
    # R=W=1: the coordinator's own replica is the whole quorum, so it acks at once
    assert net.take_replies() == [("n1", 1, "ok", None)]
    net.request("n2", "read", "x", seq=2)
    assert net.take_replies() == [("n2", 2, "ok", None)]  # stale: the ack came before
    assert kinds(net.events, "ack") and kinds(net.events, "read")[0][1]["value"] is None


def test_write_waits_for_w_acks_and_counts_duplicates_once() -> None:
    net = Net(config=QuorumConfig(r=1, w=3))
    net.request("n1", "write", "x", "a")  # R=1 answered locally; stores sent right away
    net.deliver(to("n2"))
    acks = [m for m in net.wire if isinstance(m, StoreAck)]
    assert [m.src for m in acks] == ["n2"]
    net.wire += acks  # the network duplicates n2's ack
    net.deliver(lambda m: isinstance(m, StoreAck))
    assert net.replies == []  # 2 distinct acks of 3
    net.deliver()
    assert net.take_replies() == [("n1", 1, "ok", None)]


def test_quorum_sizes_are_validated() -> None:
    with pytest.raises(ValueError, match="w=4"):
        QuorumNode("n1", IDS, QuorumConfig(w=4), random.Random(0))
    # peers may omit the node itself
    assert QuorumNode("n1", ("n2", "n3"), QuorumConfig(), random.Random(0)).members == IDS


# --- timeouts ---------------------------------------------------------------------------------


def test_timeout_in_query_phase_is_unavailable() -> None:
    net = Net(config=QuorumConfig(request_timeout_ms=500))
    net.tick(100)
    net.request("n1", "write", "x", "a")
    net.drop(lambda m: True)
    assert net.nodes["n1"].next_wakeup() == 600
    net.tick(599)
    assert net.replies == []
    net.tick(600)
    assert net.take_replies() == [("n1", 1, "unavailable", None)]
    assert net.versions("x") == {"n1": None, "n2": None, "n3": None}  # nothing happened
    assert kinds(net.events, "timeout")[0][1]["phase"] == "query"


def test_timeout_after_the_store_phase_began_is_unknown() -> None:
    net = Net(config=QuorumConfig(request_timeout_ms=500))
    net.request("n1", "write", "x", "a")
    net.deliver(lambda m: isinstance(m, (QueryVersion, QueryVersionReply)))
    net.tick(400)  # the store phase began at 0, so it gives up at 500
    net.drop(lambda m: True)
    net.tick(500)
    # The write is on n1 now: "unknown", never "fail" or "unavailable".
    assert net.take_replies() == [("n1", 1, "unknown", None)]
    assert net.versions("x")["n1"] == (1, "n1")
    # a late ack is ignored
    net.step("n1", StoreAck("n2", "n1", net.nodes["n1"].epoch, 1, "x", (1, "n1")))
    assert net.replies == []


def test_store_phase_deadline_restarts_when_the_phase_begins() -> None:
    net = Net(config=QuorumConfig(request_timeout_ms=500))
    net.request("n1", "read", "x")
    net.tick(450)
    net.deliver(lambda m: isinstance(m, (QueryVersion, QueryVersionReply)))  # write-back starts
    net.drop(lambda m: True)
    net.tick(900)
    assert net.replies == []
    net.tick(950)
    assert net.take_replies() == [("n1", 1, "unknown", None)]


# --- durability and restarts --------------------------------------------------------------------


def test_replica_persists_before_it_acks() -> None:
    net = Net()
    net.request("n1", "write", "x", "a")
    net.deliver()
    for node in ("n2", "n3"):
        mine = [(what, item) for n, what, item in net.trace if n == node]
        put = mine.index(("persist", Put("kv/x", ((1, "n1"), "a"))))
        ack = next(i for i, (what, m) in enumerate(mine) if isinstance(m, StoreAck))
        assert put < ack
    coord = [(what, item) for n, what, item in net.trace if n == "n1"]
    put = coord.index(("persist", Put("kv/x", ((1, "n1"), "a"))))
    first_store = next(i for i, (_, m) in enumerate(coord) if isinstance(m, StoreValue))
    assert put < first_store


def test_restart_recovers_store_and_ignores_replies_from_the_old_epoch() -> None:
    net = Net()
    net.request("n1", "write", "x", "a", seq=1)
    net.deliver()
    assert net.take_replies() == [("n1", 1, "ok", None)]
    net.request("n1", "read", "x", seq=2)
    stale = list(net.wire)
    net.drop(lambda m: True)
    old_epoch = net.nodes["n1"].epoch
    net.crash_restart("n1")
    assert net.nodes["n1"].epoch == old_epoch + 1
    assert net.nodes["n1"].store["x"] == ((1, "n1"), "a")  # durable, synced before acks

    net.request("n1", "read", "y", seq=3)  # request ids restart at 1 in the new epoch...
    net.request("n1", "read", "x", seq=4)  # ...so this is rid 2, like the pre-crash read
    net.drop(lambda m: True)
    for q in stale:  # the pre-crash queries arrive now and their answers come back
        net.step(q.dst, q)
    assert [m.rid for m in net.wire if isinstance(m, QueryVersionReply)] == [2, 2]
    assert len(net.wire) == 2
    net.deliver(lambda m: isinstance(m, QueryVersionReply))
    # without the epoch, one of them would have completed the new read of x (R=2)
    assert net.replies == [] and net.nodes["n1"].pending_requests == 2


def test_json_storage_round_trip_of_versions() -> None:
    durable = {"kv/x": [[3, "n2"], "v"], "quorum/epoch": 4}  # as a JSON disk gives it back
    node = QuorumNode("n1", IDS, QuorumConfig(), random.Random(0), durable=durable)
    assert node.store["x"] == ((3, "n2"), "v")
    assert node.ready().persist[0] == Put("quorum/epoch", 5)


# --- client dedup at the coordinator --------------------------------------------------------------


def test_coordinator_ignores_inflight_retry_and_replays_completed_reply() -> None:
    net = Net()
    net.request("n1", "write", "x", "a", seq=1)
    net.request("n1", "write", "x", "a", seq=1)  # retry while in flight: ignored
    assert net.nodes["n1"].pending_requests == 1
    net.deliver()
    net.request("n1", "write", "x", "a", seq=1)  # retry after ok: cached reply, no new write
    assert net.wire == []
    assert net.take_replies() == [("n1", 1, "ok", None), ("n1", 1, "ok", None)]
    assert len(kinds(net.events, "ack")) == 1


# --- flaws -----------------------------------------------------------------------------------------


def test_flaw_catalogue() -> None:
    assert QuorumFlaws.names() == ("sloppy_quorum", "skip_write_back")
    assert "R + W <= N" in QuorumFlaws.describe("sloppy_quorum")
    assert QuorumFlaws.from_names(["skip_write_back"]) == QuorumFlaws(skip_write_back=True)
    assert QuorumFlaws(sloppy_quorum=True).enabled() == ("sloppy_quorum",)
    with pytest.raises(ValueError, match="unknown flaw 'nope'; known: sloppy_quorum"):
        QuorumFlaws.from_names(["nope"])
    with pytest.raises(ValueError):
        QuorumFlaws.describe("nope")


def test_config_write_back_off_behaves_like_the_flaw() -> None:
    net = Net(config=QuorumConfig(write_back=False))
    net.request("n1", "read", "x")
    sent = list(net.wire)
    net.deliver()
    assert all(isinstance(m, QueryVersion) for m in sent)
    assert not any(isinstance(m, StoreValue) for _, _, m in net.trace)


# --- with the generic client ---------------------------------------------------------------------


def test_client_core_drives_the_quorum_register() -> None:
    net = Net()
    client = ClientCore(
        "c9", IDS, ClientConfig(retry_after_ambiguous=False), random.Random(0), preferred="n2"
    )
    outputs = []
    for op, value in (("write", 41), ("write", 42), ("read", None)):
        client.invoke(op, "x", value, now_ms=0)
        net.wire += client.ready().messages
        net.deliver(lambda m: not isinstance(m, ClientReply))
        for reply in net.replies:
            client.step(reply)
        net.replies.clear()
        outputs.append(client.take_completion())
    assert [(c.status, c.value, c.seq) for c in outputs if c] == [
        ("ok", None, 1),
        ("ok", None, 2),
        ("ok", 42, 3),
    ]
