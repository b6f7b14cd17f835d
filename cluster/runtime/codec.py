"""Codec between core dataclass messages and protobuf envelopes.

Raft and quorum messages get real protobuf types (``protos/messages.proto``), so the wire
format is typed, compact and readable with standard tools.  Client values are arbitrary
JSON-able data; they travel as JSON bytes and come back *frozen* (lists -> tuples), the
convention cores use for values that may end up in persisted state, so a follower that
decodes an entry holds exactly what the leader appended.

Messages of cores added later (sagas, brokers) need no proto change: any frozen dataclass
registered with :func:`register_message` travels as ``json_payload`` and is rebuilt by
type name.  Unknown type names raise :class:`CodecError`, never guess.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

from cluster.core.kv import Command, freeze, jsonable
from cluster.core.quorum_messages import (
    QueryVersion,
    QueryVersionReply,
    StoreAck,
    StoreValue,
    Version,
)
from cluster.core.raft_messages import (
    AppendEntries,
    AppendEntriesResponse,
    Entry,
    RequestVote,
    RequestVoteResponse,
)
from cluster.core.types import ClientReply, ClientRequest, Message
from protos import messages_pb2 as pb

__all__ = [
    "CodecError",
    "decode",
    "decode_reply",
    "decode_request",
    "dumps_value",
    "encode",
    "encode_reply",
    "encode_request",
    "loads_value",
    "register_message",
]


class CodecError(ValueError):
    """A message that cannot be encoded or decoded (a definite, local error)."""


# --- values ---------------------------------------------------------------------------------


def dumps_value(value: Any) -> bytes:
    """JSON bytes for a client value; ``b""`` for ``None`` (the common case for requests)."""
    if value is None:
        return b""
    return json.dumps(jsonable(value), separators=(",", ":")).encode()


def loads_value(raw: bytes) -> Any:
    """Inverse of :func:`dumps_value`; lists come back as tuples (see module doc)."""
    if not raw:
        return None
    return freeze(json.loads(raw))


def _version(v: Version) -> pb.Version:
    return pb.Version(counter=v[0], writer=v[1])


def _unversion(v: pb.Version) -> Version:
    return (int(v.counter), str(v.writer))


def _command(c: Command) -> pb.Command:
    return pb.Command(
        client_id=c.client_id, seq=c.seq, op=c.op, key=c.key, value_json=dumps_value(c.value)
    )


def _entry(e: Entry) -> pb.Entry:
    if e.command is None:
        return pb.Entry(term=e.term, has_command=False)
    return pb.Entry(term=e.term, has_command=True, command=_command(e.command))


def _unentry(e: pb.Entry) -> Entry:
    if not e.has_command:
        return Entry(int(e.term), None)
    c = e.command
    return Entry(
        int(e.term), Command(c.client_id, int(c.seq), c.op, c.key, loads_value(c.value_json))
    )


# --- client messages ------------------------------------------------------------------------


def encode_request(m: ClientRequest) -> pb.ClientRequest:
    out = pb.ClientRequest(
        src=m.src, dst=m.dst, client_id=m.client_id, seq=m.seq, op=m.op,
        value_json=dumps_value(m.value),
    )
    if m.key is not None:
        out.key = m.key
    return out


def decode_request(p: pb.ClientRequest) -> ClientRequest:
    key = p.key if p.HasField("key") else None
    return ClientRequest(p.src, p.dst, p.client_id, int(p.seq), p.op, key, loads_value(p.value_json))


def encode_reply(m: ClientReply) -> pb.ClientReply:
    out = pb.ClientReply(
        src=m.src, dst=m.dst, client_id=m.client_id, seq=m.seq, status=m.status,
        value_json=dumps_value(m.value),
    )
    if m.leader_hint is not None:
        out.leader_hint = m.leader_hint
    return out


def decode_reply(p: pb.ClientReply) -> ClientReply:
    hint = p.leader_hint if p.HasField("leader_hint") else None
    return ClientReply(
        p.src, p.dst, p.client_id, int(p.seq), p.status, loads_value(p.value_json), hint
    )


# --- envelopes ------------------------------------------------------------------------------

_Enc = Callable[[Any], Any]
_Dec = Callable[[str, str, Any], Message]

# type name -> (oneof field, encoder to the payload proto, decoder from it)
_TYPED: dict[str, tuple[str, _Enc, _Dec]] = {
    "RequestVote": (
        "request_vote",
        lambda m: pb.RequestVote(
            term=m.term, last_log_index=m.last_log_index, last_log_term=m.last_log_term,
            prevote=m.prevote,
        ),
        lambda s, d, p: RequestVote(
            s, d, int(p.term), int(p.last_log_index), int(p.last_log_term), bool(p.prevote)
        ),
    ),
    "RequestVoteResponse": (
        "request_vote_response",
        lambda m: pb.RequestVoteResponse(term=m.term, granted=m.granted, prevote=m.prevote),
        lambda s, d, p: RequestVoteResponse(s, d, int(p.term), bool(p.granted), bool(p.prevote)),
    ),
    "AppendEntries": (
        "append_entries",
        lambda m: pb.AppendEntries(
            term=m.term, prev_log_index=m.prev_log_index, prev_log_term=m.prev_log_term,
            entries=[_entry(e) for e in m.entries], leader_commit=m.leader_commit,
            round=m.round,
        ),
        lambda s, d, p: AppendEntries(
            s, d, int(p.term), int(p.prev_log_index), int(p.prev_log_term),
            tuple(_unentry(e) for e in p.entries), int(p.leader_commit), int(p.round),
        ),
    ),
    "AppendEntriesResponse": (
        "append_entries_response",
        lambda m: pb.AppendEntriesResponse(
            term=m.term, success=m.success, match_index=m.match_index,
            reject_hint=m.reject_hint, round=m.round,
        ),
        lambda s, d, p: AppendEntriesResponse(
            s, d, int(p.term), bool(p.success), int(p.match_index), int(p.reject_hint),
            int(p.round),
        ),
    ),
    "QueryVersion": (
        "query_version",
        lambda m: pb.QueryVersion(epoch=m.epoch, rid=m.rid, key=m.key),
        lambda s, d, p: QueryVersion(s, d, int(p.epoch), int(p.rid), p.key),
    ),
    "QueryVersionReply": (
        "query_version_reply",
        lambda m: pb.QueryVersionReply(
            epoch=m.epoch, rid=m.rid, key=m.key, version=_version(m.version),
            value_json=dumps_value(m.value),
        ),
        lambda s, d, p: QueryVersionReply(
            s, d, int(p.epoch), int(p.rid), p.key, _unversion(p.version),
            loads_value(p.value_json),
        ),
    ),
    "StoreValue": (
        "store_value",
        lambda m: pb.StoreValue(
            epoch=m.epoch, rid=m.rid, key=m.key, version=_version(m.version),
            value_json=dumps_value(m.value),
        ),
        lambda s, d, p: StoreValue(
            s, d, int(p.epoch), int(p.rid), p.key, _unversion(p.version),
            loads_value(p.value_json),
        ),
    ),
    "StoreAck": (
        "store_ack",
        lambda m: pb.StoreAck(epoch=m.epoch, rid=m.rid, key=m.key, version=_version(m.version)),
        lambda s, d, p: StoreAck(s, d, int(p.epoch), int(p.rid), p.key, _unversion(p.version)),
    ),
    "ClientRequest": (
        "client_request",
        encode_request,
        lambda s, d, p: decode_request(p),
    ),
    "ClientReply": (
        "client_reply",
        encode_reply,
        lambda s, d, p: decode_reply(p),
    ),
}

_GENERIC: dict[str, type[Message]] = {}
_CUSTOM: dict[str, tuple[Callable[[Any], Any], Callable[[str, str, Any], Message]]] = {}


def register_message(
    cls: type[Message],
    *,
    to_json: Callable[[Any], Any] | None = None,
    from_json: Callable[[str, str, Any], Message] | None = None,
) -> type[Message]:
    """Let a frozen dataclass message travel as JSON (for cores without a proto type).

    Its fields must be JSON-able; lists come back as tuples.  Usable as a decorator.  A
    message with nested dataclasses gives ``to_json`` (message -> JSON-able data) and
    ``from_json`` ((src, dst, data) -> message), so nothing is guessed on the way back.
    """
    if not dataclasses.is_dataclass(cls):
        raise CodecError(f"{cls!r} is not a dataclass")
    if (to_json is None) != (from_json is None):
        raise CodecError(f"{cls.__name__}: give both to_json and from_json, or neither")
    name = cls.__name__
    if name in _TYPED or (name in _GENERIC and _GENERIC[name] is not cls):
        raise CodecError(f"message type name {name!r} is already registered")
    _GENERIC[name] = cls
    if to_json is not None and from_json is not None:
        _CUSTOM[name] = (to_json, from_json)
    return cls


def encode(msg: Message) -> pb.Envelope:
    """The envelope for ``msg`` (typed payload where one exists, else JSON)."""
    name = type(msg).__name__
    env = pb.Envelope(src=msg.src, dst=msg.dst, type=name)
    typed = _TYPED.get(name)
    if typed is not None:
        field, enc, _ = typed
        getattr(env, field).CopyFrom(enc(msg))
        return env
    custom = _CUSTOM.get(name)
    if custom is not None and _GENERIC.get(name) is type(msg):
        env.json_payload = json.dumps(custom[0](msg), separators=(",", ":")).encode()
        return env
    if _GENERIC.get(name) is type(msg):
        data = {
            f.name: jsonable(getattr(msg, f.name))
            for f in dataclasses.fields(msg)  # type: ignore[arg-type]
            if f.name not in ("src", "dst")
        }
        env.json_payload = json.dumps(data, separators=(",", ":")).encode()
        return env
    raise CodecError(f"no codec for message type {name!r}; register it with register_message")


def decode(env: pb.Envelope) -> Message:
    """Inverse of :func:`encode`."""
    typed = _TYPED.get(env.type)
    if typed is not None:
        field, _, dec = typed
        if env.WhichOneof("payload") != field:
            raise CodecError(f"envelope of type {env.type!r} carries {env.WhichOneof('payload')!r}")
        return dec(env.src, env.dst, getattr(env, field))
    cls = _GENERIC.get(env.type)
    if cls is None:
        raise CodecError(f"unknown message type {env.type!r}")
    custom = _CUSTOM.get(env.type)
    try:
        if custom is not None:
            return custom[1](env.src, env.dst, json.loads(env.json_payload or b"null"))
        data = {k: freeze(v) for k, v in json.loads(env.json_payload or b"{}").items()}
        return cls(src=env.src, dst=env.dst, **data)
    except (ValueError, TypeError, KeyError, IndexError) as e:
        raise CodecError(f"malformed {env.type} payload: {e}") from None
