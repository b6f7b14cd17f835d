"""Wire format of the broker vocabulary (``cluster/core/saga_messages.py``) between nodes.

Usually a real engine's broker node is a real RabbitMQ or Tansu process and the nodes reach
it with client connections (:mod:`cluster.runtime.broker_link`).  When the broker node runs
its modelled core instead (``RayOptions.model_broker``: no broker to install, as
``splitbrain ingest`` does by default), these messages travel over the gRPC peer links like
any other.  Every field is JSON-able (a payload is ``(name, value)`` pairs), so the generic
JSON codec carries them; lists come back as tuples, as the broker bridge decodes them.
"""

from __future__ import annotations

from cluster.core.saga_messages import Ack, CommitFailed, Deliver, Publish, PublishAck, Subscribe
from cluster.runtime.codec import register_message

__all__ = ["register"]


def register() -> None:
    """Idempotent: registering the same classes again is a no-op."""
    for cls in (Publish, PublishAck, Subscribe, Deliver, Ack, CommitFailed):
        register_message(cls)
