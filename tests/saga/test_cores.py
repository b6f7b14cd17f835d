"""The saga cores as transcripts: inputs in, outputs out (no simulator)."""

from __future__ import annotations

import random

from cluster.core.broker_model import LogBroker, QueueBroker
from cluster.core.outbox import OutboxRow
from cluster.core.saga import Orchestrator, step_key
from cluster.core.saga_config import SagaConfig, SagaFlaws
from cluster.core.saga_messages import (
    Ack,
    CommitFailed,
    Deliver,
    Publish,
    PublishAck,
    Subscribe,
    payload_get,
    payload_of,
)
from cluster.core.saga_services import ServiceNode
from cluster.core.storage import MemoryStorage
from cluster.core.types import ClientReply, ClientRequest, Put, Ready

NODES = ("n1", "n2", "n3", "n4", "n5")
CFG = SagaConfig()


def kinds(r: Ready) -> list[str]:
    return [e.kind for e in r.events]


def cmd(saga: str = "t1", action: str = "reserve-flight", phase: str = "forward", step: int = 0,
        plan: str = "ok", key: str | None = None, row: str = "r1", tag: str = "e.1",
        redelivered: bool = False) -> Deliver:
    key = key or f"{saga}:{step}:{action}"
    p = payload_of(saga=saga, step=step, phase=phase, action=action, plan=plan, attempt=1)
    return Deliver("n1", "n3", "flight", 0, 1, tag, key, row, saga, p, redelivered)


def service(flaws: SagaFlaws | None = None, durable: dict | None = None) -> ServiceNode:
    s = ServiceNode("n3", NODES, CFG, random.Random(1), service="flight", durable=durable, flaws=flaws)
    s.tick(0)
    s.ready()
    return s


# --- outbox relay ---------------------------------------------------------------------------


def test_relay_publishes_committed_rows_then_marks_them_after_the_confirm() -> None:
    s = service()
    s.step(cmd())
    r = s.ready()
    assert kinds(r) == ["consume", "txn", "effect"]
    assert any(isinstance(op, Put) and op.key.startswith("outbox/") for op in r.persist)
    assert not any(isinstance(m, Publish) for m in r.messages)  # the relay polls later
    s.tick(30)
    r = s.ready()
    pubs = [m for m in r.messages if isinstance(m, Publish)]
    assert len(pubs) == 1 and pubs[0].topic == "orchestrator" and pubs[0].msg_id == "t1:0:reserve-flight:reply"
    assert "publish" in kinds(r) and any(isinstance(m, Ack) for m in r.messages)  # ack after commit
    s.step(PublishAck("n1", "n3", pubs[0].row))
    r = s.ready()
    assert r.persist == (Put(f"outbox/{pubs[0].row}", None),) and kinds(r) == ["published"]


def test_a_crash_before_the_mark_republishes_the_same_row() -> None:
    disk = MemoryStorage()
    s = service()
    s.step(cmd())
    disk.write(s.ready().persist, True)
    s.tick(30)
    first = [m for m in s.ready().messages if isinstance(m, Publish)][0]
    # crash here: the confirm never arrives; restart from disk
    s2 = ServiceNode("n3", NODES, CFG, random.Random(2), service="flight", durable=disk.load())
    s2.tick(1000)
    again = [m for m in s2.ready().messages if isinstance(m, Publish)]
    assert [(m.row, m.msg_id) for m in again] == [(first.row, first.msg_id)]


def test_dual_write_publishes_before_the_transaction_commits() -> None:
    s = service(SagaFlaws(publish_outside_transaction=True))
    s.step(cmd())
    r = s.ready()
    assert kinds(r) == ["consume", "publish"] and not r.persist  # published, nothing committed yet
    s.tick(10)
    assert "txn" in kinds(s.ready())


# --- consumer -------------------------------------------------------------------------------


def test_inbox_turns_a_redelivery_into_a_dedup_that_resends_the_reply() -> None:
    s = service()
    s.step(cmd())
    s.ready()
    s.step(cmd(redelivered=True, tag="e.2"))
    r = s.ready()
    assert kinds(r) == ["consume", "dedup", "txn"]  # the txn holds the re-sent reply's outbox row


def test_without_dedup_a_redelivery_applies_again() -> None:
    s = service(SagaFlaws(consumer_without_dedup=True))
    s.step(cmd())
    s.ready()
    s.step(cmd(redelivered=True, tag="e.2"))
    assert kinds(s.ready()) == ["consume", "txn", "effect"]


