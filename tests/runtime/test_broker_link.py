"""BrokerLink's link-fault logic and the pipeline codec, without a broker (pure logic).

The link's broker calls are replaced by a recording stub *bridge* in these unit tests only;
the real bridge against real RabbitMQ/Tansu is covered by tests/brokers.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from cluster.core.pipeline import DocWrite, Point, Upsert, UpsertAck
from cluster.core.saga_messages import Ack, Publish, PublishAck, Subscribe
from cluster.runtime import codec_pipeline
from cluster.runtime.broker_link import BrokerLink, BrokerLinkSpec
from cluster.runtime.codec import decode, encode
from faults.engine import LinkSettings

SPEC = BrokerLinkSpec(node="n1", kind="rabbitmq", address="amqp://unused", namespace="t.")


class _Bridge:
    """Records what reached "the broker"; answers publishes with a confirm."""

    def __init__(self) -> None:
        self.published: list[str] = []
        self.closed = 0
        self.consumers: dict[str, Any] = {}

    def on_publish(self, m: Publish) -> PublishAck:
        self.published.append(m.row)
        return PublishAck("n1", m.src, m.row)

    def on_ack(self, m: Ack) -> None:
        return None

    def on_subscribe(self, m: Subscribe) -> None:
        self.consumers[m.src] = object()

    def poll(self, node: str, timeout: float, max_messages: int = 50) -> list[Any]:
        return []

    def close(self) -> None:
        self.closed += 1


def _link(bridge: _Bridge, answers: list[Any]) -> BrokerLink:
    link = BrokerLink("n3", SPEC, rng=random.Random(1), on_message=answers.append)
    link._ensure = lambda: bridge  # type: ignore[method-assign]
    return link


def _publish(i: int) -> Publish:
    return Publish("n3", "n1", "flight", "k", f"m{i}", f"r{i}", ())


async def _drain(link: BrokerLink) -> None:
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    link.after_pending(lambda: done.set_result(None))
    await done
    await asyncio.sleep(0)


def test_publishes_are_confirmed_in_order_and_a_cut_drops_them() -> None:
    async def go() -> None:
        bridge, answers = _Bridge(), list[Any]()
        link = _link(bridge, answers)
        link._loop = asyncio.get_running_loop()
        for i in range(3):
            link.send(_publish(i))
        await _drain(link)
        assert bridge.published == ["r0", "r1", "r2"]
        assert [a.row for a in answers] == ["r0", "r1", "r2"]
        link.configure(LinkSettings(cut=True), inbound=False)
        link.send(_publish(3))
        await _drain(link)
        assert bridge.published == ["r0", "r1", "r2"] and link.stats["dropped"] == 1
        link.configure(LinkSettings(), inbound=False)
        link.send(_publish(4))
        await _drain(link)
        assert bridge.published[-1] == "r4"
        await link.close()

    asyncio.run(go())


def test_loss_towards_the_node_drops_a_confirm_after_the_broker_stored_the_message() -> None:
    async def go() -> None:
        bridge, answers = _Bridge(), list[Any]()
        link = _link(bridge, answers)
        link._loop = asyncio.get_running_loop()
        link.configure(LinkSettings(loss=1.0), inbound=True)
        link.send(_publish(0))
        await _drain(link)
        assert bridge.published == ["r0"] and answers == []  # stored, never confirmed
        link.configure(LinkSettings(), inbound=True)
        link.send(_publish(0))  # the relay's republish
        await _drain(link)
        assert [a.row for a in answers] == ["r0"]
        await link.close()

    asyncio.run(go())


def test_duplicate_publishes_twice_and_a_frozen_node_sends_nothing() -> None:
    async def go() -> None:
        bridge, answers = _Bridge(), list[Any]()
        link = _link(bridge, answers)
        link._loop = asyncio.get_running_loop()
        link.configure(LinkSettings(duplicate=1.0), inbound=False)
        link.send(_publish(0))
        await _drain(link)
        assert bridge.published == ["r0", "r0"]  # two broker messages: the consumer must dedup
        link.frozen = True
        link.send(_publish(1))
        await _drain(link)
        assert bridge.published == ["r0", "r0"]
        await link.close()

    asyncio.run(go())


def test_what_the_broker_hands_a_frozen_node_is_held_until_it_thaws() -> None:
    """A poll that was under way when the node froze still returns its deliveries, and a
    publish confirm can come back during the freeze.  Dropped, a delivery would stay unacked
    on a live connection and never be redelivered when the freeze ends in a thaw (a false
    "never delivered"); held, the thawed node gets each one, in arrival order."""
    from cluster.core.saga_messages import Deliver

    async def go() -> None:
        bridge, answers = _Bridge(), list[Any]()
        link = _link(bridge, answers)
        link._loop = asyncio.get_running_loop()
        link.send(_publish(0))
        link.frozen = True  # the confirm of r0 is still on its way
        await _drain(link)
        deliveries = [Deliver("n1", "n3", "orchestrator", 0, i, str(i), f"m{i}", f"row{i}", "k", (), False)
                      for i in (1, 2)]
        for d in deliveries:
            link._inbound(d)  # as the poll loop hands over what a poll returned
        assert answers == []
        link.frozen = False
        assert [type(a).__name__ for a in answers] == ["PublishAck", "Deliver", "Deliver"]
        assert answers[1:] == deliveries
        await link.close()

    asyncio.run(go())


def test_a_subscription_is_remembered_across_a_cut_for_the_reconnect() -> None:
    async def go() -> None:
        bridge, answers = _Bridge(), list[Any]()
        link = _link(bridge, answers)
        link._loop = asyncio.get_running_loop()
        link.configure(LinkSettings(cut=True), inbound=True)
        sub = Subscribe("n3", "n1", "flight", "s1")
        link.send(sub)
        assert link._subscription == sub  # kept for the re-subscribe when the link heals
        await link.close()

    asyncio.run(go())


def test_pipeline_messages_round_trip_through_the_wire_codec() -> None:
    codec_pipeline.register()
    codec_pipeline.register()  # idempotent
    up = Upsert("n3", "n5", "batch-1", (
        DocWrite("d1", 2, "d1@v2", (
            Point("d1:2:0", "d1", 2, 0, "raft elects a leader", (0.25, -0.5, 0.125)),
            Point("d1:2:1", "d1", 2, 1, "a leader appends", (1.0, 0.0, 0.0)),
        )),
    ))
    assert decode(encode(up)) == up
    ack = UpsertAck("n5", "n3", "batch-1", (("d1@v2", "applied"),))
    assert decode(encode(ack)) == ack
