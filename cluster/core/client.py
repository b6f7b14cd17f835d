"""A generic sans-IO client: one logical client process against any core.

The simulator and the real runtime both drive it the same way as a core: ``invoke`` an
operation, feed it ``ClientReply`` messages with ``step`` and the clock with ``tick``,
drain ``ready()`` for the requests to send, and ``take_completion()`` when it is done.

Its one job is to keep the history honest.  Every operation ends as

* ``ok``   -- a node said it took effect (``value`` is its output);
* ``fail`` -- it definitely did not take effect;
* ``info`` -- it may or may not have taken effect.

The rules that follow from that:

* Every attempt of one operation carries the *same* ``(client_id, seq)``; ``seq`` grows
  by one per ``invoke``.  A server that deduplicates on it applies the operation at most
  once however many attempts reach it.
* ``redirect`` and ``unavailable`` mean "nothing happened here", so retrying them is
  always safe, and an operation whose every attempt was answered that way may ``fail``.
  This relies on each request being delivered at most once: a link that *duplicates*
  client requests could apply a copy after its twin was refused.
* ``fail`` from a node is definite for this ``seq``: a deduplicating server evaluates the
  operation once and answers every attempt with that one outcome, so a ``fail`` cannot
  coexist with an earlier attempt having taken effect.
* ``unknown`` replies and attempts that were never answered are *ambiguous*.  Once any
  attempt is ambiguous, running out of time gives ``info``, never ``fail``.
* Retrying after an ambiguous attempt is only safe when the servers deduplicate the
  ``seq`` cluster-wide (a Raft KV).  A leaderless quorum register cannot: a second
  coordinator would apply the write a second time, possibly after someone else's write.
  ``ClientConfig.retry_after_ambiguous=False`` makes the client wait for the deadline
  (or answer ``info`` at once on ``unknown``) instead.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from mypy_extensions import mypyc_attr

from cluster.core.frozen import finish_records, pickle_by_fields
from cluster.core.types import ClientReply, ClientRequest, Message, Ready, ReadyBuilder

__all__ = ["ClientBusy", "ClientConfig", "ClientCore", "Completion"]


@mypyc_attr(native_class=False)  # compiled (cluster.native): an exception stays a Python class
class ClientBusy(RuntimeError):
    """``invoke`` was called while an operation is running or its completion untaken."""


@dataclass(frozen=True)
class ClientConfig:
    timeout_ms: int = 1000
    """Overall deadline of one operation, from ``invoke``."""
    retry_backoff_ms: int = 20
    """Pause before retrying after ``unavailable``, an ``unknown``, or a redirect without
    a usable hint (an election is probably running; hammering does not help)."""
    attempt_timeout_ms: int | None = None
    """How long one attempt may go unanswered before trying another node;
    ``None`` means ``timeout_ms // 4``."""
    retry_after_ambiguous: bool = True
    """Retry (same seq) after an ``unknown`` reply or an unanswered attempt.  Keep it on
    for cores that deduplicate ``(client_id, seq)`` cluster-wide (Raft KV); switch it
    off for the leaderless quorum register, which can only dedup per coordinator."""
    sticky_home: bool = False
    """Start every operation at the client's home node (its ``preferred`` node, or the one
    drawn at construction), as Jepsen clients bound to one node do, instead of at the last
    leader it heard from.  Redirects are still followed within an operation.  This is how
    a client keeps talking to a node that has been cut off, which is what exposes a node
    that answers when it should not."""
    new_request_id_per_attempt: bool = False
    """A flaw, off by default: every attempt of an operation gets a fresh ``seq``, as a client
    without idempotency keys sends each retry as a new request.  The servers cannot tell a
    retry from a new write, so an attempt that timed out but took effect is applied again."""
    deadline_means_failure: bool = False
    """A flaw, off by default: an operation whose deadline passes is reported ``fail`` even
    when an attempt may have taken effect (gRPC's DEADLINE_EXCEEDED read as "did not
    happen").  The history then claims a write failed that other clients can read."""

    @property
    def per_attempt_ms(self) -> int:
        if self.attempt_timeout_ms is not None:
            return self.attempt_timeout_ms
        return max(1, self.timeout_ms // 4)


@dataclass(frozen=True, slots=True)
class Completion:
    """How an operation ended; ``status`` is ``"ok"``, ``"fail"`` or ``"info"``."""

    status: str
    value: Any
    attempts: int
    seq: int = 0
    node: str | None = None
    """The node whose reply decided the outcome (``None`` when the deadline did)."""

    def __init__(self, status: str, value: Any, attempts: int, seq: int = 0, node: str | None = None) -> None:
        # Compiled, the native constructor; interpreted, fast_init's replaces it (cluster.core.frozen).
        self.status = status  # type: ignore[misc]
        self.value = value  # type: ignore[misc]
        self.attempts = attempts  # type: ignore[misc]
        self.seq = seq  # type: ignore[misc]
        self.node = node  # type: ignore[misc]


_AWAIT = "await"  # an attempt is outstanding at self._target
_BACKOFF = "backoff"  # waiting until self._retry_at before sending to self._target


class ClientCore:
    """One client process; one operation at a time."""

    def __init__(
        self,
        client_id: str,
        nodes: tuple[str, ...],
        config: ClientConfig,
        rng: random.Random,
        preferred: str | None = None,
    ) -> None:
        if not nodes:
            raise ValueError("a client needs at least one node")
        if preferred is not None and preferred not in nodes:
            raise ValueError(f"preferred node {preferred!r} is not one of {nodes!r}")
        self.node_id = client_id  # lets drivers treat a client like any core
        self.client_id = client_id
        self.nodes = tuple(nodes)
        self.config = config
        self.rng = rng
        # Without a preference, clients start at a seeded random node so that several
        # clients spread over the cluster instead of all hitting the first node.
        self._cursor = nodes.index(preferred) if preferred else rng.randrange(len(nodes))
        self._leader: str | None = preferred
        self._home = self.nodes[self._cursor]
        self._out = ReadyBuilder()
        self._now = 0
        self.seq = 0
        self.busy = False
        self._completion: Completion | None = None
        # per-operation state
        self._op = ""
        self._key: str | None = None
        self._value: Any = None
        self._deadline = 0
        self._state = _AWAIT
        self._target = self.nodes[self._cursor]
        self._attempt_deadline = 0
        self._retry_at = 0
        self._attempts = 0
        self._sent: dict[str, int] = {}
        self._refused: dict[str, int] = {}
        self._hops = 0  # consecutive immediate redirects, to stop stale-hint ping-pong

    # --- driver interface -------------------------------------------------------------------

    def invoke(self, op: str, key: str | None, value: Any, now_ms: int) -> None:
        """Start an operation; its first attempt is in the next ``ready()``."""
        if self.busy or self._completion is not None:
            raise ClientBusy(f"client {self.client_id} is busy with seq {self.seq}")
        self._now = now_ms
        self.seq += 1
        self.busy = True
        self._op, self._key, self._value = op, key, value
        self._deadline = now_ms + self.config.timeout_ms
        self._attempts = 0
        self._sent = {}
        self._refused = {}
        self._hops = 0
        if self.config.sticky_home:
            self._send_attempt(self._home)
        else:
            self._send_attempt(self._leader or self.nodes[self._cursor])

    def step(self, reply: Message) -> None:
        if not isinstance(reply, ClientReply) or not self.busy:
            return
        if reply.client_id != self.client_id or reply.seq != self.seq:
            return  # stale: an answer to an operation that already completed
        src, status = reply.src, reply.status
        if status == "ok":
            self._leader = src
            self._complete("ok", reply.value, src)
        elif status == "fail":
            self._complete("fail", None, src)
        elif status in ("redirect", "unavailable"):
            self._refused[src] = self._refused.get(src, 0) + 1
            if not self._answers_current(src):
                return  # an older attempt; the current one is still running
            if status == "redirect":
                self._on_redirect(src, reply.leader_hint)
            else:
                if self._leader == src:
                    self._leader = None
                self._backoff_to(self._next_node(src))
        elif status == "unknown":
            if not self.config.retry_after_ambiguous:
                self._complete("info", None, src)
            elif self._answers_current(src):
                if self._leader == src:
                    self._leader = None
                hint = reply.leader_hint if reply.leader_hint in self.nodes else None
                self._backoff_to(hint or self._next_node(src))
        # any other status is a protocol error of the server; the deadline handles it

    def tick(self, now_ms: int) -> None:
        self._now = now_ms
        if not self.busy:
            return
        if now_ms >= self._deadline:
            # Anything sent that was not refused outright may have taken effect.
            ambiguous = self._ambiguous() and not self.config.deadline_means_failure
            self._complete("info" if ambiguous else "fail", None, None)
        elif self._state == _BACKOFF and now_ms >= self._retry_at:
            self._send_attempt(self._target)
        elif self._state == _AWAIT and now_ms >= self._attempt_deadline:
            if self._leader == self._target:
                self._leader = None
            if self.config.retry_after_ambiguous:
                self._send_attempt(self._next_node(self._target))
            else:
                # Keep waiting: its reply may still come, and sending elsewhere could
                # apply the operation twice.  Push the timer so we do not spin.
                self._attempt_deadline = self._deadline

    def ready(self) -> Ready:
        return self._out.take()

    def take_completion(self) -> Completion | None:
        done, self._completion = self._completion, None
        return done

    def next_wakeup(self) -> int | None:
        """Earliest local time at which :meth:`tick` has something to do, if any."""
        if not self.busy:
            return None
        timer = self._retry_at if self._state == _BACKOFF else self._attempt_deadline
        return min(self._deadline, timer)

    @property
    def leader(self) -> str | None:
        """The node the next attempt prefers (last ``ok`` or redirect hint)."""
        return self._leader

    # --- internals ------------------------------------------------------------------------------

    def _answers_current(self, src: str) -> bool:
        """Does a reply from ``src`` answer the attempt we are waiting on?"""
        return self._state == _AWAIT and src == self._target

    def _on_redirect(self, src: str, hint: str | None) -> None:
        if hint is not None and hint in self.nodes and hint != src and self._hops < len(self.nodes):
            self._leader = hint
            self._hops += 1
            self._send_attempt(hint)
        else:
            if self._leader == src:
                self._leader = None
            self._backoff_to(self._next_node(src))

    def _next_node(self, after: str) -> str:
        i = self.nodes.index(after) if after in self.nodes else self._cursor
        self._cursor = (i + 1) % len(self.nodes)
        return self.nodes[self._cursor]

    def _backoff_to(self, node: str) -> None:
        self._hops = 0
        self._state = _BACKOFF
        self._target = node
        self._retry_at = self._now + self.config.retry_backoff_ms

    def _send_attempt(self, node: str) -> None:
        if self.config.new_request_id_per_attempt and self._attempts:
            self.seq += 1  # the flaw: a retry is a new request; replies to older attempts are ignored
        self._state = _AWAIT
        self._target = node
        if node in self.nodes:
            self._cursor = self.nodes.index(node)
        self._attempt_deadline = self._now + self.config.per_attempt_ms
        self._attempts += 1
        self._sent[node] = self._sent.get(node, 0) + 1
        self._out.messages.append(
            ClientRequest(
                self.client_id, node, self.client_id, self.seq, self._op, self._key, self._value
            )
        )

    def _ambiguous(self) -> bool:
        """Was any attempt sent that no node refused outright?

        Each request is answered at most once, so per node "sent more than refused" means
        some attempt there is unanswered or was answered ``unknown``.
        """
        return any(count > self._refused.get(node, 0) for node, count in self._sent.items())

    def _complete(self, status: str, value: Any, node: str | None) -> None:
        self.busy = False
        self._completion = Completion(status, value, self._attempts, self.seq, node)


pickle_by_fields(ClientConfig)
finish_records(Completion)