def test_ack_before_processing_acks_on_receipt() -> None:
    s = service(SagaFlaws(ack_before_processing=True))
    s.step(cmd())
    r = s.ready()
    assert kinds(r) == ["consume", "msg-ack"] and any(isinstance(m, Ack) for m in r.messages)
    s.tick(10)
    assert "effect" in kinds(s.ready())


def test_compensation_is_a_noop_for_a_step_that_never_ran() -> None:
    s = service()
    s.step(cmd(action="cancel-flight", phase="compensate", key="t1:0:cancel-flight"))
    r = s.ready()
    eff = [e for e in r.events if e.kind == "effect"][0]
    assert eff.data["outcome"] == "noop"
    s2 = service(SagaFlaws(non_idempotent_compensation=True))
    s2.step(cmd(action="cancel-flight", phase="compensate", key="t1:0:cancel-flight"))
    assert [e for e in s2.ready().events if e.kind == "effect"][0].data["outcome"] == "applied"


def test_dedup_ttl_expires_inbox_rows_by_local_clock() -> None:
    s = service(SagaFlaws(dedup_window_ttl=True))
    s.step(cmd())
    s.ready()
    s.tick(5000)  # a clock jump: the row is older than dedup_ttl_ms
    assert "inbox-expire" in kinds(s.ready())
    s.step(cmd(redelivered=True, tag="e.2"))
    assert "effect" in kinds(s.ready())


# --- brokers --------------------------------------------------------------------------------


def test_queue_broker_confirms_after_a_synced_write_and_requeues_on_session_loss() -> None:
    b = QueueBroker("n1", CFG, random.Random(1))
    b.ready()
    b.tick(0)
    b.step(Subscribe("n3", "n1", "flight", "s1"))
    b.ready()
    b.step(Publish("n2", "n1", "flight", "t1", "k1", "r1", ()))
    r = b.ready()
    assert r.sync and r.persist and isinstance(r.messages[0], PublishAck)
    d = [m for m in r.messages if isinstance(m, Deliver)][0]
    assert not d.redelivered
    b.tick(1000)  # no heartbeat for longer than the session timeout
    r = b.ready()
    assert "broker-requeue" in kinds(r)
    b.step(Subscribe("n3", "n1", "flight", "s2"))
    again = [m for m in b.ready().messages if isinstance(m, Deliver)]
    assert again and again[0].redelivered and again[0].msg_id == "k1"
    b.step(Ack("n3", "n1", "flight", again[0].tag))
    r = b.ready()
    assert not r.sync and "broker-ack" in kinds(r)  # acks are written lazily


def test_queue_broker_restart_keeps_durable_messages_flagged_redelivered() -> None:
    disk = MemoryStorage()
    b = QueueBroker("n1", CFG, random.Random(1))
    b.step(Publish("n2", "n1", "flight", "t1", "k1", "r1", ()))
    r = b.ready()
    disk.write(r.persist, r.sync)
    b2 = QueueBroker("n1", CFG, random.Random(2), disk.load())
    b2.step(Subscribe("n3", "n1", "flight", "s1"))
    ds = [m for m in b2.ready().messages if isinstance(m, Deliver)]
    assert [(d.msg_id, d.redelivered) for d in ds] == [("k1", True)]


def test_log_broker_rebalance_rewinds_to_the_committed_offset_and_refuses_stale_commits() -> None:
    cfg = SagaConfig(broker="log", partitions=1)
    b = LogBroker("n1", cfg, random.Random(1))
    b.tick(0)
    b.step(Subscribe("n3", "n1", "flight", "s1"))
    b.step(Publish("n2", "n1", "flight", "t1", "k1", "r1", ()))
    b.step(Publish("n2", "n1", "flight", "t2", "k2", "r2", ()))
    ds = [m for m in b.ready().messages if isinstance(m, Deliver)]
    assert [d.offset for d in ds] == [0, 1]
    gen = ds[0].generation
    b.step(Ack("n3", "n1", "flight", "p0@1", partition=0, offset=1, generation=gen, session="s1"))
    b.ready()
    b.tick(1000)  # session timeout: rebalance
    b.step(Ack("n3", "n1", "flight", "p0@2", partition=0, offset=2, generation=gen, session="s1"))
    assert any(isinstance(m, CommitFailed) for m in b.ready().messages)
    b.step(Subscribe("n3", "n1", "flight", "s1"))
    again = [m for m in b.ready().messages if isinstance(m, Deliver)]
    assert [(d.offset, d.redelivered) for d in again] == [(1, True)]


