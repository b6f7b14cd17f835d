"""Every message type survives encode -> bytes -> decode unchanged."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from cluster.core.kv import Command
from cluster.core.quorum_messages import QueryVersion, QueryVersionReply, StoreAck, StoreValue
from cluster.core.raft_messages import (
    AppendEntries,
    AppendEntriesResponse,
    Entry,
    RequestVote,
    RequestVoteResponse,
)
from cluster.core.types import ClientReply, ClientRequest, Message
from cluster.runtime.codec import CodecError, decode, encode, register_message
from protos import messages_pb2

MESSAGES: list[Message] = [
    RequestVote("n1", "n2", 3, 10, 2, prevote=True),
    RequestVote("n1", "n2", 0, 0, 0),
    RequestVoteResponse("n2", "n1", 3, True, prevote=True),
    RequestVoteResponse("n2", "n1", 4, False),
    AppendEntries("n1", "n3", 5, 7, 4, (), 6, round=9),
    AppendEntries(
        "n1", "n3", 5, 7, 4,
        (Entry(5, None), Entry(5, Command("c1", 3, "put", "k1", 17)),
         Entry(5, Command("c2", 1, "cas", "k2", (None, 4))), Entry(5, Command("c3", 2, "get", "k0"))),
        6, round=1,
    ),
    AppendEntriesResponse("n3", "n1", 5, True, match_index=11, round=9),
    AppendEntriesResponse("n3", "n1", 5, False, reject_hint=3),
    QueryVersion("n1", "n4", 2, 17, "k1"),
    QueryVersionReply("n4", "n1", 2, 17, "k1", (3, "n2"), 3000001),
    QueryVersionReply("n4", "n1", 2, 17, "k1", (0, ""), None),
    StoreValue("n1", "n4", 2, 18, "k1", (4, "n1"), ("a", (1, 2))),
    StoreAck("n4", "n1", 2, 18, "k1", (4, "n1")),
    ClientRequest("c1", "n1", "c1", 4, "cas", "k1", (1000001, 1000002)),
    ClientRequest("c1", "n1", "c1", 5, "get", None, None),
    ClientReply("n1", "c1", "c1", 4, "ok", 7),
    ClientReply("n2", "c1", "c1", 4, "redirect", None, leader_hint="n1"),
    ClientReply("n2", "c1", "c1", 4, "unknown", "", None),
    # transactions: micro-ops, the bank's dict values, and an optimistic commit entry
    ClientRequest("c1", "n1", "c1", 6, "txn", None, (("r", "x", None), ("append", "x", 3))),
    ClientReply("n1", "c1", "c1", 6, "ok", (("r", "x", (1, 2)), ("append", "x", 3))),
    ClientRequest("c1", "n1", "c1", 7, "transfer", None, {"from": "a0", "to": "a1", "amount": 4}),
    ClientReply("n1", "c1", "c1", 8, "ok", {"a0": 6, "a1": 14}),
    AppendEntries(
        "n1", "n3", 5, 7, 4,
        (Entry(5, Command("c1", 6, "txn", "", (("r", "x", None), ("append", "x", 3)))),
         Entry(5, Command("c1", 7, "txn-commit", "",
                          (12, ("a0", "a1"), "ok", {"from": "a0", "to": "a1", "amount": 4},
                           (("set", "a0", 6), ("set", "a1", 14)))))),
        6, round=1,
    ),
]


@pytest.mark.parametrize("msg", MESSAGES, ids=lambda m: type(m).__name__)
def test_round_trip_through_bytes(msg: Message) -> None:
    env = encode(msg)
    wire = env.SerializeToString()
    back = decode(messages_pb2.Envelope.FromString(wire))
    assert back == msg  # tuples in values come back as tuples (JSON lists are frozen)
    assert env.type == type(msg).__name__
    assert env.src == msg.src and env.dst == msg.dst


def test_every_core_message_type_has_a_typed_payload() -> None:
    from cluster.core.quorum_messages import QUORUM_MESSAGES
    from cluster.core.raft_messages import RAFT_MESSAGES

    covered = {type(m) for m in MESSAGES}
    assert set(RAFT_MESSAGES) | set(QUORUM_MESSAGES) <= covered
    for m in MESSAGES:
        assert encode(m).WhichOneof("payload") != "json_payload"


@dataclass(frozen=True)
class _Ping(Message):
    n: int
    tags: tuple[str, ...]


def test_generic_json_messages_and_unknown_types() -> None:
    register_message(_Ping)
    msg = _Ping("a", "b", 3, ("x", "y"))
    env = encode(msg)
    assert env.WhichOneof("payload") == "json_payload"
    assert decode(messages_pb2.Envelope.FromString(env.SerializeToString())) == msg
    with pytest.raises(CodecError):
        decode(messages_pb2.Envelope(src="a", dst="b", type="Nope", json_payload=b"{}"))

    @dataclass(frozen=True)
    class Unregistered(Message):
        x: int

    with pytest.raises(CodecError):
        encode(Unregistered("a", "b", 1))
