"""The event-log cores as transcripts: inputs in, outputs out (no simulator)."""

from __future__ import annotations

import random
from typing import Any

from cluster.core.eventlog_config import EventLogConfig, EventLogFlaws
from cluster.core.eventlog_consumer import ConsumerService, DeadLetterStore
from cluster.core.eventlog_producer import ProducerService
from cluster.core.log_client import LogClient, LogCompletion
from cluster.core.saga_messages import Ack, Deliver, Publish, PublishAck, payload_of
from cluster.core.storage import MemoryStorage
from cluster.core.types import ClientReply, ClientRequest, Ready

NODES = ("n1", "n2", "n3", "n4")
CFG = EventLogConfig()


def kinds(r: Ready) -> list[str]:
    return [e.kind for e in r.events]


def event(offset: int, value: Any, *, partition: int = 0, generation: int = 7, committed: int = 0,
          msg_id: str | None = None, redelivered: bool = False) -> Deliver:
    return Deliver("n1", "n3", "events", partition, offset, f"p{partition}@{offset}", msg_id or f"m{value}",
                   f"row{value}", f"p{partition}", payload_of(value=value, partition=partition), redelivered,
                   generation, committed)


def consumer(flaws: EventLogFlaws | None = None, durable: dict[str, Any] | None = None,
             config: EventLogConfig = CFG) -> ConsumerService:
    c = ConsumerService("n3", NODES, config, random.Random(1), durable=durable, flaws=flaws)
    c.tick(0)
    c.ready()
    return c


def poll(c: ConsumerService, after: int | None, seq: int = 1) -> Any:
    c.step(ClientRequest("c0", "n3", "c0", seq, "poll", None, after))
    reply = [m for m in c.ready().replies if isinstance(m, ClientReply)][0]
    assert reply.status == "ok"
    return reply.value


def commits(r: Ready) -> list[int]:
    return [m.offset for m in r.messages if isinstance(m, Ack)]


# --- consumer ---------------------------------------------------------------------------------------


def test_consumer_processes_in_order_and_commits_only_after_the_effect_is_durable() -> None:
    c = consumer()
    c.step(event(0, 10))
    r = c.ready()
    assert kinds(r) == ["consume", "rebalance-seen", "txn", "effect", "handled"]
    assert any(op.key.startswith("plog/") for op in r.persist) and not commits(r)
    c.tick(200)  # the commit interval has passed: the offset after the processed event
    assert commits(c.ready()) == [1]


def test_commit_before_process_commits_on_receipt_and_a_crash_loses_the_event() -> None:
    disk = MemoryStorage()
    c = consumer(EventLogFlaws(commit_before_process=True))
    c.step(event(0, 10))
    r = c.ready()
    disk.write(r.persist, r.sync)
    assert commits(r) == [1] and "effect" not in kinds(r)  # committed, not processed yet
    # the crash comes before the next tick: the restarted consumer has nothing to process
    again = ConsumerService("n3", NODES, CFG, random.Random(2), durable=disk.load(),
                            flaws=EventLogFlaws(commit_before_process=True))
    again.tick(500)
    assert "effect" not in kinds(again.ready()) and again.store.table("applied") == {}


def test_a_redelivered_event_is_skipped_by_the_inbox_and_not_logged_twice() -> None:
    c = consumer()
    c.step(event(0, 10))
    c.ready()
    c.step(event(0, 10, generation=8, redelivered=True))  # after a rebalance
    r = c.ready()
    assert "dedup" in kinds(r) and "effect" not in kinds(r)
    reads, cursor, rebalances = poll(c, None)
    assert reads == ((0, ((0, 10),)),) and cursor == 3  # two rebalance markers and one record
    assert rebalances == (("assigned", (0,)), ("assigned", (0,)))


