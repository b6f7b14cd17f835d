"""Shared fixtures for the real-broker tests.

One RabbitMQ node and one Tansu broker serve the whole session (a cold RabbitMQ boot is
~5 s on a 2-core machine); tests that must own a broker (kill -9, cleanup) start their
own.  Where a broker is not installed the tests skip with the install hint, except
under CI, where scripts/install_brokers.sh must have installed it: there they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from cluster.runtime.brokers import BrokerNotInstalled, RabbitMQNode, TansuBroker


def _missing(exc: BrokerNotInstalled) -> None:
    if os.environ.get("CI"):
        raise exc
    pytest.skip(exc.line())


@pytest.fixture(scope="session")
def rabbit() -> Iterator[RabbitMQNode]:
    try:
        node = RabbitMQNode()
    except BrokerNotInstalled as exc:
        _missing(exc)
        raise
    with node:
        yield node


@pytest.fixture(scope="session")
def tansu() -> Iterator[TansuBroker]:
    try:
        broker = TansuBroker()
    except BrokerNotInstalled as exc:
        _missing(exc)
        raise
    with broker:
        yield broker


@pytest.fixture
def topic() -> str:
    """A topic/queue name no other test uses."""
    return f"t-{uuid.uuid4().hex[:8]}"
