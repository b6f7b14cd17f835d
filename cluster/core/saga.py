"""The saga orchestrator: book a trip as reserve flight -> reserve hotel -> charge card.

Why it is built this way:

* **State before action.**  Every step (and every compensation) is one local transaction:
  the saga row with its new position *and* the outbox row carrying the command.  A crash at
  any point leaves either both or neither, and a restarted orchestrator resumes from the
  saga row (flaw ``orchestrator_state_not_persisted`` keeps the saga row in memory only).
* **Idempotency keys derived, never drawn.**  Step ``i`` of saga ``s`` always carries key
  ``s:i:action`` (compensations ``s:i:undo-action``), however often it is retried, so the
  service's inbox recognises a retry.  (Flaws ``charge_without_idempotency_key`` and
  ``non_idempotent_compensation`` append the attempt number instead.)
* **Retries with exponential backoff and seeded jitter.**  No reply within
  ``step_timeout_ms`` -> resend after ``min(retry_max, retry_base * 2**attempt)`` plus a
  jitter drawn from the injected rng.  Forward steps and compensations retry until answered.
* **Compensate in reverse order.**  A rejected step (full flight/hotel, declined card) did
  nothing, so the orchestrator undoes the steps that *were* applied, last first.
* **Replies are idempotent by state.**  A reply only counts if it answers the step the saga
  is waiting for; duplicates and late replies are ignored (``saga-reply`` with
  ``ignored``), so the orchestrator needs no inbox.

Client protocol: ``ClientRequest(op="book", key=trip id, value=plan)``; the orchestrator
answers ``ok`` with ``"booked"`` or ``"cancelled"`` once the saga has ended.  ``plan`` is
``"ok"``, ``"flight-full"``, ``"hotel-full"`` or ``"card-declined"`` (the workload decides
which business outcome the services will produce, so every run has compensations).

Trace events: ``saga-start``, ``saga-step``, ``saga-retry``, ``saga-reply``, ``saga-end``,
``orphan-reply`` (see ``docs/sagas.md``).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from cluster.core.local_store import Txn
from cluster.core.saga_config import REPLY_TOPIC, SagaConfig, SagaFlaws
from cluster.core.saga_messages import Deliver, payload_get, payload_of
from cluster.core.transactional import TransactionalNode
from cluster.core.types import ClientReply, ClientRequest, CoreEvent, Message

STEPS: tuple[tuple[str, str, str], ...] = (
    ("flight", "reserve-flight", "cancel-flight"),
    ("hotel", "reserve-hotel", "cancel-hotel"),
    ("payment", "charge", "refund"),
)
PLANS = ("ok", "flight-full", "hotel-full", "card-declined")


@dataclass(frozen=True)
class SagaState:
    """One saga's durable row.  ``phase`` is forward/compensate/booked/cancelled."""

    id: str
    plan: str
    phase: str
    step: int
    attempt: int
    applied: tuple[int, ...]
    client: str | None
    seq: int

    @property
    def done(self) -> bool:
        return self.phase in ("booked", "cancelled")


def step_key(saga: str, step: int, phase: str, attempt: int, flaws: SagaFlaws) -> str:
    """The idempotency key of one step: derived from saga id + step, unless a flaw is on."""
    _, action, undo = STEPS[step]
    if phase == "forward":
        key = f"{saga}:{step}:{action}"
        if flaws.charge_without_idempotency_key and action == "charge":
            key += f":try{attempt}"
    else:
        key = f"{saga}:{step}:{undo}"
        if flaws.non_idempotent_compensation:
            key += f":try{attempt}"
    return key