def test_poll_reads_on_from_the_cursor_and_a_new_process_resumes_where_the_last_confirmed() -> None:
    c = consumer(config=EventLogConfig(poll_max=2))
    for off in range(3):
        c.step(event(off, 10 + off))
    c.ready()
    reads, cursor, _ = poll(c, None)
    assert cursor == 2 and reads == ((0, ((0, 10),)),)  # the marker, then offset 0
    reads, cursor, _ = poll(c, cursor, seq=2)
    assert reads == ((0, ((1, 11), (2, 12))),) and cursor == 4
    reads, _, _ = poll(c, None, seq=3)  # a new process: from the last confirmed cursor (2)
    assert reads == ((0, ((1, 11), (2, 12))),)


def test_a_poison_event_is_retried_with_backoff_then_dead_lettered_and_the_partition_moves_on() -> None:
    c = consumer(config=EventLogConfig(max_attempts=3, retry_base_ms=100))
    c.step(event(0, "poison-1"))
    c.step(event(1, 2))
    r = c.ready()
    assert kinds(r).count("process-failed") == 1 and "effect" not in kinds(r)  # 2 waits behind it
    c.tick(50)
    assert "process-failed" not in kinds(c.ready())  # backing off (100 ms)
    c.tick(100)
    assert "process-failed" in kinds(c.ready())  # attempt 2, next wait 200 ms
    c.tick(300)
    r = c.ready()
    handled = [(e.data["offset"], e.data["outcome"]) for e in r.events if e.kind == "handled"]
    assert handled == [(0, "dead-lettered"), (1, "processed")]
    dlq = [row for row in c.relay.pending.values() if row.topic == "events.dlq"]
    assert [row.msg_id for row in dlq] == ["mpoison-1:dlq"]


def test_without_a_budget_a_poison_event_blocks_its_partition_for_good() -> None:
    c = consumer(EventLogFlaws(retry_poison_forever=True))
    c.step(event(0, "poison-1"))
    c.step(event(1, 2))
    c.ready()
    for t in range(100, 20_000, 100):
        c.tick(t)
        assert "handled" not in kinds(c.ready())
    assert c.attempts[(0, 0)] > 20


def test_a_stale_generation_delivery_neither_rewinds_nor_blocks_the_partition() -> None:
    """Found by explore: a record pushed before a rebalance arrived after it, rewound the
    consumer's expected offset to the old commit, and every later record was dropped as a gap."""
    c = consumer()
    c.step(event(0, 10, generation=7))
    c.step(event(0, 10, generation=8, redelivered=True))  # rebalance: generation 7 is retired
    c.step(event(1, 11, generation=7))  # late, from the retired generation
    c.step(event(1, 11, generation=8, committed=0))
    r = c.ready()
    assert "stale-delivery" in kinds(r)
    assert [e.data["offset"] for e in r.events if e.kind == "handled" and e.data["outcome"] == "processed"] == [0, 1]


# --- producer ---------------------------------------------------------------------------------------


def producer(flaws: EventLogFlaws | None = None) -> ProducerService:
    p = ProducerService("n2", NODES, CFG, random.Random(1), flaws=flaws)
    p.tick(0)
    p.ready()
    return p


def test_producer_commits_to_its_outbox_publishes_and_answers_with_the_offset() -> None:
    p = producer()
    p.step(ClientRequest("c1", "n2", "c1", 1, "send", None, [1, 42]))
    r = p.ready()
    assert kinds(r) == ["txn"] and r.persist and not r.replies
    p.tick(30)
    pub = [m for m in p.ready().messages if isinstance(m, Publish)][0]
    assert pub.partition == 1 and pub.producer and pub.producer_seq == 1
    p.step(PublishAck("n1", "n2", pub.row, True, 1, 5))
    r = p.ready()
    assert [(m.status, m.value) for m in r.replies] == [("ok", (1, (5, 42)))]
    assert "produced" in kinds(r)


