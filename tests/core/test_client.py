"""Transcript tests of the generic client: requests out, replies in, one completion.

The "servers" are the test itself: it reads the requests the client sends and hands it
whatever replies the case needs, so each retry rule is visible on its own.
"""

from __future__ import annotations

import random

import pytest

from cluster.core.client import ClientBusy, ClientConfig, ClientCore, Completion
from cluster.core.types import ClientReply, ClientRequest

NODES = ("n1", "n2", "n3")


def make(preferred: str | None = "n1", **config: object) -> ClientCore:
    cfg = ClientConfig(**{"timeout_ms": 1000, "retry_backoff_ms": 20, **config})  # type: ignore[arg-type]
    return ClientCore("c1", NODES, cfg, random.Random(7), preferred=preferred)


def sent(client: ClientCore) -> list[tuple[str, int, str]]:
    """(dst, seq, op) of every request in the next Ready."""
    out = []
    for m in client.ready().messages:
        assert isinstance(m, ClientRequest) and m.src == "c1" and m.client_id == "c1"
        out.append((m.dst, m.seq, m.op))
    return out


def reply(
    client: ClientCore,
    src: str,
    status: str,
    value: object = None,
    hint: str | None = None,
    seq: int | None = None,
) -> None:
    client.step(
        ClientReply(src, "c1", "c1", client.seq if seq is None else seq, status, value, hint)
    )


def done(client: ClientCore) -> tuple[str, object, int] | None:
    c = client.take_completion()
    return None if c is None else (c.status, c.value, c.attempts)


# --- ok / fail ------------------------------------------------------------------------------


def test_ok_completes_with_the_value_and_seq_grows_per_invoke() -> None:
    client = make()
    client.invoke("get", "x", None, now_ms=0)
    assert client.busy and sent(client) == [("n1", 1, "get")]
    reply(client, "n1", "ok", 5)
    assert not client.busy
    completion = client.take_completion()
    assert completion == Completion("ok", 5, 1, seq=1, node="n1")
    assert client.take_completion() is None
    client.invoke("put", "x", 6, now_ms=10)
    assert sent(client) == [("n1", 2, "put")]


def test_fail_reply_is_definite() -> None:
    client = make()
    client.invoke("cas", "x", (1, 2), now_ms=0)
    sent(client)
    client.tick(300)  # attempt timed out: an ambiguous attempt is outstanding at n1
    assert sent(client) == [("n2", 1, "cas")]
    # A deduplicating server evaluates seq 1 once; every attempt gets that one outcome,
    # so "fail" from anyone means it never took effect.
    reply(client, "n2", "fail")
    assert done(client) == ("fail", None, 2)


def test_invoke_while_busy_or_untaken_raises() -> None:
    client = make()
    client.invoke("get", "x", None, now_ms=0)
    with pytest.raises(ClientBusy):
        client.invoke("get", "x", None, now_ms=0)
    reply(client, "n1", "ok", 1)
    with pytest.raises(ClientBusy):  # taking the completion first keeps histories whole
        client.invoke("get", "x", None, now_ms=0)
    client.take_completion()
    client.invoke("get", "x", None, now_ms=0)


def test_stale_and_foreign_replies_are_ignored() -> None:
    client = make()
    client.invoke("get", "x", None, now_ms=0)
    sent(client)
    reply(client, "n1", "ok", 1)
    client.take_completion()
    client.invoke("get", "x", None, now_ms=5)
    sent(client)
    reply(client, "n1", "ok", "late answer to seq 1", seq=1)
    client.step(ClientReply("n1", "c1", "someone-else", 2, "ok", "not mine"))
    assert client.busy and done(client) is None
    reply(client, "n1", "ok", 2)
    assert done(client) == ("ok", 2, 1)


# --- redirects and leaders ----------------------------------------------------------------------


def test_redirect_with_hint_retries_there_at_once_with_the_same_seq() -> None:
    client = make()
    client.invoke("put", "x", 1, now_ms=0)
    assert sent(client) == [("n1", 1, "put")]
    reply(client, "n1", "redirect", hint="n3")
    assert sent(client) == [("n3", 1, "put")]
    reply(client, "n3", "ok")
    assert done(client) == ("ok", None, 2)
    # the leader is remembered for the next operation
    client.invoke("put", "x", 2, now_ms=10)
    assert sent(client) == [("n3", 2, "put")]


def test_redirect_without_hint_backs_off_then_tries_the_next_node() -> None:
    client = make(preferred="n3")
    client.invoke("get", "x", None, now_ms=0)
    sent(client)
    reply(client, "n3", "redirect")
    assert sent(client) == []
    assert client.next_wakeup() == 20
    client.tick(19)
    assert sent(client) == []
    client.tick(20)
    assert sent(client) == [("n1", 1, "get")]  # round robin wraps


def test_stale_hint_ping_pong_is_bounded() -> None:
    client = make()
    client.invoke("get", "x", None, now_ms=0)
    hops = []
    target = sent(client)[0][0]
    for _ in range(len(NODES)):  # n1 says "n2", n2 says "n1": both have stale terms
        reply(client, target, "redirect", hint="n2" if target == "n1" else "n1")
        ((target, _, _),) = sent(client)
        hops.append(target)
    assert hops == ["n2", "n1", "n2"]
    reply(client, target, "redirect", hint="n1")
    # after len(nodes) immediate hops the client waits instead of spinning in zero time
    assert sent(client) == []
    assert client.next_wakeup() == 20