def test_log_broker_in_memory_storage_forgets_everything_on_restart() -> None:
    disk = MemoryStorage()
    b = LogBroker("n1", SagaConfig(broker="log", log_storage="memory"), random.Random(1))
    b.step(Publish("n2", "n1", "flight", "t1", "k1", "r1", ()))
    r = b.ready()
    assert not r.persist
    disk.write(r.persist, r.sync)
    assert LogBroker("n1", SagaConfig(broker="log"), random.Random(2), disk.load()).logs == {}


# --- orchestrator ---------------------------------------------------------------------------


def reply(saga: str, step: int, phase: str, outcome: str, row: str = "rr") -> Deliver:
    p = payload_of(saga=saga, step=step, phase=phase, action="x", key="k", outcome=outcome)
    return Deliver("n1", "n2", "orchestrator", 0, 1, f"e.{row}", f"{saga}:{step}:reply", row, saga, p, False)


def orchestrator(flaws: SagaFlaws | None = None) -> Orchestrator:
    o = Orchestrator("n2", NODES, CFG, random.Random(1), flaws=flaws)
    o.tick(0)
    o.ready()
    return o


def outbox_rows(r: Ready) -> list[OutboxRow]:
    return [op.value for op in r.persist if isinstance(op, Put) and op.key.startswith("outbox/")]


def test_orchestrator_persists_saga_state_with_each_command() -> None:
    o = orchestrator()
    o.step(ClientRequest("c0", "n2", "c0", 1, "book", "t1", "ok"))
    r = o.ready()
    assert kinds(r) == ["saga-start", "saga-step", "txn"]
    keys = [op.key for op in r.persist]
    assert "saga/t1" in keys and any(k.startswith("outbox/") for k in keys)
    assert outbox_rows(r)[0].msg_id == "t1:0:reserve-flight"


def test_orchestrator_retries_with_the_same_key_after_backoff() -> None:
    o = orchestrator()
    o.step(ClientRequest("c0", "n2", "c0", 1, "book", "t1", "ok"))
    o.ready()
    o.tick(CFG.step_timeout_ms + 1)
    assert "saga-retry" in kinds(o.ready())
    o.tick(CFG.step_timeout_ms + 1 + CFG.retry_max_ms + CFG.retry_base_ms + 1)
    r = o.ready()
    assert [row.msg_id for row in outbox_rows(r)] == ["t1:0:reserve-flight"]


def test_orchestrator_compensates_in_reverse_order_and_answers_the_client() -> None:
    o = orchestrator()
    o.step(ClientRequest("c0", "n2", "c0", 1, "book", "t1", "card-declined"))
    o.ready()
    o.step(reply("t1", 0, "forward", "applied", "a"))
    o.ready()
    o.step(reply("t1", 1, "forward", "applied", "b"))
    o.ready()
    o.step(reply("t1", 2, "forward", "rejected", "c"))
    r = o.ready()
    assert [row.msg_id for row in outbox_rows(r)] == ["t1:1:cancel-hotel"]
    o.step(reply("t1", 1, "compensate", "applied", "d"))
    r = o.ready()
    assert [row.msg_id for row in outbox_rows(r)] == ["t1:0:cancel-flight"]
    o.step(reply("t1", 0, "compensate", "applied", "e"))
    r = o.ready()
    assert "saga-end" in kinds(r)
    assert r.replies == (ClientReply("n2", "c0", "c0", 1, "ok", "cancelled"),)
    o.step(reply("t1", 0, "compensate", "applied", "e"))  # a duplicate reply: ignored by state
    assert [e.data["ignored"] for e in o.ready().events if e.kind == "saga-reply"] == [True]


def test_step_keys_are_derived_unless_a_flaw_says_otherwise() -> None:
    ok, bad = SagaFlaws(), SagaFlaws(charge_without_idempotency_key=True)
    assert step_key("t", 2, "forward", 1, ok) == step_key("t", 2, "forward", 5, ok)
    assert step_key("t", 2, "forward", 1, bad) != step_key("t", 2, "forward", 2, bad)


def test_flaws_are_named_and_described() -> None:
    assert len(SagaFlaws.names()) == 7
    for name in SagaFlaws.names():
        assert SagaFlaws.describe(name)
        assert SagaFlaws.from_names([name]).enabled() == (name,)
    assert payload_get(payload_of(a=1), "a") == 1