def test_idempotent_retries_are_appended_once_and_answered_with_the_first_offset() -> None:
    from cluster.core.broker_model import LogBroker

    disk = MemoryStorage()
    b = LogBroker("n1", CFG.broker_config(), random.Random(1))
    first = Publish("n2", "n1", "events", "p1", "m1", "r1", payload_of(value=1), 1, "n2-ab", 1)
    b.step(first)
    r = b.ready()
    disk.write(r.persist, r.sync)
    assert [(a.partition, a.offset) for a in r.messages if isinstance(a, PublishAck)] == [(1, 0)]
    b.step(first)  # the retry after a lost acknowledgement
    r = b.ready()
    assert kinds(r) == ["broker-dedup"] and not r.persist
    assert [(a.partition, a.offset) for a in r.messages if isinstance(a, PublishAck)] == [(1, 0)]
    again = LogBroker("n1", CFG.broker_config(), random.Random(2), disk.load())  # dedup outlives a restart
    again.step(first)
    assert kinds(again.ready()) == ["broker-recover", "broker-dedup"]


def test_a_producer_without_idempotence_retries_as_a_new_record() -> None:
    from cluster.core.broker_model import LogBroker

    p = producer(EventLogFlaws(producer_without_idempotence=True))
    p.step(ClientRequest("c1", "n2", "c1", 1, "send", None, [0, 7]))
    p.ready()
    p.tick(30)
    pub = [m for m in p.ready().messages if isinstance(m, Publish)][0]
    assert pub.producer == "" and pub.producer_seq == -1
    p.tick(30 + CFG.confirm_timeout_ms + 20)  # no confirm: published again
    retry = [m for m in p.ready().messages if isinstance(m, Publish)][0]
    b = LogBroker("n1", CFG.broker_config(), random.Random(1))
    b.step(pub)
    b.step(retry)
    assert [a.offset for a in b.ready().messages if isinstance(a, PublishAck)] == [0, 1]  # twice in the log


# --- dead letters and the client ---------------------------------------------------------------------


def test_dead_letter_store_parks_each_message_once() -> None:
    d = DeadLetterStore("n4", NODES, CFG, random.Random(1))
    d.tick(0)
    d.ready()
    m = Deliver("n1", "n4", "events.dlq", 0, 0, "p0@0", "m9:dlq", "r9", "p0", payload_of(value="poison-9"), False,
                3, 0)
    d.step(m)
    assert [e.data.get("outcome") for e in d.ready().events if e.kind == "handled"] == ["parked"]
    d.step(m)
    assert [e.data.get("outcome") for e in d.ready().events if e.kind == "handled"] == ["duplicate"]


def done(c: LogClient) -> LogCompletion:
    got = c.take_completion()
    assert got is not None
    return got


def test_log_client_records_the_native_log_history_shapes() -> None:
    c = LogClient("c0", {"subscribe": "n3", "poll": "n3", "send": "n2"}, random.Random(1), group="n3")
    c.invoke("subscribe", None, [0, 1], 0)
    assert c.invoke_extra == (("group", "n3"), ("auto_commit", False))
    c.ready()
    c.step(ClientReply("n3", "c0", "c0", 1, "ok", (0, 1)))
    assert done(c).value == [0, 1]
    c.invoke("poll", None, None, 10)
    req = c.ready().messages[0]
    assert isinstance(req, ClientRequest) and req.value is None
    c.step(ClientReply("n3", "c0", "c0", 2, "ok", (((1, ((0, 5),)),), 2, (("assigned", (1,)),))))
    got = done(c)
    assert got.value == {"1": [[0, 5]]} and got.extra == (("rebalance_log", [{"type": "assigned", "keys": ["1"]}]),)
    c.invoke("poll", None, None, 20)
    nxt = c.ready().messages[0]
    assert isinstance(nxt, ClientRequest) and nxt.value == 2  # the cursor travels with the next poll
    c.tick(20 + 3000)
    assert done(c).status == "info"
