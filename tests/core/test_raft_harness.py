"""A hand-driven network of :class:`RaftNode`s for transcript-style tests.

Nothing moves unless a test says so: ``tick`` advances one node's clock, ``deliver``
hands over in-flight messages (optionally only those matching a predicate), ``drop``
loses them, ``crash``/``restart`` rebuild a node from what its storage kept.  Every
``Ready`` is applied the way a real driver would: persist (synced or not), then queue
messages, then record replies and events.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import Any

from cluster.core.raft import HARD_STATE, LOG, RaftConfig, RaftFlaws, RaftNode
from cluster.core.storage import MemoryStorage
from cluster.core.types import ClientReply, ClientRequest, CoreEvent, Message, Put, Ready

IDS3 = ("n1", "n2", "n3")
IDS5 = ("s1", "s2", "s3", "s4", "s5")

Pred = Callable[[Message], bool]


def to(*dsts: str) -> Pred:
    return lambda m: m.dst in dsts


def frm(*srcs: str) -> Pred:
    return lambda m: m.src in srcs


def of(kind: type, *, src: str | None = None, dst: str | None = None) -> Pred:
    return lambda m: (
        isinstance(m, kind) and (src is None or m.src == src) and (dst is None or m.dst == dst)
    )


class Cluster:
    def __init__(
        self,
        ids: tuple[str, ...] = IDS3,
        config: RaftConfig | None = None,
        flaws: RaftFlaws | None = None,
        seed: int = 1,
        durable: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.ids = ids
        self.config = config or RaftConfig()
        self.flaws = flaws or RaftFlaws()
        self.seed = seed
        self.storage = {i: MemoryStorage() for i in ids}
        self.nodes: dict[str, RaftNode] = {}
        self.clock = dict.fromkeys(ids, 0)
        self.boots = dict.fromkeys(ids, 0)
        self.inflight: list[Message] = []
        self.replies: list[ClientReply] = []
        self.events: list[CoreEvent] = []
        self.readies: dict[str, list[Ready]] = {i: [] for i in ids}
        self._seq: dict[str, int] = {}
        for i in ids:
            image = (durable or {}).get(i)
            if image:
                self.storage[i].write([Put(k, v) for k, v in sorted(image.items())], sync=True)
            self._boot(i, image)

    # --- driving ------------------------------------------------------------------
    def _boot(self, nid: str, durable: dict[str, Any] | None) -> None:
        rng = random.Random(f"{self.seed}/{nid}/{self.boots[nid]}")
        self.boots[nid] += 1
        self.nodes[nid] = RaftNode(nid, self.ids, self.config, rng, durable, self.flaws)
        self.drain(nid)
        self.tick(nid, self.clock[nid])

    def drain(self, nid: str) -> Ready:
        ready = self.nodes[nid].ready()
        self.storage[nid].write(ready.persist, ready.sync)
        self.inflight.extend(ready.messages)
        self.replies.extend(ready.replies)
        self.events.extend(ready.events)
        self.readies[nid].append(ready)
        return ready

    def tick(self, nid: str, now: int) -> Ready:
        self.clock[nid] = now
        self.nodes[nid].tick(now)
        return self.drain(nid)

    def advance(self, nid: str, ms: int) -> Ready:
        return self.tick(nid, self.clock[nid] + ms)

    def step(self, msg: Message) -> Ready | None:
        if msg.dst not in self.nodes:
            return None
        self.nodes[msg.dst].step(msg)
        return self.drain(msg.dst)

    def deliver(self, pred: Pred | None = None, limit: int = 10_000) -> list[Message]:
        """Deliver matching messages (including ones they trigger) until none is left."""
        done: list[Message] = []
        while len(done) < limit:
            match = next((m for m in self.inflight if pred is None or pred(m)), None)
            if match is None:
                return done
            self.inflight.remove(match)
            done.append(match)
            self.step(match)
        raise AssertionError("message storm: delivery did not converge")

    def deliver_one(self, pred: Pred) -> Message:
        """Deliver exactly the first matching message (whatever it triggers stays queued)."""
        match = next(m for m in self.inflight if pred(m))
        self.inflight.remove(match)
        self.step(match)
        return match

    def drop(self, pred: Pred | None = None) -> list[Message]:
        gone = [m for m in self.inflight if pred is None or pred(m)]
        self.inflight = [m for m in self.inflight if not (pred is None or pred(m))]
        return gone

    def isolate(self, nid: str) -> None:
        self.drop(lambda m: nid in (m.src, m.dst))

    def crash(self, nid: str) -> int:
        del self.nodes[nid]
        return self.storage[nid].crash()

    def restart(self, nid: str) -> RaftNode:
        self._boot(nid, self.storage[nid].load())
        return self.nodes[nid]

    def elect(self, nid: str, settle: bool = True) -> RaftNode:
        """Let ``nid`` time out first and win; with ``settle``, also commit its no-op
        everywhere (one heartbeat carries the new commit index to the followers)."""
        self.advance(nid, 1000)
        self.deliver()
        node = self.nodes[nid]
        assert node.role == "leader", node.role
        if settle:
            self.heartbeat(nid)
        return node

    def heartbeat(self, nid: str) -> None:
        self.advance(nid, self.config.heartbeat_ms)
        self.deliver()

    def request(
        self,
        nid: str,
        op: str,
        key: str,
        value: Any = None,
        client: str = "c1",
        seq: int | None = None,
    ) -> ClientRequest:
        if seq is None:
            seq = self._seq.get(client, 0) + 1
        self._seq[client] = max(seq, self._seq.get(client, 0))
        req = ClientRequest(client, nid, client, seq, op, key, value)
        self.step(req)
        return req

    # --- looking ------------------------------------------------------------------
    def reply_to(self, req: ClientRequest) -> ClientReply | None:
        found = [r for r in self.replies if (r.client_id, r.seq) == (req.client_id, req.seq)]
        return found[-1] if found else None

    def leaders(self) -> list[str]:
        return [i for i in self.ids if i in self.nodes and self.nodes[i].role == "leader"]

    def events_of(self, kind: str, node: str | None = None) -> list[dict[str, Any]]:
        return [e.data for e in self.events if e.kind == kind and node in (None, e.node)]

    def durable(self, nid: str) -> dict[str, Any]:
        return self.storage[nid].load()


def image(term: int, voted_for: str | None, terms_and_cmds: Iterable[Any]) -> dict[str, Any]:
    """A durable image, for starting a node from a hand-made state."""
    return {HARD_STATE: (term, voted_for), LOG: tuple(terms_and_cmds)}


# --- the harness's own transcript --------------------------------------------------


def test_fresh_node_reports_follower_and_persists_nothing() -> None:
    c = Cluster()
    first = c.readies["n1"][0]
    assert [(e.kind, e.data) for e in first.events] == [("role", {"role": "follower", "term": 0})]
    assert first.persist == () and first.messages == ()
    assert c.durable("n1") == {}
    assert c.nodes["n1"].log == () and c.nodes["n1"].commit_index == 0


def test_same_seed_same_transcript() -> None:
    def run() -> list[tuple[str, str, dict[str, Any]]]:
        c = Cluster(seed=7)
        for i in IDS3:
            c.advance(i, 400)
        c.deliver()
        return [(e.node, e.kind, e.data) for e in c.events]

    assert run() == run()