def test_unavailable_everywhere_until_the_deadline_is_fail() -> None:
    client = make(timeout_ms=100)
    client.invoke("put", "x", 1, now_ms=0)
    now = 0
    while client.busy:
        for dst, seq, _ in sent(client):
            assert seq == 1
            reply(client, dst, "unavailable")
        now += 10
        client.tick(now)
    completion = client.take_completion()
    assert completion is not None and completion.status == "fail"
    assert completion.attempts >= 3 and completion.node is None


def test_unavailable_rotates_and_forgets_the_leader() -> None:
    client = make()
    client.invoke("get", "x", None, now_ms=0)
    sent(client)
    reply(client, "n1", "unavailable")
    client.tick(20)
    assert sent(client) == [("n2", 1, "get")]
    assert client.leader is None


# --- ambiguity ----------------------------------------------------------------------------------


def test_unknown_retries_with_the_same_seq_and_ends_info() -> None:
    client = make(timeout_ms=200)
    client.invoke("put", "x", 1, now_ms=0)
    sent(client)
    reply(client, "n1", "unknown")
    client.tick(20)
    assert sent(client) == [("n2", 1, "put")]
    reply(client, "n2", "unavailable")  # definite for *this* attempt, but not for n1's
    client.tick(40)
    assert sent(client) == [("n3", 1, "put")]
    reply(client, "n3", "redirect")
    client.tick(200)
    assert done(client) == ("info", None, 3)


def test_unanswered_attempts_time_out_to_another_node_and_end_info() -> None:
    client = make(timeout_ms=1000)  # per attempt: 250 ms
    client.invoke("put", "x", 1, now_ms=0)
    assert sent(client) == [("n1", 1, "put")]
    client.tick(249)
    assert sent(client) == []
    client.tick(250)
    assert sent(client) == [("n2", 1, "put")]
    # a late refusal of the timed-out attempt is counted but spawns no parallel attempt
    reply(client, "n1", "redirect", hint="n3")
    assert sent(client) == []
    client.tick(500)
    assert sent(client) == [("n3", 1, "put")]
    client.tick(1000)
    # n2 and n3 never answered: either may have applied it
    assert done(client) == ("info", None, 3)


def test_all_refused_but_one_unanswered_is_info() -> None:
    client = make(timeout_ms=100, attempt_timeout_ms=10)
    client.invoke("put", "x", 1, now_ms=0)
    sent(client)
    client.tick(10)  # n1 silent
    sent(client)
    reply(client, "n2", "unavailable")
    reply(client, "n1", "unavailable")  # n1 answers after all: now every attempt is refused
    client.tick(30)
    sent(client)
    reply(client, "n3", "unavailable")
    client.tick(100)
    assert done(client) == ("fail", None, 3)


def test_ok_from_an_earlier_attempt_completes() -> None:
    client = make()
    client.invoke("put", "x", 1, now_ms=0)
    sent(client)
    client.tick(250)
    assert sent(client) == [("n2", 1, "put")]
    reply(client, "n1", "ok")  # the first attempt was only slow
    assert done(client) == ("ok", None, 2)


def test_without_ambiguous_retries_unknown_is_info_at_once() -> None:
    """For a leaderless register: never resend a maybe-applied write elsewhere."""
    client = make(retry_after_ambiguous=False)
    client.invoke("write", "x", 1, now_ms=0)
    sent(client)
    reply(client, "n1", "unknown")
    assert done(client) == ("info", None, 1)


def test_without_ambiguous_retries_a_silent_node_is_waited_out() -> None:
    client = make(retry_after_ambiguous=False)
    client.invoke("write", "x", 1, now_ms=0)
    sent(client)
    for now in (250, 500, 999):
        client.tick(now)
        assert sent(client) == []
    client.tick(1000)
    assert done(client) == ("info", None, 1)


def test_without_ambiguous_retries_refusals_still_move_on() -> None:
    client = make(retry_after_ambiguous=False)
    client.invoke("write", "x", 1, now_ms=0)
    sent(client)
    reply(client, "n1", "unavailable")  # nothing happened: safe to try elsewhere
    client.tick(20)
    assert sent(client) == [("n2", 1, "write")]
    reply(client, "n2", "ok")
    assert done(client) == ("ok", None, 2)


# --- setup ----------------------------------------------------------------------------------------


def test_start_node_is_seeded_when_no_preference() -> None:
    firsts = []
    for seed in range(6):
        client = ClientCore("c1", NODES, ClientConfig(), random.Random(seed))
        client.invoke("get", "x", None, now_ms=0)
        firsts.append(sent(client)[0][0])
    again = ClientCore("c1", NODES, ClientConfig(), random.Random(0))
    again.invoke("get", "x", None, now_ms=0)
    assert sent(again)[0][0] == firsts[0]  # same seed, same choice
    assert len(set(firsts)) > 1


def test_bad_setup_is_rejected() -> None:
    with pytest.raises(ValueError):
        ClientCore("c1", (), ClientConfig(), random.Random(0))
    with pytest.raises(ValueError):
        ClientCore("c1", NODES, ClientConfig(), random.Random(0), preferred="n9")