class Orchestrator(TransactionalNode):
    role = "orchestrator"
    dedup = False  # the saga state machine itself ignores replies it is not waiting for

    def __init__(self, node_id: str, nodes: tuple[str, ...], config: SagaConfig, rng: random.Random,
                 *, durable: Mapping[str, Any] | None = None, flaws: SagaFlaws | None = None) -> None:
        super().__init__(node_id, nodes, config, rng, durable=durable, flaws=flaws, topic=REPLY_TOPIC)
        self.sagas: dict[str, SagaState] = dict(sorted(self.store.table("saga").items()))
        self._deadline: dict[str, int] = {}  # volatile: when to give up waiting for a reply
        self._retry_at: dict[str, int] = {}  # volatile: when to resend after backing off

    # --- lifecycle ----------------------------------------------------------------------------

    def on_start(self) -> None:
        # Resume every saga found in the durable store: wait one timeout for a reply that
        # may still arrive (the command may be in the outbox or the broker), then retry.
        for sid, s in self.sagas.items():
            if not s.done:
                self._deadline[sid] = self.now + self.config.step_timeout_ms
                self.emit("saga-resume", saga=sid, phase=s.phase, step=s.step, attempt=s.attempt)

    def on_message(self, message: Message) -> None:
        if isinstance(message, ClientRequest):
            self._on_client(message)

    def on_tick(self) -> None:
        now = self.now
        for sid in list(self._retry_at):
            if now >= self._retry_at[sid]:
                del self._retry_at[sid]
                s = self.sagas.get(sid)
                if s is not None and not s.done:
                    self._send_step(replace(s, attempt=s.attempt + 1), retry=True)
        for sid in list(self._deadline):
            if now >= self._deadline[sid]:
                del self._deadline[sid]
                s = self.sagas.get(sid)
                if s is None or s.done:
                    continue
                backoff = min(self.config.retry_max_ms, self.config.retry_base_ms * (2 ** min(s.attempt, 10)))
                jitter = self.rng.randrange(self.config.retry_base_ms + 1)
                self._retry_at[sid] = now + backoff + jitter
                self.emit("saga-retry", saga=sid, phase=s.phase, step=s.step, attempt=s.attempt,
                          backoff_ms=backoff + jitter)

    # --- clients ------------------------------------------------------------------------------

    def _on_client(self, req: ClientRequest) -> None:
        if req.op != "book" or req.key is None:
            self.out.replies.append(ClientReply(self.node_id, req.src, req.client_id, req.seq, "fail"))
            return
        sid = str(req.key)
        s = self.sagas.get(sid)
        if s is not None:
            if s.done:
                self.out.replies.append(
                    ClientReply(self.node_id, req.src, req.client_id, req.seq, "ok", s.phase)
                )
            return  # running: the reply comes when it ends
        plan = str(req.value) if req.value in PLANS else "ok"
        s = SagaState(sid, plan, "forward", 0, 1, (), req.client_id, req.seq)
        self.emit("saga-start", saga=sid, plan=plan, client=req.client_id, seq=req.seq)
        self._send_step(s, retry=False)

    # --- steps --------------------------------------------------------------------------------

    def _save(self, txn: Txn, s: SagaState) -> None:
        self.sagas[s.id] = s
        if not self.flaws.orchestrator_state_not_persisted:
            txn.put("saga", s.id, s)

    def _send_step(self, s: SagaState, *, retry: bool) -> None:
        """Persist the saga's position and the step's command in one transaction."""
        service, action, undo = STEPS[s.step]
        name = action if s.phase == "forward" else undo
        key = step_key(s.id, s.step, s.phase, s.attempt, self.flaws)
        txn = self.begin()
        self._save(txn, s)
        cmd = payload_of(saga=s.id, step=s.step, phase=s.phase, action=name, plan=s.plan, attempt=s.attempt)
        row = self.outbox_row(txn, service, s.id, key, cmd)
        self.emit("saga-step", saga=s.id, step=s.step, action=name, phase=s.phase, attempt=s.attempt,
                  key=key, row=row.row, retry=retry)
        self.commit(txn)
        self._deadline[s.id] = self.now + self.config.step_timeout_ms

    def handle(self, d: Deliver, txn: Txn) -> None:
        """A reply from a service (the consumer calls this inside a transaction)."""
        p = d.payload
        sid = str(payload_get(p, "saga"))
        s = self.sagas.get(sid)
        step, phase, outcome = payload_get(p, "step"), payload_get(p, "phase"), payload_get(p, "outcome")
        if s is None:
            self.emit("orphan-reply", saga=sid, step=step, phase=phase, outcome=outcome, row=d.row,
                      msg_id=d.msg_id)
            return
        if s.done or step != s.step or phase != s.phase:
            self.emit("saga-reply", saga=sid, step=step, phase=phase, outcome=outcome, row=d.row,
                      ignored=True)
            return
        self.emit("saga-reply", saga=sid, step=step, phase=phase, outcome=outcome, row=d.row, ignored=False)
        self._deadline.pop(sid, None)
        self._retry_at.pop(sid, None)
        if phase == "forward":
            if outcome == "applied":
                s = replace(s, applied=(*s.applied, s.step))
                if s.step + 1 < len(STEPS):
                    self._next(replace(s, step=s.step + 1, attempt=1))
                else:
                    self._finish(replace(s, phase="booked"))
            else:
                self._compensate_from(s)
        else:
            s = replace(s, applied=tuple(i for i in s.applied if i != s.step))
            self._compensate_from(s)

    def _next(self, s: SagaState) -> None:
        self._send_step(s, retry=False)

    def _compensate_from(self, s: SagaState) -> None:
        if not s.applied:
            self._finish(replace(s, phase="cancelled"))
            return
        self._send_step(replace(s, phase="compensate", step=max(s.applied), attempt=1), retry=False)

    def _finish(self, s: SagaState) -> None:
        txn = self.begin()
        self._save(txn, s)
        txn.events.append(self._event("saga-end", saga=s.id, outcome=s.phase))
        self.commit(txn)
        if s.client is not None:
            self.out.replies.append(ClientReply(self.node_id, s.client, s.client, s.seq, "ok", s.phase))

    def _event(self, kind: str, **data: Any) -> CoreEvent:
        return CoreEvent(self.node_id, kind, data)
