"""The real engine's desired world (links, clocks, failpoints) and a node's client sessions:
pure parts, tested without processes."""

from __future__ import annotations

import asyncio

from cluster.core.types import ClientReply
from cluster.runtime.sessions import ClientSessions
from cluster.runtime.world import DesiredWorld, FailpointSpec
from faults.engine import HEALTHY, LinkSettings


def test_cuts_and_degradations_overlap_without_undoing_each_other() -> None:
    w = DesiredWorld(("n1", "n2", "n3"))
    assert w.link("n1", "n2") == HEALTHY
    assert w.cut("n1", "n2") and not w.cut("n1", "n2")  # cutting a cut link changes nothing
    w.degrade("n1", "n2", LinkSettings(loss=0.2, delay_ms=30))
    assert w.link("n1", "n2") == LinkSettings(cut=True, loss=0.2, delay_ms=30)
    assert w.restore("n1", "n2") and not w.restore("n1", "n2")
    assert w.link("n1", "n2") == LinkSettings(loss=0.2, delay_ms=30)  # the degradation stays
    w.degrade("n1", "n2", HEALTHY)
    assert w.link("n1", "n2").healthy()
    w.cut("n3", "n1")
    assert sorted((s, d) for s, d, _ in w.links_of("n1")) == [("n1", "n2"), ("n3", "n1")]
    assert [(s, d) for s, d, _ in w.links_of("n2")] == [("n1", "n2")]


def test_a_restarted_node_replays_its_machines_clock() -> None:
    w = DesiredWorld(("n1",))
    w.set_clock("n1", 100, 0.0, 2.0)
    w.jump_clock("n1", -40.0)
    w.set_clock("n1", 900, 500.0, 1.0)
    again = w.replayed_clock("n1")
    for t in (900, 1200, 4000):
        assert again.read_ms(t) == w.clock("n1").read_ms(t)
    assert [c.op for c in w.clock_history("n1")] == ["set", "jump", "set"]


def test_a_bad_clock_setting_is_refused_before_it_is_kept() -> None:
    w = DesiredWorld(("n1",))
    try:
        w.set_clock("n1", 0, 0.0, 0.0)
    except ValueError as e:
        assert "rate" in str(e)
    else:
        raise AssertionError("rate 0 accepted")
    assert w.clock_history("n1") == ()


def test_failpoints_are_armed_and_disarmed_by_id() -> None:
    w = DesiredWorld(("n1",))
    fp = FailpointSpec("fp-1", "publish", {"node": "n2"}, 0)
    w.arm(fp)
    assert w.failpoint("fp-1") == fp and w.failpoints() == (fp,)
    assert w.disarm("fp-1") and not w.disarm("fp-1")
    assert w.failpoints() == ()


def _reply(client: str, seq: int) -> ClientReply:
    return ClientReply("n1", client, client, seq, "ok", None)


def test_replies_go_to_their_session_or_wait_for_one() -> None:
    async def main() -> None:
        s = ClientSessions()
        s.route(_reply("c1", 1))  # no session yet: it waits
        a: asyncio.Queue[ClientReply] = asyncio.Queue()
        s.opened(a)
        assert a.get_nowait().seq == 1
        b: asyncio.Queue[ClientReply] = asyncio.Queue()
        s.opened(b)
        s.bind("c2", b)
        s.route(_reply("c2", 7))
        assert b.get_nowait().seq == 7 and a.empty()
        s.route(_reply("c9", 3))  # its request reached an earlier incarnation: every session
        assert a.get_nowait().seq == 3 and b.get_nowait().seq == 3 and s.broadcast == 1
        s.closed(b)
        s.route(_reply("c2", 8))  # c2's session is gone: broadcast to those left
        assert a.get_nowait().seq == 8

    asyncio.run(main())
