"""The saga's three services -- flight, hotel and payment -- as transactional nodes.

Each consumes commands from its topic and answers through its outbox on the orchestrator's
topic.  The transaction that applies a command also stores the reply under the command's
idempotency key, so a redelivered command (caught by the inbox) is answered with the same
reply instead of being applied again.

Business rules: ``reserve-*`` marks the saga's reservation active, ``cancel-*`` releases it
(only if active, unless ``non_idempotent_compensation``), ``charge`` writes one charge row per
idempotency key, ``refund`` deletes the saga's charge rows.  A forward action is rejected
without effect when the saga's plan says so (``flight-full``, ``hotel-full``,
``card-declined``), which is how the workload makes some sagas compensate.

Trace events: ``effect`` (one per applied, rejected or no-op command), plus those of
:class:`~cluster.core.transactional.TransactionalNode`.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from cluster.core.local_store import Txn
from cluster.core.saga_config import REPLY_TOPIC, SagaConfig, SagaFlaws
from cluster.core.saga_messages import Deliver, payload_get, payload_of
from cluster.core.transactional import TransactionalNode
from cluster.core.types import CoreEvent

__all__ = ["ServiceNode"]

_ACTIONS: dict[str, tuple[str, str, str]] = {
    # action -> (service, table, kind) ; kind: reserve / cancel / charge / refund
    "reserve-flight": ("flight", "reservation", "reserve"),
    "cancel-flight": ("flight", "reservation", "cancel"),
    "reserve-hotel": ("hotel", "reservation", "reserve"),
    "cancel-hotel": ("hotel", "reservation", "cancel"),
    "charge": ("payment", "charge", "charge"),
    "refund": ("payment", "charge", "refund"),
}
_REJECTS = {"reserve-flight": "flight-full", "reserve-hotel": "hotel-full", "charge": "card-declined"}


class ServiceNode(TransactionalNode):
    """Flight, hotel or payment: consumes commands, replies through its outbox.

    A forward action is rejected (without effect) when the saga's plan says so, which is how
    the workload makes some sagas compensate.  ``seats_released`` counts compensations that
    really released something, so a non-idempotent compensation is visible as a number.
    """

    def __init__(self, node_id: str, nodes: tuple[str, ...], config: SagaConfig, rng: random.Random,
                 *, service: str, durable: Mapping[str, Any] | None = None,
                 flaws: SagaFlaws | None = None) -> None:
        self.service = service
        self.role = service
        super().__init__(node_id, nodes, config, rng, durable=durable, flaws=flaws, topic=service)

    def handle(self, d: Deliver, txn: Txn) -> None:
        p = d.payload
        action = str(payload_get(p, "action"))
        saga = str(payload_get(p, "saga"))
        plan = str(payload_get(p, "plan", "ok"))
        _, table, kind = _ACTIONS.get(action, (self.service, "unknown", "unknown"))
        rows = self.store.table(table)
        outcome = "rejected"
        if kind == "reserve":
            if plan != _REJECTS[action]:
                outcome = "applied"
                txn.put(table, saga, "active")
        elif kind == "charge":
            if plan != _REJECTS[action]:
                outcome = "applied"
                txn.put(table, d.msg_id, saga)  # one charge row per idempotency key
        elif kind == "cancel":
            if self.flaws.non_idempotent_compensation or rows.get(saga) == "active":
                outcome = "applied"
                txn.put(table, saga, "cancelled")
                released = int(self.store.table("counters").get("released", 0)) + 1
                txn.put("counters", "released", released)
            else:
                outcome = "noop"
        elif kind == "refund":
            mine = sorted(k for k, v in rows.items() if v == saga)
            if mine or self.flaws.non_idempotent_compensation:
                outcome = "applied"
                for k in mine:
                    txn.put(table, k, None)
            else:
                outcome = "noop"
        reply = payload_of(
            saga=saga,
            step=payload_get(p, "step"),
            phase=payload_get(p, "phase"),
            action=action,
            key=d.msg_id,
            outcome=outcome,
        )
        self.outbox_row(txn, REPLY_TOPIC, saga, f"{d.msg_id}:reply", reply)
        txn.put("reply", d.msg_id, reply)
        txn.events.append(
            CoreEvent(
                self.node_id,
                "effect",
                {
                    "service": self.service,
                    "action": action,
                    "saga": saga,
                    "step": payload_get(p, "step"),
                    "phase": payload_get(p, "phase"),
                    "key": d.msg_id,
                    "row": d.row,
                    "redelivered": d.redelivered,
                    "outcome": outcome,
                    "compensation": kind in ("cancel", "refund"),
                },
            )
        )

    def skip_dedup(self, d: Deliver) -> bool:
        """Non-idempotent compensations bypass the inbox entirely."""
        return self.flaws.non_idempotent_compensation and payload_get(d.payload, "phase") == "compensate"

    def on_duplicate(self, d: Deliver) -> None:
        reply = self.store.table("reply").get(d.msg_id)
        if reply is None:
            return
        txn = self.begin()
        self.outbox_row(txn, REPLY_TOPIC, d.key, f"{d.msg_id}:reply", reply)
        self.commit(txn)
